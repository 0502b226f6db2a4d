"""Conditional GAN (the paper's cGAN): the label is fed to G and D, 3 hidden
layers each, non-saturating loss; one D and one G update per jitted step."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from medaug_jax.generators.base import MLP, TwoPlayer, condition, ranked_above
from medaug_jax.trainer import masked_mean


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


def _bce(logits, target):
  return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target))


class Objective(TwoPlayer):

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.g = Generator(tuple(cfg.hidden), self.dim)
    self.d = Discriminator(tuple(reversed(cfg.hidden)))
    self._generate = jax.jit(self._fake)

  def init_players(self, rng, x, c):
    kg, kd = jax.random.split(rng)
    return {'g': self.g.init(kg, jnp.zeros((1, self.cfg.latent)), c),
            'd': self.d.init(kd, x, c)}, {}

  def _fake(self, pg, c, rng):
    return self.g.apply(pg, jax.random.normal(rng, (c.shape[0], self.cfg.latent)), c)

  def d_loss(self, pd, pg, x, c, mask, rng, d_vars):
    fake = jax.lax.stop_gradient(self._fake(pg, c, rng))
    real_logit, fake_logit = self.d.apply(pd, x, c), self.d.apply(pd, fake, c)
    per = _bce(real_logit, 1.0) + _bce(fake_logit, 0.0)
    return masked_mean(per, mask), ({'d_real': masked_mean(nn.sigmoid(real_logit), mask),
                                     'd_acc': ranked_above(real_logit, fake_logit, mask)},
                                    d_vars)

  def g_loss(self, pg, pd, x, c, mask, rng, d_vars):
    return masked_mean(_bce(self.d.apply(pd, self._fake(pg, c, rng), c), 1.0), mask), {}

  def sample(self, state, rng, labels, real_images, real_labels):
    del real_images, real_labels
    c = condition(jnp.asarray(labels), self.num_classes)
    return self.to_images(self._generate(state.params['g'], c, rng))
