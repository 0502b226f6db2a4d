"""A benchmark step (MODEL CH), three steps timed between markers for oneDNN's
verbose log:

  ONEDNN_VERBOSE=profile_exec .venv/bin/python results/cpu_concurrency_gn_2026-11-28/onednn_in_step.py resnet_train 1 > /tmp/v.log
  python3 results/overheads_cpu_2026-11-27/onednn_verbose_sum.py /tmp/v.log
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alternate  # pylint: disable=wrong-import-position

impl = alternate.step(sys.argv[1], int(sys.argv[2]))  # warmed up
print('=== MEASURE', flush=True)
t = time.perf_counter()
impl.run(3)
print('=== END wall per step ms', (time.perf_counter() - t) / 3 * 1e3, flush=True)
