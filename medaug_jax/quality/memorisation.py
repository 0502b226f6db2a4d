"""Copies of training images: a privacy question in medicine.

The rule, on reference features: a real training image's typical closeness is
its distance to its nearest *other* training image; a generated image is
counted as a copy when its distance to its nearest training image (its DCR) is
below the 5th percentile of those real-to-real distances. `memorisation` is
the fraction of generated images counted so (about 0.05 for new images drawn
like the real ones, 1 for copies, 0 for images unlike any), and `dcr_ratio`
the median DCR over the median real-to-real distance (< 1: closer to the
training images than they are to each other). copies.png shows the most
copy-like generated images beside their nearest training images.
"""
import numpy as np

from medaug_jax.quality.prdc import distances

MIN_IMAGES = 2
USES_REFERENCE = True  # nearest neighbours in its feature space
PERCENTILE = 5
SHOWN = 8


def _nearest(real, generated):
  d = distances(generated, real)
  own = distances(real, real)
  np.fill_diagonal(own, np.inf)
  return d.min(1), d.argmin(1), own.min(1)


def measure(real, generated):
  dcr, _, real_nn = _nearest(real, generated)
  threshold = np.percentile(real_nn, PERCENTILE)
  return {'memorisation': float((dcr < threshold).mean()),
          'dcr_ratio': float(np.median(dcr) / max(np.median(real_nn), 1e-12))}


def compute_pairs(real, generated, shown=SHOWN):
  """(generated index, nearest real index, DCR) of the most copy-like."""
  dcr, nearest, _ = _nearest(real, generated)
  order = np.argsort(dcr)[:shown]
  return [(int(i), int(nearest[i]), float(dcr[i])) for i in order]


def picture(ctx):
  """('copies.png', draw(path)): the most copy-like generated images (top
  row) above their nearest training images, with their DCR."""
  from medaug_jax.pictures import image_pairs  # pylint: disable=g-import-not-at-top
  pairs = compute_pairs(ctx.real_features, ctx.generated_features)
  return 'copies.png', lambda path: image_pairs(
      path, [ctx.generated.images[g] for g, _, _ in pairs],
      [ctx.dataset.train.images[r] for _, r, _ in pairs],
      [f'DCR {d:.2f}' for _, _, d in pairs], ('generated', 'nearest real'))
