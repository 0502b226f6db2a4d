"""Our oneDNN calls alone, warm (the same buffers again) against cold (a 1 GB array written
between calls):

  .venv/bin/python results/cpu_bn_relu_init_2026-11-28/cold.py
"""
import time, sys
import numpy as np
import jax, jax.numpy as jnp
from medaug_jax import hostmem
from medaug_jax.ops import onednn
hostmem.keep_freed_memory(); onednn._library()
flush = np.ones(256 * 2**20, np.float32)
rs = np.random.RandomState(0)
for H, C, O, K, S, P in [(14, 128, 256, 4, 2, 1), (28, 64, 128, 4, 2, 1), (28, 64, 64, 3, 1, 1)]:
  OH = (H + 2 * P - K) // S + 1
  x = jnp.asarray(rs.uniform(-.5, .5, (128, H, H, C)).astype(np.float32))
  w = jnp.asarray(rs.uniform(-.5, .5, (K, K, C, O)).astype(np.float32))
  dy = jnp.asarray(rs.uniform(-.5, .5, (128, OH, OH, O)).astype(np.float32))
  st, pads = (S, S), ((P, P), (P, P))
  fs = {'fwd': jax.jit(lambda x, w, dy: onednn.conv(x, w, st, pads)),
        'bwdd': jax.jit(lambda x, w, dy: onednn.input_grad(dy, w, x.shape, st, pads)),
        'bwdw': jax.jit(lambda x, w, dy: onednn.kernel_grad(x, dy, w.shape, st, pads))}
  out = []
  for k, f in fs.items():
    f(x, w, dy).block_until_ready()
    warm, cold = [], []
    for _ in range(6):
      t = time.perf_counter(); f(x, w, dy).block_until_ready(); warm.append(time.perf_counter() - t)
      flush += 1.0
      t = time.perf_counter(); f(x, w, dy).block_until_ready(); cold.append(time.perf_counter() - t)
    out.append(f'{k} warm {np.median(warm)*1e3:.1f} cold {np.median(cold)*1e3:.1f}')
  print(f'{H}x{H} {C}->{O} k{K} s{S}: ' + '; '.join(out), flush=True)
