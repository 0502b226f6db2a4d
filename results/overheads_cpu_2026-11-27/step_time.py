"""Milliseconds per benchmark ResNet-18 train step, four blocks of two after a
warm-up, in a process of its own; alternate it with an XLA flag set:

  for i in 1 2 3 4 5 6; do
    .venv/bin/python results/overheads_cpu_2026-11-27/step_time.py
    XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false \
      .venv/bin/python results/overheads_cpu_2026-11-27/step_time.py
  done
"""
import time
from absl import flags
from medaug_jax import hostmem
hostmem.keep_freed_memory()
from medaug_jax.bench import throughput
flags.FLAGS(['x'])
impl = throughput.jax_impl('resnet_train', 1, throughput.options(models=['resnet_train'], channels=[1]))
impl.run(2)
ts = []
for _ in range(4):
  t = time.perf_counter(); impl.run(2); ts.append((time.perf_counter() - t) / 2 * 1e3)
print(' '.join(f'{t:.0f}' for t in ts), 'min', round(min(ts)))
