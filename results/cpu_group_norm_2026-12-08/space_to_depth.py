"""dcgan D's 4x4 stride-2 convs on oneDNN as they are, and as a 2x2 stride-1
conv of the space-to-depth input (the same FLOPs): not faster, not kept.
python results/cpu_group_norm_2026-12-08/space_to_depth.py"""
import time, jax, jax.numpy as jnp, numpy as np
from medaug_jax.ops import onednn
def timeit(f, *a, n=8):
  jax.block_until_ready(f(*a)); ts = []
  for _ in range(n):
    t = time.perf_counter(); jax.block_until_ready(f(*a)); ts.append(time.perf_counter() - t)
  return np.median(ts) * 1e3

def direct(x, w):
  return onednn.conv(x, w, (2, 2), ((1, 1), (1, 1)))

def s2d(x, w):
  n, h, wd, c = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  hp, wp = (h + 2) // 2, (wd + 2) // 2
  x2 = xp.reshape(n, hp, 2, wp, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, hp, wp, 4 * c)
  kh, kw, ci, co = w.shape
  w2 = w.reshape(2, 2, 2, 2, ci, co).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * ci, co)
  return onednn.conv(x2, w2, (1, 1), ((0, 0), (0, 0)))

for (size, ci, co) in [(28, 64, 128), (14, 128, 256), (28, 3, 64)]:
  k = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(k[0], (128, size, size, ci)); w = jax.random.normal(k[1], (4, 4, ci, co)) * 0.05
  g = jax.random.normal(k[2], (128, size // 2, size // 2, co))
  a, b = jax.jit(direct)(x, w), jax.jit(s2d)(x, w)
  print('err', float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))))
  for name, f in (('direct', direct), ('s2d', s2d)):
    fwd = jax.jit(f)
    both = jax.jit(lambda x, w, g: jax.vjp(f, x, w)[1](g))
    print(size, ci, co, name, 'fwd %.1f ms  bwd(dx,dw) %.1f ms' % (timeit(fwd, x, w), timeit(both, x, w, g)), flush=True)
