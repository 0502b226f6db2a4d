"""A run's per-epoch record: metrics.jsonl, and TensorBoard events beside it.

metrics.jsonl is the record (one JSON line per epoch and phase); the events
are a view of it for `tensorboard --logdir`, written as the lines are, and
rebuilt from the kept lines when a resumed run rewinds them, so TensorBoard
never shows an epoch twice. A vmapped group's lines carry one value per seed;
each seed's scalars go to that seed's own event folder.
"""
import glob
import json
import os
import sys

import numpy as np

from medaug_jax.files import write_atomic

# Event-file suffixes: per-epoch scalars are rebuilt from metrics.jsonl on a
# rewind; what is written once per run (sample grids, the quality measures) is kept.
_SCALARS = '.scalars'
_ONCE = '.once'
_NOT_SCALARS = ('phase', 'epoch', 'seed')


class MetricsLog:
  """metrics.jsonl at `path`; TensorBoard events in each of `tb_dirs` (one
  per seed of the group, or None for none)."""

  def __init__(self, path, tb_dirs=None):
    self.path = path
    self.tb_dirs = list(tb_dirs or [])
    self._writers = None

  def append(self, record):
    with open(self.path, 'a') as f:
      f.write(json.dumps(record, sort_keys=True) + '\n')
    self._scalars(record)

  def records(self):
    """The complete lines of the log (a killed run may leave a torn last one)."""
    if not os.path.exists(self.path):
      return []
    out = []
    with open(self.path) as f:
      for line in f:
        try:
          out.append(json.loads(line))
        except json.JSONDecodeError:
          continue
    return out

  def rewind(self, phase, epoch):
    """Drops `phase` lines after `epoch` (written after the last checkpoint)
    and rebuilds the TensorBoard scalars from the lines kept."""
    kept = [r for r in self.records() if r.get('phase') != phase or r.get('epoch', 0) <= epoch]
    if os.path.exists(self.path):
      write_atomic(self.path, ''.join(json.dumps(r, sort_keys=True) + '\n' for r in kept))
    if not self.tb_dirs:
      return
    self.close()
    for d in self.tb_dirs:
      for f in glob.glob(os.path.join(d, f'events.out.tfevents.*{_SCALARS}')):
        os.remove(f)
    for r in kept:
      self._scalars(r)

  def image(self, index, tag, png_path, step=0):
    """Adds a PNG (a sample grid) to seed `index`'s events."""
    if not self.tb_dirs:
      return
    from PIL import Image  # pylint: disable=g-import-not-at-top
    # Distinct file names: event files are named by the second they open in.
    writer = _writer(self.tb_dirs[index], f'{_ONCE}-image')
    writer.add_image(tag, np.asarray(Image.open(png_path).convert('RGB')), step,
                     dataformats='HWC')
    writer.close()

  def summary(self, index, prefix, values, step=0):
    """Adds once-per-run scalars (the quality measures) to seed `index`'s events."""
    if not self.tb_dirs:
      return
    writer = _writer(self.tb_dirs[index], f'{_ONCE}-{prefix}')
    for key, v in values.items():
      if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
        writer.add_scalar(f'{prefix}/{key}', v, step)
    writer.close()

  def _scalars(self, record):
    if not self.tb_dirs:
      return
    if self._writers is None:
      self._writers = [_writer(d, _SCALARS) for d in self.tb_dirs]
    # TensorBoard keeps [-/\w.] in tags: 'generator:cgan' -> 'generator/cgan'.
    phase = record.get('phase', 'run').replace(':', '/')
    for key, value in record.items():
      if key in _NOT_SCALARS or isinstance(value, str):
        continue
      values = value if isinstance(value, list) else [value] * len(self._writers)
      for writer, v in zip(self._writers, values):
        if isinstance(v, (int, float)) and np.isfinite(v):
          writer.add_scalar(f'{phase}/{key}', v, record.get('epoch', 0))
    for writer in self._writers:
      writer.flush()

  def close(self):
    for writer in self._writers or []:
      writer.close()
    self._writers = None


def _writer(folder, suffix):
  # tensorboardX imports torch when it is installed, only to accept torch
  # tensors: 1.3-1.7 s of a CPU run's first epoch on a 2-core Xeon, and
  # torch's own OpenMP and MKL in our process, for the floats we give it.
  hide_torch = 'torch' not in sys.modules
  if hide_torch:
    sys.modules['torch'] = None  # `import torch` raises ImportError
  try:
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  finally:
    if hide_torch:
      del sys.modules['torch']
  return SummaryWriter(folder, filename_suffix=suffix)
