"""Precision and recall (Kynkaanniemi et al., 2019), density and coverage
(Naeem et al., 2020) on reference features, with k = 5 nearest neighbours.

Each real image's neighbourhood is the ball reaching its k-th nearest other
real image (generated likewise). precision: the fraction of generated images
inside some real ball (fidelity); recall: of real images inside some generated
ball (diversity); density: how many real balls hold a generated image, /k,
averaged (fidelity, robust to real outliers); coverage: the fraction of real
balls that hold a generated image (diversity, robust to generated outliers).
"""
import numpy as np

K = 5
MIN_IMAGES = K + 1


def distances(a, b):
  d2 = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T
  return np.sqrt(np.clip(d2, 0, None))


def kth_neighbour(x, k=K):
  """Distance from each row to its k-th nearest other row."""
  return np.sort(distances(x, x), axis=1)[:, k]


def measure(real, generated, k=K):
  real_r, fake_r = kth_neighbour(real, k), kth_neighbour(generated, k)
  d = distances(real, generated)  # [real, generated]
  inside_real = d < real_r[:, None]
  return {'precision': float(inside_real.any(0).mean()),
          'recall': float((d < fake_r[None, :]).any(1).mean()),
          'density': float(inside_real.sum(0).mean() / k),
          'coverage': float((d.min(1) < real_r).mean())}
