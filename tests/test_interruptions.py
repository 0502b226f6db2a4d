"""Runs and grids on shared machines: one process per workdir, SIGTERM and
Ctrl-C, damaged checkpoints, full disks, unwritable workdirs, grid workers."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from conftest import ROOT, run_main, tiny_config
from medaug_jax import files, grid, interrupt, run, workdir
from medaug_jax.checkpoint import Checkpoints
from medaug_jax.errors import MedaugError
from test_generators import _train
from test_grid import tiny_grid
from test_train import TINY, _metrics


def _start(args, workdir_):
  return subprocess.Popen([sys.executable, '-m', 'medaug_jax.main', *args,
                           f'--workdir={workdir_}'], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _wait_for_epochs(work, n, proc, timeout=300):
  log = work / 'metrics.jsonl'
  deadline = time.time() + timeout
  while time.time() < deadline and proc.poll() is None:
    if log.exists() and sum(1 for _ in open(log)) >= n:
      return
    time.sleep(0.02)
  raise AssertionError(f'no {n} epochs logged in {timeout}s (exit {proc.poll()})')


def _error_lines(stderr):
  return [l for l in stderr.splitlines() if l.startswith('error:')]


def test_second_process_on_a_workdir_is_refused(tmp_path):
  args = TINY + ['--config.classifier.epochs=400']
  work = tmp_path / 'w'
  first = _start(args, work)
  try:
    _wait_for_epochs(work, 1, first)
    second = run_main(args + [f'--workdir={work}'])
    assert second.returncode != 0
    (line,) = _error_lines(second.stderr)
    assert f'pid {first.pid} on ' in line and 'in use by' in line
    assert 'Traceback' not in second.stderr
  finally:
    first.kill()
    first.communicate()
  # kill -9 leaves no lock behind: the workdir is free for the next process.
  with workdir.locked(str(work)):
    pass


SIGNAL_RUN = TINY + ['--config.classifier.epochs=12']


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  work = tmp_path_factory.mktemp('ref')
  ref = run_main(SIGNAL_RUN + [f'--workdir={work}'])
  assert ref.returncode == 0, ref.stderr[-2000:]
  return json.load(open(work / 'results.json'))


@pytest.mark.parametrize('sig,code', [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_cleanly_and_resumes_to_the_same_numbers(tmp_path, uninterrupted, sig,
                                                             code):
  args = SIGNAL_RUN
  work = tmp_path / 'stopped'
  proc = _start(args, work)
  _wait_for_epochs(work, 2, proc)
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == code, err[-2000:]
  assert 'Traceback' not in err
  name = signal.Signals(sig).name
  assert f'{name}: stopped in classifier, epoch' in err and 'same command to resume' in err
  assert not (work / 'results.json').exists()
  resumed = run_main(args + [f'--workdir={work}'])
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert _metrics(json.load(open(work / 'results.json'))) == _metrics(uninterrupted)


@pytest.mark.parametrize('asynchronous', [False, True])
def test_interrupt_mid_epoch_resumes_exactly(tmp_path, monkeypatch, asynchronous):
  """A stop between two steps of an epoch saves the epoch's partial sums;
  the resumed run logs the same losses as an uninterrupted one, with saves
  written in the background (as on accelerators) too."""
  _, _, ref = _train('cvae', epochs=3)
  calls = {'n': 0}

  def requested():  # the 10th step boundary: epoch 2, step 3 of 7
    calls['n'] += 1
    return 'SIGTERM' if calls['n'] == 10 else None

  monkeypatch.setattr(interrupt, 'requested', requested)
  ck = Checkpoints(str(tmp_path / 'ck'), asynchronous=asynchronous)
  with pytest.raises(interrupt.Interrupted) as stop:
    _train('cvae', epochs=3, checkpoints=ck)
  ck.close()  # as generator_phase and classifier_phase do
  assert stop.value.where == 'in cvae, epoch 2 step 2/7'
  _, meta = Checkpoints(str(tmp_path / 'ck')).restore(ref.state)
  assert (meta['epoch'], meta['next_step']) == (1, 2) and set(meta['sums']) == {'loss', 'rec', 'kl'}
  monkeypatch.setattr(interrupt, 'requested', lambda: None)
  ck = Checkpoints(str(tmp_path / 'ck'), asynchronous=asynchronous)
  _, _, resumed = _train('cvae', epochs=3, checkpoints=ck)
  ck.close()
  assert [r['loss'] for r in resumed.history] == [r['loss'] for r in ref.history]
  for a, b in zip(jax.tree.leaves(ref.state.params), jax.tree.leaves(resumed.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _steps(folder):
  return sorted(int(n) for n in os.listdir(folder) if n.isdigit())


@pytest.mark.parametrize('every,seconds,saved', [(0, 0, [3]), (0, 1e-9, [2, 3]), (2, 0, [2, 3])])
def test_checkpoint_interval_and_the_best_state_with_it(tmp_path, every, seconds, saved):
  """Resume checkpoints by epoch count, by time, or only at the end; the
  best-by-validation state, kept on the device meanwhile, is written with
  them and is the selected epoch's."""
  cfg = tiny_config(**{'classifier.epochs': 3, 'classifier.checkpoint_every': every,
                       'classifier.checkpoint_seconds': seconds})
  res = run.train_and_evaluate(cfg, str(tmp_path))
  steps_per_epoch = -(-res['sizes']['train'] // cfg.classifier.batch_size)
  assert _steps(tmp_path / 'checkpoints' / 'classifier') == [e * steps_per_epoch for e in saved]
  best = Checkpoints(str(tmp_path / 'checkpoints' / 'classifier_best'), max_to_keep=1)
  assert best.latest_step() == res['selected']['epoch']
  # The network's variables, not the optimiser's moments.
  variables = ocp.StandardCheckpointer().restore(
      tmp_path / 'checkpoints' / 'classifier_best' / str(best.latest_step()) / 'state')
  assert set(variables) == {'params', 'batch_stats'}


def test_checkpoint_interval_counts_the_epochs_not_pauses_between_them(tmp_path, monkeypatch):
  """checkpoint_seconds bounds the training a hard kill loses: time the run
  spends outside its epochs (here a two-minute pause after each, as when
  the benchmark's race runs a torch epoch) does not bring a save forward."""
  from medaug_jax import logs, trainer  # pylint: disable=g-import-not-at-top
  paused = [0.0]

  class Clock:
    @staticmethod
    def perf_counter():
      return time.perf_counter() + paused[0]

  append = logs.MetricsLog.append

  def append_then_pause(self, record):
    append(self, record)
    paused[0] += 120.0
  monkeypatch.setattr(trainer, 'time', Clock)
  monkeypatch.setattr(logs.MetricsLog, 'append', append_then_pause)
  cfg = tiny_config(**{'classifier.epochs': 3, 'classifier.checkpoint_every': 0,
                       'classifier.checkpoint_seconds': 60.0})
  res = run.train_and_evaluate(cfg, str(tmp_path))
  steps_per_epoch = -(-res['sizes']['train'] // cfg.classifier.batch_size)
  assert paused[0] >= 360.0
  assert _steps(tmp_path / 'checkpoints' / 'classifier') == [3 * steps_per_epoch]


def test_bad_checkpoint_interval_is_one_line(tmp_path):
  with pytest.raises(MedaugError, match='config.classifier.checkpoint_seconds must be >= 0'):
    run.train_and_evaluate(tiny_config(**{'classifier.checkpoint_seconds': -1}), str(tmp_path))


def _damage(step_dir):
  for folder, _, names in os.walk(step_dir):
    for name in names:
      if 'state' in folder:
        with open(os.path.join(folder, name), 'wb') as f:
          f.write(b'\x00garbage')


def test_damaged_latest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog):
  cfg = tiny_config(**{'classifier.epochs': 3})
  ref = run.train_and_evaluate(cfg, str(tmp_path))
  os.remove(tmp_path / 'results.json')
  ckdir = tmp_path / 'checkpoints' / 'classifier'
  steps = sorted(int(n) for n in os.listdir(ckdir) if n.isdigit())
  assert len(steps) == 2  # the two newest are kept
  _damage(ckdir / str(steps[-1]))
  with caplog.at_level('WARNING'):
    again = run.train_and_evaluate(cfg, str(tmp_path))
  assert f'checkpoint {steps[-1]} in {ckdir} cannot be read back' in caplog.text
  assert _metrics(again) == _metrics(ref)
  # With every checkpoint damaged: one clear line, nothing half-used.
  os.remove(tmp_path / 'results.json')
  for s in os.listdir(ckdir):
    if s.isdigit():
      _damage(ckdir / s)
  with pytest.raises(MedaugError, match='no checkpoint in .* can be read back.*delete'):
    run.train_and_evaluate(cfg, str(tmp_path))


def test_workdir_that_is_a_file(tmp_path):
  target = tmp_path / 'notes.txt'
  target.write_text('mine')
  r = run_main(TINY + ['--config.classifier.epochs=1', f'--workdir={target}'])
  assert r.returncode != 0 and 'Traceback' not in r.stderr
  (line,) = _error_lines(r.stderr)
  assert 'is a file' in line and target.read_text() == 'mine'


def test_unwritable_workdir_is_refused_up_front(tmp_path):
  if os.geteuid() != 0 or not shutil.which('setpriv'):
    pytest.skip('needs root and setpriv to run as another user')
  as_nobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']
  if subprocess.run(as_nobody + [sys.executable, '-c', 'import medaug_jax.workdir'], cwd=ROOT,
                    capture_output=True).returncode:
    pytest.skip('user nobody cannot read this checkout')
  folder = tmp_path / 'ro'
  folder.mkdir()
  os.chmod(folder, 0o555)
  os.chmod(tmp_path, 0o755)
  code = ('from medaug_jax import workdir\n'
          'from medaug_jax.errors import MedaugError\n'
          'try:\n'
          f'  with workdir.locked({str(folder / "run")!r}):\n'
          '    print("locked")\n'
          'except MedaugError as e:\n'
          '  print("error:", e)\n')
  r = subprocess.run(as_nobody + [sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                     text=True, env={**os.environ, 'HOME': str(tmp_path)})
  assert r.stdout.startswith('error: cannot write in'), r.stdout + r.stderr
  assert 'choose a writable --workdir' in r.stdout


def test_full_disk_keeps_the_previous_files(tmp_path, monkeypatch):
  path = tmp_path / 'results.json'
  files.write_json(str(path), {'epoch': 1})

  def full(fd):
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(files.os, 'fsync', full)
  with pytest.raises(MedaugError, match='no space left.*intact'):
    files.write_json(str(path), {'epoch': 2})
  monkeypatch.undo()
  assert json.load(open(path)) == {'epoch': 1}
  assert os.listdir(tmp_path) == ['results.json']  # no temporary file left
  # A checkpoint that cannot be written leaves the one before restorable.
  state = {'w': np.arange(4.0)}
  ck = Checkpoints(str(tmp_path / 'ck'))
  ck.save(1, state, {'epoch': 1, 'history': []})

  def full_save(*a, **k):
    raise ValueError('tensorstore write failed: [OSError] No space left on device')

  monkeypatch.setattr(ck.manager, 'save', full_save)
  with pytest.raises(MedaugError, match='no space left.*checkpoint 2.*intact'):
    ck.save(2, state, {'epoch': 2, 'history': []})
  restored, meta = Checkpoints(str(tmp_path / 'ck')).restore(state)
  assert meta['epoch'] == 1 and np.array_equal(restored['w'], state['w'])


def test_asynchronous_checkpoints(tmp_path, monkeypatch):
  """A background save keeps the state and meta it was given, even when the
  caller donates the arrays and appends to the meta's lists right after; a
  write that fails in the background is the same one-line error when waited
  for, and the manager is still closed."""
  state = {'w': jax.numpy.arange(1e6, dtype=jax.numpy.float32)}
  expect = np.asarray(state['w']).copy()
  history = [{'epoch': 1}]
  ck = Checkpoints(str(tmp_path / 'ck'), asynchronous=True)
  ck.save(1, state, {'epoch': 1, 'history': history})
  history.append({'epoch': 2})
  state = jax.jit(lambda s: jax.tree.map(lambda x: x + 1, s), donate_argnums=0)(state)
  ck.close()
  restored, meta = Checkpoints(str(tmp_path / 'ck')).restore({'w': np.zeros_like(expect)})
  assert meta == {'epoch': 1, 'history': [{'epoch': 1}]}
  np.testing.assert_array_equal(restored['w'], expect)

  ck = Checkpoints(str(tmp_path / 'ck'), asynchronous=True)
  closed = []

  def failed_write():
    raise ValueError('tensorstore write failed: [OSError] No space left on device')

  monkeypatch.setattr(ck.manager, 'wait_until_finished', failed_write)
  monkeypatch.setattr(ck.manager, 'close', lambda: closed.append(True))
  with pytest.raises(MedaugError, match='no space left.*writing a checkpoint.*intact'):
    ck.close()
  assert closed == [True]


def _hold_lock(folder):
  """A process holding `folder`'s lock, as a grid worker in the middle of a cell."""
  code = (f'from medaug_jax import workdir\nwith workdir.locked({folder!r}):\n'
          '  print("held", flush=True)\n  import time; time.sleep(600)\n')
  proc = subprocess.Popen([sys.executable, '-c', code], cwd=ROOT, stdout=subprocess.PIPE,
                          text=True)
  assert proc.stdout.readline().strip() == 'held'
  return proc


def test_grid_workers_take_different_cells(tmp_path):
  g = tiny_grid(methods=('none', 'cvae'), vmap=False)
  g.seeds = (0,)
  root = str(tmp_path / 'grid')
  holder = _hold_lock(grid.cell_dir(root, 'synthetic', 'none'))
  try:
    statuses = grid.run_grid(g, root)
    assert [(s['method'], s['state']) for s in statuses] == [('none', 'busy'), ('cvae', 'done')]
    assert not os.path.exists(os.path.join(grid.cell_dir(root, 'synthetic', 'none'), 'seed_0'))
  finally:
    holder.kill()  # the worker dies in the middle of its cell
    holder.wait()
  statuses = grid.run_grid(g, root)
  assert [(s['method'], s['state']) for s in statuses] == [('none', 'done'), ('cvae', 'skipped')]


def test_concurrent_grid_workers_run_each_cell_once(tmp_path):
  root = tmp_path / 'grid'
  overrides = ['--config.datasets=synthetic', '--config.methods=none,cvae,cgan',
               '--config.seeds=0', '--config.base.vmap_seeds=false',
               # test_grid's tiny_grid sizes (its compiled programs are cached).
               '--config.base.data.train_per_class=24', '--config.base.classifier.width=1',
               '--config.base.classifier.epochs=2', '--config.base.classifier.batch_size=16',
               '--config.base.classifier.eval_batch_size=64',
               '--config.base.generator.num_per_class=8', '--config.base.generator.batch_size=32',
               '--config.generators.cvae.epochs=2', '--config.generators.cgan.epochs=2',
               '--config.generators.cvae.hidden=(32,16)', '--config.generators.cgan.hidden=(32,16)',
               '--config.generators.cvae.latent=4', '--config.generators.cgan.latent=4',
               # test_grid's reference network (width 1, 2 epochs), cached by
               # then, not the default width 16 x 10 epochs trained anew.
               '--config.base.quality.reference.width=1',
               '--config.base.quality.reference.epochs=2',
               '--noreport']
  cmd = [sys.executable, '-m', 'medaug_jax.grid', '--config=configs/grid.py',
         f'--workdir={root}', *overrides]
  workers = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
  outs = [w.communicate(timeout=600)[0] for w in workers]
  assert [w.returncode for w in workers] == [0, 0], outs
  for method in ('none', 'cvae', 'cgan'):
    seed_dir = root / 'synthetic' / method / 'seed_0'
    assert (seed_dir / 'results.json').exists(), method
    lines = [json.loads(l) for l in open(seed_dir / 'metrics.jsonl')]
    keys = [(l['phase'], l['epoch']) for l in lines]
    assert len(keys) == len(set(keys)), f'{method} was trained twice'
