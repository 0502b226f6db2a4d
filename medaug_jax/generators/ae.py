"""Deep fully connected autoencoder (the paper's AE): 4 hidden layers in the
encoder and in the decoder, MSE. Not conditional: a new image of class c is
the reconstruction of a training image of class c."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from medaug_jax.generators.base import MLP, OneNetwork, to_unit


class AutoEncoder(nn.Module):
  hidden: tuple
  latent: int
  out_dim: int

  def setup(self):
    self.encoder = MLP(tuple(self.hidden) + (self.latent,))
    self.decoder = MLP(tuple(reversed(self.hidden)) + (self.out_dim,))

  def __call__(self, x):
    return nn.sigmoid(self.decoder(nn.relu(self.encoder(x))))


def spread_draw(rs, rows, n):
  """n of `rows`, each used once before any is used twice: whole shuffles of
  rows, then a draw without replacement for the remainder."""
  whole, rest = divmod(n, len(rows))
  return np.concatenate([rs.permutation(rows) for _ in range(whole)]
                        + [rs.choice(rows, rest, replace=False)])


class Objective(OneNetwork):

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.model = AutoEncoder(tuple(cfg.hidden), cfg.latent, self.dim)
    self._reconstruct = jax.jit(self.model.apply)

  def init_params(self, rng, x, c):
    return self.model.init(rng, x)

  def loss(self, params, x, c, rng):
    return jnp.mean((self.model.apply(params, x) - x) ** 2, -1), {}

  def sample(self, state, rng, labels, real_images, real_labels):
    """Reconstructs training images of each asked-for class (spread_draw)."""
    rs = np.random.default_rng(np.asarray(jax.random.key_data(rng)).ravel().tolist())
    labels = np.asarray(labels)
    rows = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
      want = np.flatnonzero(labels == c)
      rows[want] = spread_draw(rs, np.flatnonzero(np.asarray(real_labels) == c), len(want))
    flat = self._reconstruct(state.params, to_unit(jnp.asarray(real_images[rows])))
    return self.to_images(flat)
