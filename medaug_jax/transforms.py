"""Classic augmentation on the device, inside the classifier's jitted step.

`config.classifier.augment` names a policy (POLICIES): 'none' (the paper) or
'standard' (random crop after zero padding, left-right flip, small rotation
and zoom, brightness and contrast jitter). The strengths are
`config.classifier.augment_params`; each transform is the identity at zero
strength. The transforms are DeepMind's dm-pix, applied per image under vmap;
the random draws come from the train step's key, itself derived from
(seed, epoch, step), so a resumed run draws the same augmentations.
"""
import math

import dm_pix as pix
import jax
import jax.numpy as jnp

from medaug_jax.errors import MedaugError

# Policy -> the transforms it applies, in order.
POLICIES = {
    'none': (),
    'standard': ('crop', 'flip', 'affine', 'intensity'),
}
# augment_params key -> (low, high) of its valid range.
RANGES = {'crop_pad': (0, 14), 'flip': (0.0, 1.0), 'rotate': (0.0, 180.0),
          'scale': (0.0, 0.5), 'brightness': (0.0, 1.0), 'contrast': (0.0, 1.0)}


def check(policy, params):
  """One line naming the key for an unknown policy or a value out of range."""
  if policy not in POLICIES:
    raise MedaugError(f'unknown config.classifier.augment {policy!r}; choose one of: '
                      + ', '.join(POLICIES))
  for key, (low, high) in RANGES.items():
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
      raise MedaugError(f'config.classifier.augment_params.{key} must be in [{low}, {high}], '
                        f'got {value!r}.')
  if not isinstance(params.crop_pad, int):
    raise MedaugError('config.classifier.augment_params.crop_pad must be a whole number of '
                      f'pixels, got {params.crop_pad!r}.')


def crop(key, x, p):
  """Zero-pads by crop_pad pixels and crops back at a random offset (a shift)."""
  if not p.crop_pad:
    return x
  padded = jnp.pad(x, ((p.crop_pad, p.crop_pad), (p.crop_pad, p.crop_pad), (0, 0)))
  return pix.random_crop(key, padded, x.shape)


def flip(key, x, p):
  return pix.random_flip_left_right(key, x, probability=p.flip) if p.flip else x


def affine(key, x, p):
  """Rotation by up to `rotate` degrees and zoom by up to `scale`, about the
  image centre, bilinear, zeros outside."""
  if not (p.rotate or p.scale):
    return x
  k_angle, k_zoom = jax.random.split(key)
  angle = jax.random.uniform(k_angle, (), minval=-p.rotate, maxval=p.rotate) * math.pi / 180
  zoom = jax.random.uniform(k_zoom, (), minval=1 - p.scale, maxval=1 + p.scale)
  cos, sin = jnp.cos(angle) / zoom, jnp.sin(angle) / zoom
  # Output pixel o samples the input at m @ (o - c) + c (channels untouched).
  m = jnp.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
  centre = jnp.array([(x.shape[0] - 1) / 2, (x.shape[1] - 1) / 2, 0.0])
  return pix.affine_transform(x, m, offset=centre - m @ centre, order=1, mode='constant',
                              cval=0.0)


def intensity(key, x, p):
  """Brightness shift by up to `brightness`, contrast factor in 1 +- `contrast`."""
  k_b, k_c = jax.random.split(key)
  if p.brightness:
    x = pix.random_brightness(k_b, x, p.brightness)
  if p.contrast:
    x = pix.random_contrast(k_c, x, 1 - p.contrast, 1 + p.contrast)
  return jnp.clip(x, 0.0, 1.0)


TRANSFORMS = {'crop': crop, 'flip': flip, 'affine': affine, 'intensity': intensity}


def augment(policy, params, rng, images):
  """uint8 [N, H, W, C] -> float32 in [0, 1], each image transformed with its
  own draws. The caller decides whether to call this at all: policy 'none'
  keeps the paper's exact uint8 -> float path."""
  fns = [TRANSFORMS[name] for name in POLICIES[policy]]

  def one(key, x):
    for k, fn in zip(jax.random.split(key, len(fns)), fns):
      x = fn(k, x, params)
    return x

  x = images.astype(jnp.float32) / 255.0
  return jax.vmap(one)(jax.random.split(rng, x.shape[0]), x)
