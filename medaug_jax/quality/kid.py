"""Kernel Inception Distance (Binkowski et al., 2018) on reference features:
the unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y/d + 1)^3,
averaged over random subsets (`kid`), with its std over them (`kid_std`).
Unbiased, so it is the headline at these sample sizes (hundreds of images),
where FD is biased upwards."""
import numpy as np

MIN_IMAGES = 2
SUBSETS = 100
SUBSET_SIZE = 1000


def mmd2_unbiased(x, y):
  d = x.shape[1]
  kxx = (x @ x.T / d + 1) ** 3
  kyy = (y @ y.T / d + 1) ** 3
  kxy = (x @ y.T / d + 1) ** 3
  m, n = len(x), len(y)
  return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
          - 2 * kxy.mean())


def measure(real, generated, subsets=SUBSETS, subset_size=SUBSET_SIZE, seed=0):
  rs = np.random.default_rng(seed)
  size = min(subset_size, len(real), len(generated))
  values = [mmd2_unbiased(real[rs.choice(len(real), size, replace=False)],
                          generated[rs.choice(len(generated), size, replace=False)])
            for _ in range(subsets)]
  return {'kid': float(np.mean(values)), 'kid_std': float(np.std(values))}
