"""Classic augmentation: each transform keeps shape, dtype and range and is
the identity at zero strength; methods combine; runs resume exactly with it."""
import json

import jax
import ml_collections
import numpy as np
import pytest

from conftest import tiny_config
from medaug_jax import config_lib, grid, interrupt, run, transforms
from medaug_jax.errors import MedaugError
from test_grid import tiny_grid

ZERO = dict(crop_pad=0, flip=0.0, rotate=0.0, scale=0.0, brightness=0.0, contrast=0.0)


def _params(**strengths):
  return ml_collections.ConfigDict({**ZERO, **strengths})


def _images(channels):
  rs = np.random.default_rng(channels)
  return rs.integers(0, 256, (6, 28, 28, channels), dtype=np.uint8)


@pytest.mark.parametrize('channels', [1, 3])
@pytest.mark.parametrize('name,strength', [
    ('crop', dict(crop_pad=3)), ('flip', dict(flip=1.0)), ('affine', dict(rotate=20.0)),
    ('affine', dict(scale=0.2)), ('intensity', dict(brightness=0.3)),
    ('intensity', dict(contrast=0.5))])
def test_each_transform_keeps_shape_and_range_and_is_identity_at_zero(name, strength, channels):
  x = _images(channels).astype(np.float32) / 255
  key = jax.random.key(0)
  for params, same in ((_params(), True), (_params(**strength), False)):
    y = np.asarray(jax.vmap(lambda k, im, p=params: transforms.TRANSFORMS[name](k, im, p))(
        jax.random.split(key, len(x)), x))
    assert y.shape == x.shape and y.dtype == np.float32
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert np.array_equal(y, x) == same, (name, strength)


def test_standard_policy_is_seeded_and_zero_strength_is_the_identity():
  images = _images(3)
  p = config_lib.default_config().classifier.augment_params
  a = transforms.augment('standard', p, jax.random.key(1), images)
  b = transforms.augment('standard', p, jax.random.key(1), images)
  c = transforms.augment('standard', p, jax.random.key(2), images)
  assert np.array_equal(a, b) and not np.array_equal(a, c)
  assert a.shape == images.shape and float(a.min()) >= 0 and float(a.max()) <= 1
  same = transforms.augment('standard', _params(), jax.random.key(1), images)
  np.testing.assert_array_equal(np.asarray(same), images / np.float32(255))
  # A flip with probability 1 mirrors every image.
  flipped = transforms.augment('standard', _params(flip=1.0), jax.random.key(3), images)
  np.testing.assert_array_equal(np.asarray(flipped), images[:, :, ::-1] / np.float32(255))


def test_combined_and_ratio_methods():
  g = tiny_grid(methods=('none', 'classic', 'cvae+classic'))
  c = grid.cell_config(g, 'synthetic', 'cvae+classic')
  assert (c.method, c.classifier.augment, c.generator.latent) == ('cvae+classic', 'standard', 4)
  assert grid.cell_config(g, 'synthetic', 'classic').classifier.augment == 'standard'
  assert grid.cell_config(g, 'synthetic', 'none').classifier.augment == 'none'
  g.ratios = (0.5, 2)
  # The larger ratio runs first: the smaller one takes a subset of its images.
  assert grid.cells(g) == [('synthetic', m) for m in
                           ('none', 'classic', 'cvae+classic@2', 'cvae+classic@0.5')]
  assert grid.cell_config(g, 'synthetic', 'cvae+classic@2').generator.ratio == 2.0
  g.ratios = (1, 0)
  with pytest.raises(MedaugError, match='config.ratios must all be > 0'):
    grid.cells(g)
  with pytest.raises(MedaugError, match='ratio'):
    run.validate(tiny_config('cvae', **{'generator.ratio': -1.0}))


def test_ratio_sets_how_many_images_are_generated(tmp_path):
  assert config_lib.method_config('cvae@0.5').generator.ratio == 0.5
  cfg = tiny_config('cvae', method='cvae@0.5', **{'generator.ratio': 0.5})
  res = run.train_and_evaluate(cfg, str(tmp_path))
  # 48 real images in 2 classes: half of 24 per class.
  assert res['sizes']['generated'] == 24 and res['method'] == 'cvae@0.5'


def test_resume_mid_run_with_augmentation_is_exact(tmp_path, monkeypatch):
  cfg = tiny_config(**{'classifier.epochs': 3, 'classifier.augment': 'standard'})
  ref = run.train_and_evaluate(cfg, str(tmp_path / 'ref'))
  calls = {'n': 0}

  def requested():  # 3 steps per epoch: stop before epoch 2's last step
    calls['n'] += 1
    return 'SIGTERM' if calls['n'] == 6 else None

  monkeypatch.setattr(interrupt, 'requested', requested)
  with pytest.raises(interrupt.Interrupted):
    run.train_and_evaluate(cfg, str(tmp_path / 'w'))
  monkeypatch.setattr(interrupt, 'requested', lambda: None)
  resumed = run.train_and_evaluate(cfg, str(tmp_path / 'w'))
  for k in ('selected', 'best_test', 'last'):
    assert resumed[k] == ref[k]
  losses = lambda w: [json.loads(l)['loss'] for l in open(tmp_path / w / 'metrics.jsonl')]
  assert losses('w') == losses('ref')
  # Augmentation is on: the same run without it trains on other batches.
  run.train_and_evaluate(tiny_config(**{'classifier.epochs': 3}), str(tmp_path / 'p'))
  assert losses('p') != losses('ref')
