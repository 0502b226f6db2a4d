"""Data loading, the paper's subset protocol and bad-input handling."""
import io
import os
import urllib.request

import numpy as np
import pytest

from medaug_jax import data
from medaug_jax.errors import MedaugError


def test_table1_sizes_breast(shared_data):
  ds = data.load_official('breastmnist', shared_data)
  sub = data.paper_subset(ds, seed=0)
  assert sub.sizes() == {'train': 546, 'val': 78, 'test': 156}  # official splits kept
  assert sub.train.images.shape[1:] == (28, 28, 1) and sub.train.images.dtype == np.uint8


def test_table1_sizes_pneumonia(shared_data):
  ds = data.load_official('pneumoniamnist', shared_data)
  sub = data.paper_subset(ds, seed=0)
  assert sub.sizes() == {'train': 300, 'val': 34, 'test': 624}
  assert np.bincount(sub.train.labels).tolist() == [150, 150]
  assert np.bincount(sub.val.labels).tolist() == [17, 17]
  # Train and val are disjoint draws from the train+val pool.
  key = lambda a: {r.tobytes() for r in a.reshape(len(a), -1)}
  assert not key(sub.train.images) & key(sub.val.images)
  # Seeded: same seed, same subset; other seed, other subset.
  again = data.paper_subset(ds, seed=0)
  other = data.paper_subset(ds, seed=1)
  assert np.array_equal(again.train.images, sub.train.images)
  assert not np.array_equal(other.train.images, sub.train.images)
  assert np.array_equal(sub.test.labels, ds.test.labels)


def test_retina_subset_keeps_rare_classes_disjoint(shared_data, caplog):
  """RetinaMNIST: colour, five ordinal grades, two grades below 150 + val."""
  ds = data.load_official('retinamnist', shared_data)
  assert ds.task == 'ordinal-regression' and ds.channels == 3 and ds.num_classes == 5
  with caplog.at_level('WARNING'):
    sub = data.paper_subset(ds, seed=0)
  assert sub.sizes() == {'train': 639, 'val': 74, 'test': 400}
  assert np.bincount(sub.train.labels).tolist() == [150, 125, 150, 150, 64]
  assert np.bincount(sub.val.labels).tolist() == [17, 15, 17, 17, 8]
  assert 'class 1 has only 140 images' in caplog.text
  key = lambda a: {r.tobytes() for r in a.reshape(len(a), -1)}
  assert not key(sub.train.images) & key(sub.val.images)


def test_multi_label_subset_says_how_to_run_it():
  splits = data.synthetic_splits(1)
  multi = data.Dataset('chestmnist', 'multi-label, binary-class', ('a', 'b'),
                       **{k: data.Split(v.images, np.stack([v.labels, v.labels], 1))
                          for k, v in splits.items()})
  with pytest.raises(MedaugError, match='multi-label.*--config.data.subset=false'):
    data.paper_subset(multi, seed=0)


def test_md5_mismatch_warns_and_loads(shared_data, caplog):
  with caplog.at_level('WARNING'):
    ds = data.load_official('breastmnist', shared_data)
  assert 'MD5' in caplog.text and len(ds.train) == 546


@pytest.mark.parametrize('name', ['synthetic', 'synthetic_rgb'])
def test_synthetic(name):
  a, b = data.load_official(name), data.load_official(name)
  assert np.array_equal(a.train.images, b.train.images)
  assert a.train.images.shape[1:] == (28, 28, 3 if name.endswith('rgb') else 1)
  means = [a.train.images[a.train.labels == c].mean(0) for c in range(2)]
  assert np.abs(means[0].astype(float) - means[1]).mean() > 5  # classes differ


def test_unknown_dataset():
  with pytest.raises(MedaugError, match='unknown dataset'):
    data.load_official('nosuchmnist')


def _write(path, **arrays):
  np.savez(path, **arrays)


def _good_arrays(n=20, c=1):
  rng = np.random.default_rng(0)
  shape = (n, 28, 28) if c == 1 else (n, 28, 28, 3)
  out = {}
  for s in ('train', 'val', 'test'):
    out[f'{s}_images'] = rng.integers(0, 255, shape, dtype=np.uint8)
    out[f'{s}_labels'] = (np.arange(n) % 2).astype(np.uint8)[:, None]
  return out


def test_local_file_with_other_md5_is_used(tmp_path):
  _write(tmp_path / 'breastmnist.npz', **_good_arrays())
  ds = data.load_official('breastmnist', str(tmp_path))
  assert len(ds.train) == 20 and ds.task == 'binary-class'


@pytest.mark.parametrize('mutate,match', [
    (lambda a: a.pop('val_labels'), "no array 'val_labels'"),
    (lambda a: a.update(train_images=np.zeros((20, 32, 32), np.uint8)), 'expected N x 28 x 28'),
    (lambda a: a.update(train_labels=np.zeros((19, 1), np.uint8)), 'for 20 images'),
    (lambda a: a.update(test_labels=np.full((20, 1), 7, np.uint8)), 'outside 0..1'),
    (lambda a: a.update(train_images=np.zeros((20, 28, 28, 3), np.uint8)), 'channels'),
])
def test_bad_arrays(tmp_path, mutate, match):
  arrays = _good_arrays()
  mutate(arrays)
  _write(tmp_path / 'breastmnist.npz', **arrays)
  with pytest.raises(MedaugError, match=match):
    data.load_official('breastmnist', str(tmp_path))


def test_corrupt_and_truncated_npz(tmp_path):
  path = tmp_path / 'breastmnist.npz'
  path.write_bytes(b'this is not a zip file')
  with pytest.raises(MedaugError, match='not a readable npz'):
    data.load_official('breastmnist', str(tmp_path))
  _write(path, **_good_arrays())
  blob = path.read_bytes()
  path.write_bytes(blob[:len(blob) // 2])
  with pytest.raises(MedaugError, match='not a readable npz'):
    data.load_official('breastmnist', str(tmp_path))


def test_class_without_images(tmp_path):
  arrays = _good_arrays()
  arrays['train_labels'][:] = 1
  _write(tmp_path / 'breastmnist.npz', **arrays)
  from conftest import tiny_config
  cfg = tiny_config(dataset='breastmnist', data_root=str(tmp_path))
  with pytest.raises(MedaugError, match='no training images for class'):
    data.load(cfg)


def test_offline_download_leaves_no_file(tmp_path, monkeypatch):
  def offline(*a, **k):
    raise OSError('network is unreachable')
  monkeypatch.setattr(urllib.request, 'urlopen', offline)
  with pytest.raises(MedaugError, match='could not download.*put it at'):
    data.load_official('breastmnist', str(tmp_path))
  assert os.listdir(tmp_path) == []


def test_download_checksum_mismatch_leaves_no_file(tmp_path, monkeypatch):
  class Response(io.BytesIO):
    headers = {'Content-Length': '11'}
    def __enter__(self):
      return self
    def __exit__(self, *a):
      return False
  monkeypatch.setattr(urllib.request, 'urlopen', lambda *a, **k: Response(b'wrong bytes'))
  with pytest.raises(MedaugError, match='MD5'):
    data.load_official('dermamnist', str(tmp_path))
  assert os.listdir(tmp_path) == []
