"""Shared by the A/B scripts here: benchmark steps built in one process,
timed in alternating blocks, ms a step, and the ratio per pair of blocks."""
import time

import numpy as np
from absl import flags

from medaug_jax import hostmem

hostmem.keep_freed_memory()
from medaug_jax.bench import throughput  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.FLAGS(['ab'])


def step(model, ch, **options):
  """The benchmark's jitted step (or eval pass), warmed up; options: more of
  throughput.options (dtype='bfloat16')."""
  impl = throughput.jax_impl(model, ch, throughput.options(models=[model], channels=[ch],
                                                           **options))
  impl.run(2)
  return impl


def alternate(label, impls, blocks, calls=2, before=lambda name: None):
  """impls: {name: impl}, two of them; before(name) runs ahead of each block."""
  ts = {k: [] for k in impls}
  for _ in range(blocks):
    for k, impl in impls.items():
      before(k)
      t = time.perf_counter()
      impl.run(calls)
      ts[k].append((time.perf_counter() - t) / calls * 1e3)
  for k, v in ts.items():
    print(label, k, ' '.join(f'{t:.0f}' for t in v), 'min', round(min(v)), 'median',
          round(float(np.median(v))), flush=True)
  a, b = ts
  r = np.array(ts[a]) / np.array(ts[b])
  print(f'{a}/{b} per pair: median {np.median(r):.3f} min {r.min():.3f} max {r.max():.3f}')
