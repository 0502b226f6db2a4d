"""The multi-host path (launch/tpu_vm.sh, grid --multihost): processes joined
by jax.distributed into one mesh, each host with its own disk. Run here as two
CPU processes of two devices each on one machine, with gloo collectives and a
workdir and cache per process, as two hosts would have."""
import json
import os
import socket
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICES_PER_PROCESS = 2


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _run_processes(task, tmp_path, *args, count=2, timeout=900):
  """Runs this file's `task` in `count` processes; returns their outputs."""
  port = _free_port()
  procs = []
  for pid in range(count):
    env = dict(os.environ, JAX_COORDINATOR_ADDRESS=f'127.0.0.1:{port}',
               JAX_NUM_PROCESSES=str(count), JAX_PROCESS_ID=str(pid), JAX_PLATFORMS='cpu',
               MEDAUG_CACHE=str(tmp_path / f'cache{pid}'),
               XLA_FLAGS=f'--xla_force_host_platform_device_count={DEVICES_PER_PROCESS}')
    procs.append(subprocess.Popen(
        [sys.executable, __file__, task, str(tmp_path / f'host{pid}'), *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  outs = []
  try:
    for p in procs:
      outs.append(p.communicate(timeout=timeout)[0])
  finally:
    for p in procs:
      p.kill()
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
  return outs


def test_checkpoints_are_kept_by_every_host(tmp_path):
  outs = _run_processes('checkpoints', tmp_path)
  for pid, out in enumerate(outs):
    assert 'restored [1.0, 2.0, 3.0] at epoch 2' in out, out[-2000:]
    # Each host's own copy, on its own disk: orbax would have written the
    # arrays from process 0 only.
    assert sorted(os.listdir(tmp_path / f'host{pid}')) == ['2.msgpack', '3.msgpack']


def test_grid_across_processes_stops_together_and_resumes(tmp_path):
  # A preemption notice (SIGTERM) reaches one host in the first epoch.
  outs = _run_processes('grid', tmp_path, 'preempt')
  stops = []
  for pid, out in enumerate(outs):
    assert f'process {pid}/2: 2 local, 4 global devices' in out, out[-2000:]
    assert 'INTERRUPTED SIGTERM: stopped in classifier' in out, out[-3000:]
    stops.append(out.split('INTERRUPTED ')[-1].splitlines()[0])
  # Every step is a collective: all hosts stop after the same one.
  assert stops[0] == stops[1]

  outs = _run_processes('grid', tmp_path)
  results = []
  for pid, out in enumerate(outs):
    assert '[classifier] resuming after epoch' in out, out[-3000:]
    assert json.loads(out.split('STATUSES ')[-1].splitlines()[0]) == [['none', 'done']]
    results.append([_test_metrics(tmp_path / f'host{pid}', 'none', s) for s in (0, 1)])
  # The mesh spans both processes: each holds the same replicated state.
  assert results[0] == results[1]
  assert os.path.exists(tmp_path / 'host0' / 'report.md')


def _test_metrics(workdir, method, seed):
  with open(os.path.join(workdir, 'synthetic', method, f'seed_{seed}', 'results.json')) as f:
    r = json.load(f)
  return r['selected']['test_auc'], r['selected']['test_acc'], r['last']['test_auc']


def _checkpoints(directory):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from medaug_jax import grid, trainer  # pylint: disable=g-import-not-at-top
  from medaug_jax.checkpoint import Checkpoints  # pylint: disable=g-import-not-at-top
  grid.maybe_initialize_distributed(True)
  mesh = trainer.make_mesh()
  assert mesh.size == 2 * DEVICES_PER_PROCESS
  ck = Checkpoints(directory)
  for step in (1, 2, 3):
    state = trainer.replicate({'w': jnp.arange(3.0) + step - 1}, mesh)
    ck.save(step, state, {'epoch': step, 'history': []})
  ck.close()
  # The newest one damaged on this host only: it falls back to the one before.
  with open(os.path.join(directory, '3.msgpack'), 'r+b') as f:
    f.truncate(20)
  ck = Checkpoints(directory)
  state, meta = ck.restore(trainer.replicate({'w': jnp.zeros(3)}, mesh))
  assert state['w'].sharding.mesh.size == 2 * DEVICES_PER_PROCESS
  print(f"restored {np.asarray(state['w']).tolist()} at epoch {meta['epoch']}", flush=True)
  jax.distributed.shutdown()


def _preempt_after_first_checkpoint(workdir):
  """SIGTERM to this process once a classifier checkpoint is on its disk."""
  import glob  # pylint: disable=g-import-not-at-top
  import signal  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top

  def watch():
    while not glob.glob(os.path.join(workdir, '**', 'classifier', '*.msgpack'), recursive=True):
      time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
  threading.Thread(target=watch, daemon=True).start()


def _grid(workdir, preempt=False):
  sys.path.insert(0, os.path.join(ROOT, 'tests'))
  from test_grid import tiny_grid  # pylint: disable=g-import-not-at-top
  from medaug_jax import grid, interrupt  # pylint: disable=g-import-not-at-top
  g = tiny_grid(methods=('none',))
  g.base.classifier.epochs = 6  # room to stop in
  g.base.classifier.print_every = 1  # and say where it resumes
  if preempt and os.environ['JAX_PROCESS_ID'] == '1':
    _preempt_after_first_checkpoint(workdir)
  try:
    statuses = grid.run(g, workdir, multihost=True)
  except interrupt.Interrupted as e:
    print(f'INTERRUPTED {e}', flush=True)
    return
  print('STATUSES ' + json.dumps([[s['method'], s['state']] for s in statuses]), flush=True)


if __name__ == '__main__':
  sys.path.insert(0, ROOT)
  {'checkpoints': _checkpoints, 'grid': _grid}[sys.argv[1]](*sys.argv[2:])
