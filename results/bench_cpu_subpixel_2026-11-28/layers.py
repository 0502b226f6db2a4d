"""An upsampling convolution (nearest 2x, then 3x3 'SAME') forward+backward
at batch 128, as the conv of the upsampled map and in sub-pixel form (four
2x2 convs), alternating, three blocks of five after a warm-up:

  for s in "7 256 128" "14 128 64" "14 64 1"; do
    .venv/bin/python results/bench_cpu_subpixel_2026-11-28/layers.py $s
    MEDAUG_JAX_ONEDNN=off .venv/bin/python results/bench_cpu_subpixel_2026-11-28/layers.py $s
  done
"""
import os
import sys
import time

import jax
import jax.numpy as jnp

from medaug_jax.ops import conv_cpu

H, C, O = (int(v) for v in sys.argv[1:4])
B = 128


def direct(x, w):
  return conv_cpu.conv_general_dilated(conv_cpu.upsample(x), w, (1, 1), ((1, 1), (1, 1)),
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def forward_backward(f):
  return jax.jit(lambda x, w, dy: jax.vjp(f, x, w)[1](dy))


kx, kw, kd = jax.random.split(jax.random.key(0), 3)
x = jax.random.normal(kx, (B, H, H, C))
w = jax.random.normal(kw, (3, 3, C, O)) / (3 * C ** .5)
dy = jax.random.normal(kd, (B, 2 * H, 2 * H, O))
fs = {'direct': forward_backward(direct), 'subpixel': forward_backward(conv_cpu.upsample_conv3x3)}
ref, got = fs['direct'](x, w, dy), fs['subpixel'](x, w, dy)
errs = [float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))) for a, b in zip(ref, got)]
best = {k: float('inf') for k in fs}
for _ in range(3):
  for name, f in fs.items():
    jax.block_until_ready(f(x, w, dy))
    t = time.perf_counter()
    for _ in range(5):
      jax.block_until_ready(f(x, w, dy))
    best[name] = min(best[name], (time.perf_counter() - t) / 5 * 1e3)
onednn = os.environ.get('MEDAUG_JAX_ONEDNN', 'on')
print(f'{H}x{H}x{C} -> {2 * H}x{2 * H}x{O}, oneDNN {onednn}: direct {best["direct"]:.1f} ms, '
      f'sub-pixel {best["subpixel"]:.1f} ms ({best["direct"] / best["subpixel"]:.2f}x); '
      f'max relative difference of dx, dw: {errs[0]:.1e}, {errs[1]:.1e}')
