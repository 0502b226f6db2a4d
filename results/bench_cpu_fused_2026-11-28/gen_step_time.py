"""ms per benchmark generator step (batch 128), four blocks of two after a warm-up:
  .venv/bin/python results/bench_cpu_fused_2026-11-28/gen_step_time.py dcgan 3
"""
import sys, time
from absl import flags
from medaug_jax import hostmem
hostmem.keep_freed_memory()
from medaug_jax.bench import throughput
model, ch = sys.argv[1], int(sys.argv[2])
flags.FLAGS(['x'])
impl = throughput.jax_impl(model, ch, throughput.options(models=[model], channels=[ch]))
impl.run(2)
ts = []
for _ in range(4):
  t = time.perf_counter(); impl.run(2); ts.append((time.perf_counter() - t) / 2 * 1e3)
print(model, ch, ' '.join(f'{t:.0f}' for t in ts), 'min', round(min(ts)), flush=True)
