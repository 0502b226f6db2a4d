"""Synchronous against background (async) checkpoint writes, a whole run each.

  .venv/bin/python results/overheads_cpu_2026-11-27/ab_checkpoints.py sync 8
  .venv/bin/python results/overheads_cpu_2026-11-27/ab_checkpoints.py async 8

Our side of the end-to-end race (bench.end_to_end.recipe: configs/none.py with
the official script's Adam schedule, real BreastMNIST from ../shared/data),
saving the resume and best states after every epoch (checkpoint_every=1) so
that the saves weigh more than in the race's one every 60 s.
"""
import sys

from medaug_jax import checkpoint, hostmem, run
from medaug_jax.bench import end_to_end

hostmem.keep_freed_memory()
mode, epochs = sys.argv[1], int(sys.argv[2])
_Checkpoints = checkpoint.Checkpoints
run.Checkpoints = lambda *a, **k: _Checkpoints(*a, **{**k, 'asynchronous': mode == 'async'})
config = end_to_end.recipe(epochs, data_root='../shared/data')
config.classifier.checkpoint_every = 1
r = end_to_end.run_ours(config, '/tmp/ab_checkpoints_' + mode)
print(mode, 'seconds %.1f outside %.1f epochs %s' % (r['seconds'], r['outside_epochs_s'], r['epoch_s']))
