"""Measures of generated images against references that need no PyTorch:
the prdc package, closed-form MMD, scipy's sqrtm; CAS and memorisation on
known cases; the reference network's cache."""
import os

import jax
import numpy as np
import pytest
import scipy.linalg

from conftest import tiny_config
from medaug_jax import data, quality
from medaug_jax.quality import _reference, fd, kid, memorisation
from medaug_jax.quality import prdc as ours

prdc_package = pytest.importorskip('prdc')


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_prdc_matches_the_prdc_package(seed, capsys):
  rs = np.random.default_rng(seed)
  real = rs.normal(size=(120, 8))
  fake = rs.normal(size=(90, 8)) * 1.2 + 0.3
  want = prdc_package.compute_prdc(real, fake, nearest_k=5)
  got = ours.measure(real, fake)
  for key in ('precision', 'recall', 'density', 'coverage'):
    assert got[key] == pytest.approx(want[key], abs=1e-12), key


def _poly_kernel_mean(a, s, b, t, d):
  """E[(x.y/d + 1)^3] for independent x ~ N(a, s^2 I), y ~ N(b, t^2 I)."""
  mu = a * b
  m2 = (a ** 2 + s ** 2) * (b ** 2 + t ** 2)
  m3 = (a ** 3 + 3 * a * s ** 2) * (b ** 3 + 3 * b * t ** 2)
  k2 = np.sum(m2 - mu ** 2)
  k3 = np.sum(m3 - 3 * mu * m2 + 2 * mu ** 3)
  e1 = np.sum(mu)
  e2, e3 = k2 + e1 ** 2, k3 + 3 * k2 * e1 + e1 ** 3
  return e3 / d ** 3 + 3 * e2 / d ** 2 + 3 * e1 / d + 1


def test_kid_is_near_zero_for_one_gaussian_and_matches_closed_form_mmd():
  rs = np.random.default_rng(0)
  d, n = 4, 3000
  a, b = np.zeros(d), np.full(d, 0.5)
  x, x2 = rs.normal(size=(n, d)), rs.normal(size=(n, d))
  y = rs.normal(size=(n, d)) + b
  same = kid.measure(x, x2, subsets=20, subset_size=1000)
  assert abs(same['kid']) < 3 * same['kid_std'] + 1e-3
  mmd2 = (_poly_kernel_mean(a, 1, a, 1, d) + _poly_kernel_mean(b, 1, b, 1, d)
          - 2 * _poly_kernel_mean(a, 1, b, 1, d))
  shifted = kid.measure(x, y, subsets=20, subset_size=1000)
  assert shifted['kid'] == pytest.approx(mmd2, rel=0.1)
  assert shifted['kid'] > 10 * abs(same['kid'])


def test_fd_matches_scipy_sqrtm():
  rs = np.random.default_rng(3)
  for d in (2, 5):
    a, b = rs.normal(size=(50, d)), rs.normal(size=(40, d)) @ rs.normal(size=(d, d)) + 1
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    want = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
            - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))
    assert fd.measure(a, b)['fd'] == pytest.approx(want, rel=1e-6)
  assert fd.measure(a, a)['fd'] == pytest.approx(0.0, abs=1e-8)


def test_memorisation_of_copies_new_draws_and_noise():
  rs = np.random.default_rng(0)
  real = rs.normal(size=(300, 6))
  assert memorisation.measure(real, real[:100])['memorisation'] == 1.0
  assert memorisation.measure(real, real[:100])['dcr_ratio'] == 0.0
  assert memorisation.measure(real, rs.normal(size=(100, 6)) + 20)['memorisation'] == 0.0
  new = memorisation.measure(real, rs.normal(size=(2000, 6)))
  assert 0.01 < new['memorisation'] < 0.12 and 0.6 < new['dcr_ratio'] < 1.4


@pytest.fixture(scope='module')
def synthetic_ctx():
  # Width 4, not tiny_config's 1: the test holds CAS to an AUC above 0.8,
  # which a width-1 ResNet trained on 60 images does not reach (0.78).
  cfg = tiny_config('cvae', **{'classifier.epochs': 6, 'classifier.width': 4,
                               'quality.cas': True})
  ds = data.load(cfg)
  # Real-looking "generated" images: the official validation images of the
  # synthetic set, which the run's training subset does not hold.
  official = data.load_official('synthetic')
  generated = data.Split(official.val.images, official.val.labels)
  return cfg, ds, generated


def test_whole_measure_set_on_synthetic_data(synthetic_ctx, tmp_path):
  cfg, ds, generated = synthetic_ctx
  ctx = quality.Context(ds, generated, cfg, jax.random.key(0))
  out = quality.compute(quality.names_of(cfg.quality), ctx)
  for key in ('label_agreement', 'kid', 'kid_std', 'fd', 'precision', 'recall', 'density',
              'coverage', 'memorisation', 'dcr_ratio', 'cas_auc', 'cas_acc',
              'reference_test_auc', 'reference_below_floor', 'per_class'):
    assert key in out, key
  assert out['cas_auc'] > 0.8  # a classifier of real-looking images works on real ones
  assert out['label_agreement'] >= 0.9 and out['memorisation'] < 0.5
  copies = quality.Context(ds, ds.train, cfg, jax.random.key(0))
  assert quality.compute(('memorisation',), copies)['memorisation'] == 1.0
  assert set(out['per_class']) == {'0', '1'} and 'coverage' in out['per_class']['0']
  (name, draw), = ctx.pictures
  draw(str(tmp_path / name))
  assert name == 'copies.png' and os.path.getsize(tmp_path / name) > 500


def test_a_class_too_small_gets_a_reason(synthetic_ctx):
  cfg, ds, generated = synthetic_ctx
  few = data.Split(generated.images[:33], generated.labels[:33])  # class 1: 3 images
  assert np.bincount(few.labels, minlength=2)[1] < ours.MIN_IMAGES
  ctx = quality.Context(ds, few, cfg, jax.random.key(0))
  out = quality.compute(('prdc',), ctx)
  assert 'needs 6 of each' in out['per_class']['1']['reason']
  assert 'coverage' in out['per_class']['0']


def test_reference_cache_folder(tmp_path, monkeypatch):
  """The config's folder, else $MEDAUG_CACHE, else the user's cache folder
  that the compiled programs and the oneDNN wrapper use too."""
  cfg = tiny_config().quality.reference
  cfg.cache_dir = ''
  monkeypatch.setenv('MEDAUG_CACHE', str(tmp_path / 'env'))
  assert _reference.cache_root(cfg) == str(tmp_path / 'env')
  monkeypatch.delenv('MEDAUG_CACHE')
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
  assert _reference.cache_root(cfg) == str(tmp_path / 'xdg' / 'medaug_jax')
  cfg.cache_dir = str(tmp_path / 'own')
  assert _reference.cache_root(cfg) == str(tmp_path / 'own')


def test_reference_cache_is_reused_and_a_damaged_one_retrained(tmp_path, caplog, capsys):
  cfg = tiny_config().quality.reference
  cfg.cache_dir = str(tmp_path)
  first = _reference.Reference('synthetic', None, cfg)
  assert 'training the reference network' in capsys.readouterr().out
  again = _reference.Reference('synthetic', None, cfg)
  assert 'training' not in capsys.readouterr().out and again.scores == first.scores
  images = data.load_official('synthetic').test.images[:10]
  np.testing.assert_allclose(again.features(images), first.features(images), rtol=1e-6)
  (folder,) = [os.path.join(tmp_path, 'reference', f)
               for f in os.listdir(tmp_path / 'reference')]
  for root, _, names in os.walk(folder):
    for n in names:
      if 'state' in root:
        open(os.path.join(root, n), 'wb').write(b'broken')
  with caplog.at_level('WARNING'):
    _reference.Reference('synthetic', None, cfg)
  assert 'training it again' in caplog.text or 'cannot be read back' in caplog.text
  assert 'training the reference network' in capsys.readouterr().out
  cfg.auc_floor = 1.01  # flags the same network: no training
  assert _reference.Reference('synthetic', None, cfg).below_floor
  assert 'training' not in capsys.readouterr().out
