"""The quality reference network is trained once, before a grid's cells, and
concurrent workers wait for it instead of training it again."""
import glob
import os
import threading
import time

import pytest

from medaug_jax import grid, quality, workdir
from tests.test_grid import tiny_grid


def test_a_waiting_lock_blocks_until_the_holder_releases(tmp_path):
  folder = str(tmp_path / 'ref.lock')
  held, release = threading.Event(), threading.Event()

  def holder():
    with workdir.locked(folder):
      held.set()
      release.wait(10)

  t = threading.Thread(target=holder)
  t.start()
  held.wait(10)
  with pytest.raises(workdir.Busy):
    with workdir.locked(folder):
      pass
  threading.Timer(0.5, release.set).start()
  t0 = time.perf_counter()
  with workdir.locked(folder, wait=True):
    waited = time.perf_counter() - t0
  t.join()
  assert waited >= 0.4


def test_which_measures_use_the_reference():
  assert not quality.uses_reference(('label_agreement',))
  assert quality.uses_reference(('label_agreement', 'kid'))
  assert quality.uses_reference(('memorisation',))


def test_a_grid_trains_each_reference_once_before_its_cells(tmp_path, capsys):
  cache = str(tmp_path / 'cache')
  g = tiny_grid(methods=('none', 'cvae', 'cgan'))
  g.base.quality.reference.cache_dir = cache
  work = str(tmp_path / 'grid')
  quality._REFERENCES.clear()  # pylint: disable=protected-access
  grid.prepare_references(g, work)
  trained = capsys.readouterr().out.count('[quality] training the reference network')
  assert trained == 1  # two generator cells, one dataset: one network
  assert len(glob.glob(os.path.join(cache, 'reference', 'synthetic-*', 'reference.json'))) == 1
  # Another worker (a fresh process) reads it back rather than training it.
  quality._REFERENCES.clear()  # pylint: disable=protected-access
  grid.prepare_references(g, work)
  assert 'training the reference' not in capsys.readouterr().out
  assert quality._REFERENCES  # pylint: disable=protected-access
  # A grid without generators, or without feature measures, needs none.
  quality._REFERENCES.clear()  # pylint: disable=protected-access
  grid.prepare_references(tiny_grid(methods=('none',)), work)
  g.base.quality.metrics = ('label_agreement',)
  grid.prepare_references(g, work)
  assert not quality._REFERENCES  # pylint: disable=protected-access
