"""The cluster dispatch, with submitit's local executor standing in for
SLURM: two array tasks share a tiny synthetic grid, every cell is trained by
exactly one of them, and the report is written once after both."""
import glob
import json
import os
import shutil
import sys

import pytest

from medaug_jax import dispatch
from medaug_jax.errors import MedaugError
from test_grid import SEEDS, tiny_grid

submitit = pytest.importorskip('submitit')

METHODS = ('none', 'cvae')


def _grid():
  g = tiny_grid(methods=METHODS, vmap=False)
  # The dispatch is under test, not the measures: no reference network, no CAS.
  g.base.quality.metrics = ('label_agreement',)
  g.base.quality.cas = False
  return g


def test_two_local_workers_share_the_grid(tmp_path):
  workdir = str(tmp_path / 'grid')
  results = dispatch.submit(_grid(), workdir, workers=2, executor='local', timeout_min=10)
  logs = ''.join(open(p).read() for p in
                 glob.glob(os.path.join(workdir, 'logs', 'submitit', '*_log.*')))
  assert len(results) == 2 and all(r is not None for r in results), logs
  # Each cell done by exactly one worker; the other found it busy or finished.
  for method in METHODS:
    states = [s['state'] for r in results for s in r if s['method'] == method]
    assert sorted(states).count('done') == 1, (method, states)
    assert set(states) <= {'done', 'busy', 'skipped'}, (method, states)
    cdir = os.path.join(workdir, 'synthetic', method)
    with open(os.path.join(cdir, 'cell.json')) as f:
      assert json.load(f)['state'] == 'done'
    for s in SEEDS:
      with open(os.path.join(cdir, f'seed_{s}', 'results.json')) as f:
        assert json.load(f)['seed'] == s
  assert '[dispatch] worker 0' in logs and '[dispatch] worker 1' in logs
  with open(os.path.join(workdir, 'report.md')) as f:
    md = f.read()
  assert '| synthetic | cvae | 2/2 |' in md and '| synthetic | none | 2/2 |' in md


@pytest.mark.parametrize('key,value', [('workers', 0), ('timeout_min', 0),
                                       ('gpus_per_task', -1), ('array_parallelism', 0)])
def test_bad_values_name_the_key(tmp_path, key, value):
  with pytest.raises(MedaugError, match=f'{key} must be'):
    dispatch.submit(tiny_grid(), str(tmp_path), **{'workers': 1, key: value})


def test_unknown_executor_is_one_line(tmp_path):
  with pytest.raises(MedaugError, match="executor must be one of slurm, local, got 'pbs'"):
    dispatch.submit(tiny_grid(), str(tmp_path), workers=1, executor='pbs')


def test_missing_submitit_says_how_to_install(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, 'submitit', None)  # import fails
  with pytest.raises(MedaugError, match=r"pip install '\.\[cluster\]'"):
    dispatch.submit(tiny_grid(), str(tmp_path), workers=1, executor='local')


def test_a_requeued_task_is_the_same_worker(tmp_path):
  worker = dispatch.GridWorker(tiny_grid(), str(tmp_path))
  delayed = worker.checkpoint(3)
  assert isinstance(delayed, submitit.helpers.DelayedSubmission)
  assert delayed.function is worker and delayed.args == (3,)


def test_slurm_without_slurm_is_one_line(tmp_path):
  if shutil.which('srun'):
    pytest.skip('this machine has SLURM')
  with pytest.raises(MedaugError, match='srun.*--executor=local'):
    dispatch.submit(tiny_grid(), str(tmp_path), workers=2, executor='slurm')
