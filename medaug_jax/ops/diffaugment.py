"""DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient
GAN Training", NeurIPS 2020): the same random, differentiable transforms on
the real and the generated images before the discriminator, so that D cannot
memorise a few hundred real images and G still gets gradients through them.

The three policies of the paper, on NHWC images in [-1, 1], each draw per
image: 'color' (brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]),
'translation' (shift by up to 1/8 of the size, zeros shifted in) and
'cutout' (a zeroed square of half the size at a random place).
"""
import jax
import jax.numpy as jnp

from medaug_jax.errors import MedaugError


def color(key, x):
  kb, ks, kc = jax.random.split(key, 3)
  n = x.shape[0]
  x = x + jax.random.uniform(kb, (n, 1, 1, 1)) - 0.5
  mean = x.mean(axis=3, keepdims=True)
  x = (x - mean) * jax.random.uniform(ks, (n, 1, 1, 1), maxval=2.0) + mean
  mean = x.mean(axis=(1, 2, 3), keepdims=True)
  return (x - mean) * (jax.random.uniform(kc, (n, 1, 1, 1)) + 0.5) + mean


def translation(key, x, ratio=0.125):
  n, h, w, _ = x.shape
  sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  shifts = jax.random.randint(key, (n, 2), jnp.array([-sh, -sw]), jnp.array([sh + 1, sw + 1]))
  padded = jnp.pad(x, ((0, 0), (sh, sh), (sw, sw), (0, 0)))
  return jax.vmap(lambda img, d: jax.lax.dynamic_slice(
      img, (sh - d[0], sw - d[1], 0), (h, w, img.shape[-1])))(padded, shifts)


def cutout(key, x, ratio=0.5):
  n, h, w, _ = x.shape
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  # The square's top-left corner; it may hang over the edge, as in the paper.
  corner = jax.random.randint(key, (n, 2), jnp.array([-(ch // 2), -(cw // 2)]),
                              jnp.array([h - ch // 2, w - cw // 2]))
  rows = jnp.arange(h)[None, :, None]
  cols = jnp.arange(w)[None, None, :]
  inside = ((rows >= corner[:, :1, None]) & (rows < corner[:, :1, None] + ch)
            & (cols >= corner[:, 1:, None]) & (cols < corner[:, 1:, None] + cw))
  return x * (~inside)[..., None].astype(x.dtype)


POLICIES = {'color': color, 'translation': translation, 'cutout': cutout}


def parse(policy):
  """'color,translation,cutout' -> the names, checked ('' -> none)."""
  names = tuple(p.strip() for p in policy.split(',') if p.strip())
  unknown = [n for n in names if n not in POLICIES]
  if unknown:
    raise MedaugError(f'unknown config.generator.diffaugment {unknown}; choose from: '
                      + ', '.join(POLICIES))
  return names


def diff_augment(key, x, names):
  for k, name in zip(jax.random.split(key, max(len(names), 1)), names):
    x = POLICIES[name](k, x)
  return x
