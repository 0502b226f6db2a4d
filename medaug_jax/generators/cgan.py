"""Conditional GAN (the paper's cGAN): the label is fed to G and D, 3 hidden
layers each, non-saturating loss; one D and one G update per jitted step."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from medaug_jax.generators import register
from medaug_jax.generators.common import MLP, SingleLoss, condition, to_unit
from medaug_jax.trainer import TrainState, masked_mean


class Generator(nn.Module):
  hidden: tuple
  out_dim: int

  @nn.compact
  def __call__(self, z, c):
    h = MLP(tuple(self.hidden) + (self.out_dim,), act=lambda v: nn.leaky_relu(v, 0.2))(
        jnp.concatenate([z, c], -1))
    return (jnp.tanh(h) + 1.0) / 2.0  # pixels in [0, 1]


class Discriminator(nn.Module):
  """D(x, y) = w.h(x) + <embed(y), h(x)>: the label enters through a
  projection (Miyato & Koyama, 2018), which on a few hundred images makes D,
  and so G, use the label where plain concatenation let G ignore it."""
  hidden: tuple

  @nn.compact
  def __call__(self, x, c):
    act = lambda v: nn.leaky_relu(v, 0.2)
    h = act(MLP(tuple(self.hidden), act=act)(2.0 * x - 1.0))
    projection = jnp.sum(nn.Dense(self.hidden[-1], use_bias=False)(c) * h, -1)
    return nn.Dense(1)(h)[:, 0] + projection


@register('cgan')
class CGAN(SingleLoss):

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.g = Generator(tuple(cfg.hidden), self.dim)
    self.d = Discriminator(tuple(reversed(cfg.hidden)))
    self._generate = jax.jit(lambda p, z, c: self.g.apply(p, z, c))

  def init(self, rng, images, labels):
    kg, kd = jax.random.split(rng)
    c = condition(labels[:1], self.num_classes)
    params = {'g': self.g.init(kg, jnp.zeros((1, self.cfg.latent)), c),
              'd': self.d.init(kd, to_unit(images[:1]), c)}
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state={k: self.tx.init(v) for k, v in params.items()},
                      model_state={})

  def _update(self, params, opt_state, grads):
    updates, opt_state = self.tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  def train_step(self, state, images, labels, mask, rng):
    x, c = to_unit(images), condition(labels, self.num_classes)
    kz1, kz2 = jax.random.split(rng)
    p = state.params

    def d_loss(pd):
      fake = self.g.apply(p['g'], jax.random.normal(kz1, (x.shape[0], self.cfg.latent)), c)
      real_logit = self.d.apply(pd, x, c)
      fake_logit = self.d.apply(pd, jax.lax.stop_gradient(fake), c)
      per = (optax.sigmoid_binary_cross_entropy(real_logit, jnp.ones_like(real_logit))
             + optax.sigmoid_binary_cross_entropy(fake_logit, jnp.zeros_like(fake_logit)))
      return masked_mean(per, mask), masked_mean(nn.sigmoid(real_logit), mask)

    (ld, d_real), gd = jax.value_and_grad(d_loss, has_aux=True)(p['d'])
    pd, od = self._update(p['d'], state.opt_state['d'], gd)

    def g_loss(pg):
      fake = self.g.apply(pg, jax.random.normal(kz2, (x.shape[0], self.cfg.latent)), c)
      logit = self.d.apply(pd, fake, c)
      return masked_mean(optax.sigmoid_binary_cross_entropy(logit, jnp.ones_like(logit)), mask)

    lg, gg = jax.value_and_grad(g_loss)(p['g'])
    pg, og = self._update(p['g'], state.opt_state['g'], gg)
    return (state.replace(step=state.step + 1, params={'g': pg, 'd': pd},
                          opt_state={'g': og, 'd': od}),
            {'d_loss': ld, 'g_loss': lg, 'd_real': d_real})

  def sample(self, state, rng, labels, real_images, real_labels):
    del real_images, real_labels
    z = jax.random.normal(rng, (len(labels), self.cfg.latent))
    return self.to_images(self._generate(state.params['g'], z,
                                         condition(jnp.asarray(labels), self.num_classes)))
