"""One oneDNN convolution (D's 4x4 stride-2 layer, 14x14x128 -> 7x7x256, batch
128, forward) timed 40 times alone, bfloat16 and float32 in turn, twice:
the spread of a bfloat16 (AMX) call on this VM against a float32 one.

  [OMP_WAIT_POLICY=ACTIVE | OMP_NUM_THREADS=1] .venv/bin/python \
      results/cpu_bfloat16_generators_2026-11-28/one_conv_spread.py
"""
import time, numpy as np, jax, jax.numpy as jnp
from medaug_jax.ops import onednn
onednn._library()
rs = np.random.RandomState(0)
x = rs.uniform(-.5,.5,(128,14,14,128)).astype(np.float32); w = rs.uniform(-.5,.5,(4,4,128,256)).astype(np.float32)
for dt in (jnp.bfloat16, jnp.float32, jnp.bfloat16, jnp.float32):
  jx, jw = jnp.asarray(x).astype(dt), jnp.asarray(w).astype(dt)
  f = jax.jit(lambda x, w: onednn.conv(x, w, (2,2), ((1,1),(1,1))))
  f(jx, jw).block_until_ready()
  ts = []
  for _ in range(40):
    t = time.perf_counter(); f(jx, jw).block_until_ready(); ts.append((time.perf_counter()-t)*1e3)
  ts = np.array(ts); print(dt.__name__, 'min %.1f p50 %.1f p90 %.1f max %.1f' % (ts.min(), np.median(ts), np.percentile(ts,90), ts.max()))
