"""A benchmark step (MODEL CH), three steps timed between markers for oneDNN's
verbose log:

  ONEDNN_VERBOSE=profile_exec .venv/bin/python results/cpu_concurrency_gn_2026-11-28/onednn_in_step.py resnet_train 1 > /tmp/v.log
  python3 results/overheads_cpu_2026-11-27/onednn_verbose_sum.py /tmp/v.log
"""
import sys, time
from absl import flags
from medaug_jax import hostmem
from medaug_jax.bench import throughput
hostmem.keep_freed_memory()
model, ch = sys.argv[1], int(sys.argv[2])
flags.FLAGS(['instep'])
impl = throughput.jax_impl(model, ch, throughput.options(models=[model], channels=[ch]))
impl.run(2)
sys.stdout.flush()
print('=== MEASURE', flush=True)
t = time.perf_counter()
impl.run(3)
print('=== END wall per step ms', (time.perf_counter() - t) / 3 * 1e3, flush=True)
