"""Pieces the fully connected generators share."""
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from medaug_jax.trainer import TrainState, masked_mean


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


class SingleLoss:
  """An objective with one network, one Adam and one loss function.

  Subclasses set self.model and define loss(params, x, y, rng) -> per-example
  loss, aux metrics (per-example).
  """
  model: nn.Module

  def __init__(self, cfg, num_classes, image_shape):
    self.cfg = cfg
    self.num_classes = num_classes
    self.image_shape = tuple(image_shape)
    self.dim = int(jnp.prod(jnp.array(image_shape)))
    self.tx = optax.adam(cfg.lr, b1=cfg.b1)

  def init_params(self, rng, x, c):
    raise NotImplementedError

  def init(self, rng, images, labels):
    params = self.init_params(rng, to_unit(images[:1]), condition(labels[:1], self.num_classes))
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=self.tx.init(params), model_state={})

  def train_step(self, state, images, labels, mask, rng):
    x, c = to_unit(images), condition(labels, self.num_classes)

    def loss_fn(params):
      per_example, aux = self.loss(params, x, c, rng)
      return masked_mean(per_example, mask), {k: masked_mean(v, mask) for k, v in aux.items()}

    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    return (state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state),
            {'loss': loss, **aux})

  def to_images(self, flat):
    return flat.reshape((-1,) + self.image_shape)
