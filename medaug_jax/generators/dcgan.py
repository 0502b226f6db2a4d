"""Convolutional conditional GAN for a few hundred images per class.

G: [z, onehot(y)] -> 7x7 -> twice (nearest 2x upsampling, 3x3 convolution)
-> 28x28, GroupNorm and ReLU between them (no running statistics to carry),
tanh out. Upsampling then convolving (Odena et al., 2016) avoids transposed
convolutions' checkerboard artefacts, and their backward pass, which on
XLA:CPU took 10-13 s per layer at batch 128.
D: three convolutions (28 -> 14 -> 7) with LeakyReLU and global sum pooling,
the label entering through a projection (Miyato & Koyama, 2018), spectral
normalisation on every layer (Miyato et al., 2018). Both see DiffAugment'ed
images (ops/diffaugment.py), the standard remedy for a discriminator that
memorises a small training set. Sampling uses an EMA of G's weights.

Variants are config fields: loss 'hinge' (default), 'ns' (non-saturating)
or 'wgan-gp' (Gulrajani et al., 2017: gradient penalty weight gp_weight,
d_steps critic updates per G update, spectral normalisation usually off);
aux_weight > 0 adds ACGAN's auxiliary class loss (Odena et al., 2017) to D
and G.

dtype 'bfloat16' runs both networks' convolutions and activations in
bfloat16 (oneDNN's bfloat16 kernels on CPUs with bfloat16 arithmetic),
with float32 weights, spectral-norm vectors, GroupNorm statistics, D's
heads and the losses.
"""
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from medaug_jax.errors import MedaugError
from medaug_jax.generators.base import (Conv, GroupNorm, TwoPlayer, UpConv, condition,
                                        ranked_above)
from medaug_jax.ops import diffaugment
from medaug_jax.trainer import COMPUTE_DTYPES, masked_mean

LOSSES = ('hinge', 'ns', 'wgan-gp')


def _norm_relu(channels, dtype):
  return GroupNorm(num_groups=math.gcd(8, channels), dtype=dtype, activation='relu')


class Generator(nn.Module):
  width: int
  channels: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, c):
    w, dtype = self.width, self.dtype
    h = nn.Dense(7 * 7 * 4 * w, dtype=dtype)(jnp.concatenate([z, c], -1))
    h = _norm_relu(4 * w, dtype)(h.reshape(-1, 7, 7, 4 * w))
    for mult in (2, 1):  # 7 -> 14 -> 28
      h = UpConv(mult * w, (3, 3), padding=1, dtype=dtype)(h)
      h = _norm_relu(mult * w, dtype)(h)
    h = Conv(self.channels, (3, 3), padding=1, dtype=dtype)(h)
    return (jnp.tanh(h.astype(jnp.float32)) + 1.0) / 2.0


class Discriminator(nn.Module):
  """Returns (score per image, class logits or None)."""
  width: int
  num_classes: int
  spectral_norm: bool
  aux_classifier: bool
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, c, update_stats):
    def layer(module):
      if not self.spectral_norm:
        return module
      return lambda h: nn.SpectralNorm(module)(h, update_stats=update_stats)

    act = lambda h: nn.leaky_relu(h, 0.2)
    conv = functools.partial(Conv, padding=1, dtype=self.dtype)
    h = act(layer(conv(self.width, (3, 3)))(x))
    h = act(layer(conv(2 * self.width, (4, 4), strides=(2, 2)))(h))
    h = act(layer(conv(4 * self.width, (4, 4), strides=(2, 2)))(h))
    h = jnp.sum(h.astype(jnp.float32), axis=(1, 2))
    score = layer(nn.Dense(1))(h)[:, 0]
    score = score + jnp.sum(layer(nn.Dense(4 * self.width, use_bias=False))(c) * h, -1)
    logits = nn.Dense(self.num_classes)(h) if self.aux_classifier else None
    return score, logits


def d_terms(loss, real, fake):
  """Per-example discriminator loss of real and fake scores (without the
  gradient penalty)."""
  if loss == 'ns':
    return jax.nn.softplus(-real) + jax.nn.softplus(fake)
  if loss == 'hinge':
    return jax.nn.relu(1.0 - real) + jax.nn.relu(1.0 + fake)
  return fake - real


def g_terms(loss, fake):
  return jax.nn.softplus(-fake) if loss == 'ns' else -fake


def gradient_penalty(critic, real, fake, eps):
  """WGAN-GP: (|grad critic(x_hat)|_2 - 1)^2 per example, at x_hat = eps *
  real + (1 - eps) * fake, eps [N] in [0, 1]."""
  e = eps.reshape((-1,) + (1,) * (real.ndim - 1))
  x_hat = e * real + (1.0 - e) * fake
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
  norms = jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, -1) + 1e-12)
  return (norms - 1.0) ** 2


class Objective(TwoPlayer):
  FLAT = False

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    dtype = COMPUTE_DTYPES[cfg.get('dtype', 'float32')]
    self.g = Generator(cfg.width, self.image_shape[-1], dtype)
    self.d = Discriminator(cfg.width, num_classes, cfg.spectral_norm, cfg.aux_weight > 0, dtype)
    self.policy = diffaugment.parse(cfg.diffaugment)
    self._generate = jax.jit(self._fake)

  @staticmethod
  def check(cfg):
    if cfg.loss not in LOSSES:
      raise MedaugError(f'config.generator.loss must be one of {LOSSES}, got {cfg.loss!r}.')
    for key in ('width', 'd_steps', 'latent'):
      if isinstance(cfg[key], bool) or not isinstance(cfg[key], int) or cfg[key] < 1:
        raise MedaugError(f'config.generator.{key} must be a positive whole number, '
                          f'got {cfg[key]!r}.')
    for key in ('gp_weight', 'aux_weight'):
      if not cfg[key] >= 0:
        raise MedaugError(f'config.generator.{key} must be >= 0, got {cfg[key]!r}.')
    if not 0 <= cfg.ema < 1:
      raise MedaugError(f'config.generator.ema must be in [0, 1), got {cfg.ema!r}.')
    diffaugment.parse(cfg.diffaugment)

  def init_players(self, rng, x, c):
    kg, kd = jax.random.split(rng)
    g = self.g.init(kg, jnp.zeros((1, self.cfg.latent)), c)
    d = self.d.init(kd, 2.0 * x - 1.0, c, update_stats=False)
    return {'g': g['params'], 'd': d['params']}, {k: v for k, v in d.items() if k != 'params'}

  def _fake(self, pg, c, rng):
    z = jax.random.normal(rng, (c.shape[0], self.cfg.latent))
    return self.g.apply({'params': pg}, z, c)

  def _score(self, pd, d_vars, images, c, rng):
    """D on DiffAugment'ed images in [-1, 1]; returns (scores, logits, d_vars)."""
    x = diffaugment.diff_augment(rng, 2.0 * images - 1.0, self.policy)
    (score, logits), new = self.d.apply({'params': pd, **d_vars}, x, c, update_stats=True,
                                        mutable=list(d_vars))
    return score, logits, new

  def _aux(self, logits, c, mask):
    if logits is None:
      return 0.0
    return self.cfg.aux_weight * masked_mean(optax.softmax_cross_entropy(logits, c), mask)

  def d_loss(self, pd, pg, x, c, mask, rng, d_vars):
    k_fake, k_real, k_aug, k_eps = jax.random.split(rng, 4)
    fake = jax.lax.stop_gradient(self._fake(pg, c, k_fake))
    real_s, real_logits, d_vars = self._score(pd, d_vars, x, c, k_real)
    fake_s, _, d_vars = self._score(pd, d_vars, fake, c, k_aug)
    loss = masked_mean(d_terms(self.cfg.loss, real_s, fake_s), mask)
    if self.cfg.loss == 'wgan-gp':
      critic = lambda images: self.d.apply({'params': pd, **d_vars}, 2.0 * images - 1.0, c,
                                           update_stats=False)[0]
      eps = jax.random.uniform(k_eps, (x.shape[0],))
      loss += self.cfg.gp_weight * masked_mean(gradient_penalty(critic, x, fake, eps), mask)
    loss += self._aux(real_logits, c, mask)
    return loss, ({'d_acc': ranked_above(real_s, fake_s, mask)}, d_vars)

  def g_loss(self, pg, pd, x, c, mask, rng, d_vars):
    k_fake, k_aug = jax.random.split(rng)
    fake_s, fake_logits, _ = self._score(pd, d_vars, self._fake(pg, c, k_fake), c, k_aug)
    return masked_mean(g_terms(self.cfg.loss, fake_s), mask) + self._aux(fake_logits, c, mask), {}

  def sample(self, state, rng, labels, real_images, real_labels):
    del real_images, real_labels
    c = condition(jnp.asarray(labels), self.num_classes)
    return self._generate(self.sampling_params(state), c, rng)
