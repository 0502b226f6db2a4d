"""One process: a benchmark step (model, channels), its GroupNorms Flax's (0)
or group_norm_module's (1); four blocks of two steps after a warm-up, ms a
step. Used for the OpenMP spin-count series (PROVENANCE.md):
python step_time.py MODEL CH 0|1"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
model, ch, patch = sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1'
if patch:
  import flax.linen as nn
  import group_norm_module
  nn.GroupNorm = group_norm_module.GroupNorm
import alternate  # pylint: disable=wrong-import-position

impl = alternate.step(model, ch)
ts = []
for _ in range(4):
  t = time.perf_counter()
  impl.run(2)
  ts.append((time.perf_counter() - t) / 2 * 1e3)
print(model, ch, 'patched' if patch else 'flax   ', ' '.join(f'{t:.0f}' for t in ts), 'min',
      round(min(ts)), flush=True)
