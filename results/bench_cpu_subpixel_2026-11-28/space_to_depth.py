"""A 4x4 stride-2 conv padded by 1 (dcgan's D, cvae_conv's encoder),
forward+backward at batch 128: direct, or as a 2x2 stride-1 conv of the
space-to-depth map (2x2 blocks as 4x the channels; the same FLOPs). Best of
three blocks of five, alternating:

  .venv/bin/python results/bench_cpu_subpixel_2026-11-28/space_to_depth.py 28 64 128
"""
import sys, time, jax, jax.numpy as jnp
from medaug_jax.ops import conv_cpu
H, C, O = (int(v) for v in sys.argv[1:4]); B = 128
dims = ('NHWC', 'HWIO', 'NHWC')
def direct(x, w):
  return conv_cpu.conv_general_dilated(x, w, (2, 2), ((1, 1), (1, 1)), dimension_numbers=dims)
def s2d(x, w):
  x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  n, h, wd, c = x.shape
  x = x.reshape(n, h // 2, 2, wd // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h // 2, wd // 2, 4 * c)
  k = w.reshape(2, 2, 2, 2, c, -1).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * c, -1)
  return conv_cpu.conv_general_dilated(x, k, (1, 1), ((0, 0), (0, 0)), dimension_numbers=dims)
fb = lambda f: jax.jit(lambda x, w, dy: jax.vjp(f, x, w)[1](dy))
kx, kw, kd = jax.random.split(jax.random.key(0), 3)
x = jax.random.normal(kx, (B, H, H, C)); w = jax.random.normal(kw, (4, 4, C, O)) / (4 * C ** .5)
dy = jax.random.normal(kd, (B, H // 2, H // 2, O))
print('fwd err', float(jnp.max(jnp.abs(jax.jit(direct)(x, w) - jax.jit(s2d)(x, w)))))
fs = {'direct': fb(direct), 's2d': fb(s2d)}
r, g = fs['direct'](x, w, dy), fs['s2d'](x, w, dy)
print('grad errs', [float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))) for a, b in zip(r, g)])
best = {k: 1e9 for k in fs}
for _ in range(3):
  for k, f in fs.items():
    jax.block_until_ready(f(x, w, dy)); t = time.perf_counter()
    for _ in range(5): jax.block_until_ready(f(x, w, dy))
    best[k] = min(best[k], (time.perf_counter() - t) / 5 * 1e3)
print(H, C, O, {k: round(v, 1) for k, v in best.items()})
