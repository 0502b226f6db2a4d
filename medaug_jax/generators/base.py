"""What every generator objective shares: the trainer's protocol, one
network with one loss, and two players (a generator and a discriminator).

An objective is what the generic trainer (medaug_jax.trainer) trains:
  init(rng, images, labels) -> TrainState
  train_step(state, images, labels, mask, rng) -> (state, {name: scalar})
and what the generator phase samples from:
  sample(state, rng, labels, real_images, real_labels) -> float images in [0, 1]
Images arrive as stored (uint8 NHWC); `mask` marks the real rows of a batch.
"""
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from medaug_jax.trainer import TrainState, masked_mean, optimizer_update


class MLP(nn.Module):
  """Dense layers with `act` between them; the last layer is linear."""
  features: Sequence[int]
  act: Callable = nn.relu

  @nn.compact
  def __call__(self, x):
    for i, f in enumerate(self.features):
      x = nn.Dense(f)(x)
      if i + 1 < len(self.features):
        x = self.act(x)
    return x


def to_unit(images):
  """uint8 NHWC -> flat float pixels in [0, 1]."""
  return images.reshape(images.shape[0], -1).astype(jnp.float32) / 255.0


def condition(labels, num_classes):
  return jax.nn.one_hot(labels, num_classes)


def adam(cfg):
  return optax.adam(cfg.lr, b1=cfg.b1)


class Objective:
  """The configuration every generator objective keeps."""

  def __init__(self, cfg, num_classes, image_shape):
    self.cfg = cfg
    self.num_classes = num_classes
    self.image_shape = tuple(image_shape)
    self.dim = int(np.prod(image_shape))

  def to_images(self, flat):
    return flat.reshape((-1,) + self.image_shape)

  def _inputs(self, images, labels):
    return to_unit(images), condition(labels, self.num_classes)


class OneNetwork(Objective):
  """One network, one Adam, one loss.

  Subclasses define init_params(rng, x, c) and
  loss(params, x, c, rng) -> (per-example loss, {name: per-example value}).
  """

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.tx = adam(cfg)

  def init(self, rng, images, labels):
    params = self.init_params(rng, *self._inputs(images[:1], labels[:1]))
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=self.tx.init(params), model_state={})

  def train_step(self, state, images, labels, mask, rng):
    x, c = self._inputs(images, labels)

    def loss_fn(params):
      per_example, aux = self.loss(params, x, c, rng)
      return masked_mean(per_example, mask), {k: masked_mean(v, mask) for k, v in aux.items()}

    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    return state.apply_gradients(self.tx, grads), {'loss': loss, **aux}


class TwoPlayer(Objective):
  """A generator G and a discriminator (critic) D, each with its own Adam.

  One train step makes `cfg.d_steps` D updates (WGAN-GP's n_critic; 1 for the
  paper's cGAN), each with fresh noise on the step's real batch, then one G
  update against the updated D. Subclasses define
    init_players(rng, x, c) -> {'g': params, 'd': params}
    d_loss(pd, pg, x, c, mask, rng) -> (scalar, {name: scalar})
    g_loss(pg, pd, x, c, mask, rng) -> (scalar, {name: scalar})
  """
  PLAYERS = ('g', 'd')

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.tx = adam(cfg)
    self.d_steps = int(cfg.get('d_steps', 1))

  def init(self, rng, images, labels):
    params = self.init_players(rng, *self._inputs(images[:1], labels[:1]))
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state={k: self.tx.init(params[k]) for k in self.PLAYERS},
                      model_state={})

  def train_step(self, state, images, labels, mask, rng):
    x, c = self._inputs(images, labels)
    d_rng, g_rng = jax.random.split(rng)
    pg, pd, od = state.params['g'], state.params['d'], state.opt_state['d']
    for k in range(self.d_steps):
      (ld, d_aux), grads = jax.value_and_grad(self.d_loss, has_aux=True)(
          pd, pg, x, c, mask, jax.random.fold_in(d_rng, k))
      pd, od = optimizer_update(self.tx, grads, od, pd)
    (lg, g_aux), grads = jax.value_and_grad(self.g_loss, has_aux=True)(
        pg, pd, x, c, mask, g_rng)
    pg, og = optimizer_update(self.tx, grads, state.opt_state['g'], pg)
    return (state.replace(step=state.step + 1, params={'g': pg, 'd': pd},
                          opt_state={'g': og, 'd': od}),
            {'d_loss': ld, 'g_loss': lg, **d_aux, **g_aux})
