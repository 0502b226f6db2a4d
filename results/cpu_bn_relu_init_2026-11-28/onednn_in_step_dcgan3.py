"""The benchmark's dcgan step (width 64, batch 128, three channels), three steps
timed between markers, for oneDNN's verbose log:

  ONEDNN_VERBOSE=profile_exec .venv/bin/python results/cpu_bn_relu_init_2026-11-28/onednn_in_step_dcgan3.py > /tmp/v.log
  python3 results/overheads_cpu_2026-11-27/onednn_verbose_sum.py /tmp/v.log
"""
import sys
import time

from absl import flags

from medaug_jax import hostmem
from medaug_jax.bench import throughput

hostmem.keep_freed_memory()
flags.FLAGS(['onednn_in_step'])
impl = throughput.jax_impl('dcgan', 3, throughput.options(models=['dcgan'],
                                                                channels=[3]))
impl.run(2)
sys.stdout.flush()
print('=== MEASURE', flush=True)
t = time.perf_counter()
impl.run(3)
print('=== END wall per step ms', (time.perf_counter() - t) / 3 * 1e3, flush=True)
