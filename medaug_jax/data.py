"""MedMNIST loading, the paper's subset protocol, and a synthetic dataset.

Images stay uint8 NHWC all the way to the device; models normalise them inside
their jitted steps, so the host never holds a float copy.
"""
import dataclasses
import functools
import hashlib
import importlib.util
import logging
import math
import os
import tempfile
import urllib.request
import zipfile

import numpy as np

from medaug_jax.errors import MedaugError

SYNTHETIC = ('synthetic', 'synthetic_rgb')
# Datasets that keep their official splits (already as small as the protocol).
KEEP_OFFICIAL_SPLITS = ('breastmnist',)


@dataclasses.dataclass(frozen=True)
class Split:
  images: np.ndarray  # uint8 [N, H, W, C]
  labels: np.ndarray  # int32 [N] (single-label) or [N, L] (multi-label)

  def __len__(self):
    return len(self.images)


@dataclasses.dataclass(frozen=True)
class Dataset:
  name: str
  task: str  # medmnist task string
  class_names: tuple
  train: Split
  val: Split
  test: Split

  @property
  def num_classes(self):
    return len(self.class_names)

  @property
  def multi_label(self):
    return self.task.startswith('multi-label')

  @property
  def channels(self):
    return self.train.images.shape[-1]

  def sizes(self):
    return {'train': len(self.train), 'val': len(self.val), 'test': len(self.test)}


@functools.lru_cache(maxsize=None)
def medmnist_info():
  """medmnist.INFO, read from medmnist/info.py alone.

  The package's __init__ imports its torch-backed datasets: where torch is
  installed that would load torch, and with it the OpenMP runtime that
  ops/onednn.py must load first, into every run (where it is not, it prints
  a hint). info.py imports only the standard library.
  """
  spec = importlib.util.find_spec('medmnist')
  if spec is None or not spec.submodule_search_locations:
    raise MedaugError('medmnist is not installed: pip install --no-deps medmnist')
  path = os.path.join(spec.submodule_search_locations[0], 'info.py')
  info = importlib.util.spec_from_file_location('_medmnist_info', path)
  module = importlib.util.module_from_spec(info)
  info.loader.exec_module(module)
  return module.INFO


def default_root():
  return os.path.join(os.path.expanduser('~'), '.medmnist')


def resolve_root(data_root):
  """--config.data_root, then $MEDMNIST_ROOT, then medmnist's default."""
  return data_root or os.environ.get('MEDMNIST_ROOT') or default_root()


def known_datasets():
  info = medmnist_info()
  return sorted(k for k in info if not k.endswith('3d')) + list(SYNTHETIC)


def _md5(path):
  h = hashlib.md5()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      h.update(chunk)
  return h.hexdigest()


def download(url, path, md5):
  """Downloads url to path atomically; no partial file survives a failure."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.part')
  try:
    with os.fdopen(fd, 'wb') as out, urllib.request.urlopen(url, timeout=60) as r:
      total = int(r.headers.get('Content-Length') or 0)
      done = 0
      while chunk := r.read(1 << 20):
        out.write(chunk)
        done += len(chunk)
        if total:
          print(f'\rdownloading {os.path.basename(path)}: '
                f'{100 * done / total:5.1f}% of {total / 2**20:.1f} MiB',
                end='', flush=True)
    print()
    got = _md5(tmp)
    if got != md5:
      raise MedaugError(
          f'download of {url} has MD5 {got}, expected {md5}; nothing was '
          f'saved. Retry, or place the official file at {path}.')
    os.replace(tmp, path)
  except MedaugError:
    raise
  except Exception as e:  # network errors come in many types
    raise MedaugError(
        f'could not download {url} ({type(e).__name__}: {e}). Download it by '
        f'hand and put it at {path}, or point --config.data_root / '
        f'MEDMNIST_ROOT at a folder holding it.') from e
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _fetch(name, root, info):
  path = os.path.join(root, f'{name}.npz')
  if not os.path.exists(path):
    download(info['url'], path, info['MD5'])
  elif _md5(path) != info['MD5']:
    logging.warning(
        '%s has MD5 %s, not the official %s: using it anyway (a local or '
        'repacked copy?).', path, _md5(path), info['MD5'])
  return path


def _read_npz(path, name, info):
  """Reads and validates the official npz layout."""
  try:
    with np.load(path) as z:
      arrays = {k: z[k] for k in z.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise MedaugError(
        f'{path} is not a readable npz file ({e}); delete it to download it '
        'again, or replace it with the official file.') from e
  splits = {}
  n_labels = len(info['label'])
  for split in ('train', 'val', 'test'):
    ik, lk = f'{split}_images', f'{split}_labels'
    for k in (ik, lk):
      if k not in arrays:
        raise MedaugError(f'{path} has no array {k!r} (found {sorted(arrays)}).')
    images, labels = arrays[ik], arrays[lk]
    if images.ndim == 3:
      images = images[..., None]
    if images.ndim != 4 or images.shape[1:3] != (28, 28) or images.shape[3] not in (1, 3):
      raise MedaugError(
          f'{path}: {ik} has shape {arrays[ik].shape}; expected N x 28 x 28 '
          '(grey) or N x 28 x 28 x 3 (colour).')
    if images.shape[3] != info['n_channels']:
      raise MedaugError(f'{path}: {ik} has {images.shape[3]} channels, '
                        f'{name} has {info["n_channels"]}.')
    if labels.ndim == 1:
      labels = labels[:, None]
    if labels.ndim != 2 or len(labels) != len(images):
      raise MedaugError(
          f'{path}: {lk} has shape {arrays[lk].shape} for {len(images)} images.')
    if info['task'].startswith('multi-label'):
      if labels.shape[1] != n_labels:
        raise MedaugError(f'{path}: {lk} has {labels.shape[1]} labels per image, '
                          f'expected {n_labels}.')
      labels = labels.astype(np.int32)
    else:
      if labels.shape[1] != 1:
        raise MedaugError(f'{path}: {lk} has shape {labels.shape}; expected N x 1.')
      labels = labels[:, 0].astype(np.int32)
      if labels.min() < 0 or labels.max() >= n_labels:
        raise MedaugError(f'{path}: {lk} holds labels outside 0..{n_labels - 1}.')
    splits[split] = Split(images.astype(np.uint8), labels)
  return splits


def synthetic_splits(channels, num_classes=2, per_class=(200, 30, 60), seed=1234):
  """Class-dependent blobs and stripes with noise: easy but not trivial."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
  out = {}
  for split, n in zip(('train', 'val', 'test'), per_class):
    images, labels = [], []
    for c in range(num_classes):
      angle = 2 * np.pi * c / num_classes
      cy, cx = 14 + 7 * np.sin(angle), 14 + 7 * np.cos(angle)
      jitter = rng.normal(0, 1.5, size=(n, 2, 1, 1))
      radius = rng.uniform(3, 5, size=(n, 1, 1))
      blob = np.exp(-((yy - cy - jitter[:, 0]) ** 2 + (xx - cx - jitter[:, 1]) ** 2)
                    / (2 * radius ** 2))
      # Stripes whose orientation also encodes the class: texture as well as shape.
      theta = np.pi * c / num_classes
      stripes = 0.5 + 0.5 * np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 0.8)
      img = 0.6 * blob + 0.3 * stripes + rng.normal(0, 0.06, size=(n, 28, 28))
      img = np.repeat(img[..., None], channels, axis=-1)
      if channels == 3:
        tint = np.array([1.0, 0.6 + 0.4 * c / num_classes, 0.8], np.float32)
        img = img * tint
      images.append(np.clip(img * 255, 0, 255).astype(np.uint8))
      labels.append(np.full(n, c, np.int32))
    out[split] = Split(np.concatenate(images), np.concatenate(labels))
  return out


def identity(name, data_root=None):
  """What a dataset's content is keyed by in caches: its file's MD5 (the
  synthetic sets: their name and generator version)."""
  name = name.lower()
  if name in SYNTHETIC:
    return f'{name}-v1'
  return _md5(os.path.join(resolve_root(data_root), f'{name}.npz'))


def load_official(name, data_root=None):
  """The official train/val/test splits of a MedMNIST 2D dataset or synthetic."""
  name = name.lower()
  if name in SYNTHETIC:
    channels = 3 if name == 'synthetic_rgb' else 1
    return Dataset(name, 'multi-class', ('class0', 'class1'), **synthetic_splits(channels))
  info = medmnist_info()
  if name not in info or name.endswith('3d'):
    raise MedaugError(f'unknown dataset {name!r}; choose one of: '
                      + ', '.join(known_datasets()))
  path = _fetch(name, resolve_root(data_root), info[name])
  splits = _read_npz(path, name, info[name])
  task = info[name]['task']
  names = tuple(info[name]['label'][str(i)] for i in range(len(info[name]['label'])))
  return Dataset(name, task, names, **splits)


def _stratified_counts(total, counts):
  """Splits total over classes in proportion to counts (largest remainder)."""
  counts = np.asarray(counts, np.float64)
  exact = total * counts / counts.sum()
  out = np.floor(exact).astype(int)
  for i in np.argsort(-(exact - out), kind='stable')[:total - out.sum()]:
    out[i] += 1
  return out


def paper_subset(ds, seed, train_per_class=150, val_ratio=9):
  """The paper's protocol: per class `train_per_class` training images from the
  official train+val pool, validation = ceil(train / val_ratio) (train:val =
  9:1) stratified like train, the full official test set. Datasets in
  KEEP_OFFICIAL_SPLITS are returned unchanged.
  """
  if ds.name in KEEP_OFFICIAL_SPLITS:
    return ds
  if ds.multi_label:
    raise MedaugError(f'{ds.name} is multi-label: the per-class subset protocol '
                      'needs one label per image; run it on the official splits with '
                      '--config.data.subset=false.')
  rng = np.random.default_rng(seed)
  pool_x = np.concatenate([ds.train.images, ds.val.images])
  pool_y = np.concatenate([ds.train.labels, ds.val.labels])
  by_class = [rng.permutation(np.flatnonzero(pool_y == c)) for c in range(ds.num_classes)]
  n_train = np.array([min(train_per_class, len(ix)) for ix in by_class])
  n_val = _stratified_counts(math.ceil(n_train.sum() / val_ratio), n_train)
  for c, ix in enumerate(by_class):
    if n_train[c] + n_val[c] > len(ix):
      # Few-image classes (DermaMNIST's rarest) keep val and train disjoint.
      n_train[c] = max(len(ix) - n_val[c], 0)
      logging.warning('%s class %d has only %d images in train+val: using %d '
                      'for training, %d for validation.', ds.name, c, len(ix),
                      n_train[c], n_val[c])
  tr = np.concatenate([ix[:n_train[c]] for c, ix in enumerate(by_class)])
  va = np.concatenate([ix[n_train[c]:n_train[c] + n_val[c]]
                       for c, ix in enumerate(by_class)])
  return dataclasses.replace(
      ds, train=Split(pool_x[tr], pool_y[tr]), val=Split(pool_x[va], pool_y[va]))


def check_classes(ds):
  """Every class needs training images, or nothing can be learnt about it."""
  if ds.multi_label:
    return
  counts = np.bincount(ds.train.labels, minlength=ds.num_classes)
  empty = [ds.class_names[c] for c in np.flatnonzero(counts == 0)]
  if empty:
    raise MedaugError(f'{ds.name}: no training images for class(es) '
                      f'{", ".join(map(str, empty))}.')


def load(config):
  """The dataset a run trains on: official splits, then the paper's subset."""
  ds = load_official(config.dataset, config.get('data_root') or None)
  if config.data.subset:
    ds = paper_subset(ds, config.seed, config.data.train_per_class,
                      config.data.val_ratio)
  check_classes(ds)
  return ds
