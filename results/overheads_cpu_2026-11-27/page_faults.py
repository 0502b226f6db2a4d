"""Wall, user and system time, page faults and context switches per ResNet-18
train step (the benchmark's step, width 64, batch 128, one channel).

  .venv/bin/python results/overheads_cpu_2026-11-27/page_faults.py
"""
import resource
import time

from absl import flags

from medaug_jax import hostmem
from medaug_jax.bench import throughput

print('freed memory kept:', hostmem.keep_freed_memory())
flags.FLAGS(['page_faults'])
impl = throughput.jax_impl('resnet_train', 1, throughput.options(models=['resnet_train'],
                                                                channels=[1]))
impl.run(2)
for _ in range(3):
  r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
  impl.run(3)
  r1, wall = resource.getrusage(resource.RUSAGE_SELF), (time.perf_counter() - t) / 3
  d = lambda name: (getattr(r1, name) - getattr(r0, name)) / 3
  print(f'step {wall * 1e3:.0f} ms: user {d("ru_utime") * 1e3:.0f} ms, sys '
        f'{d("ru_stime") * 1e3:.0f} ms, minor faults {d("ru_minflt"):.0f}, voluntary / '
        f'involuntary switches {d("ru_nvcsw"):.0f} / {d("ru_nivcsw"):.0f}', flush=True)
