"""Frechet distance between Gaussians fitted to reference features (FID's
formula on our features): |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^1/2).
Biased upwards at small n (it shrinks as samples grow, Chong & Forsyth 2020):
compare it only between runs of the same sizes, and prefer KID."""
import numpy as np

MIN_IMAGES = 2


def _sqrt_psd(s):
  w, v = np.linalg.eigh(s)
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet(mu1, s1, mu2, s2):
  # Tr (S1 S2)^1/2 = Tr (S1^1/2 S2 S1^1/2)^1/2, a symmetric PSD matrix: its
  # eigenvalues are real, which sqrtm of the unsymmetric S1 S2 does not promise.
  root = _sqrt_psd(s1)
  middle = np.linalg.eigvalsh(root @ s2 @ root)
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
               - 2 * np.sum(np.sqrt(np.clip(middle, 0, None))))


def measure(real, generated):
  return {'fd': frechet(real.mean(0), np.cov(real, rowvar=False), generated.mean(0),
                        np.cov(generated, rowvar=False))}
