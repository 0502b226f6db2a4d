"""Sub-pixel upsampling conv forward+backward: four 2x2 convs (the code of
1b35622, conv_cpu.upsample_conv3x3 then) against one 2x2 conv with the four
phases' kernels as 4x the output channels over the map padded by 1, then cut
(`fused` here; since 1e06967 conv_cpu.upsample_conv3x3 uses it for fewer than
16 outputs). Alternating, three
blocks of five after a warm-up, batch 128. Run at 12c2e7c (a worktree, with
PYTHONPATH pointing at it):

  for s in "7 256 128" "14 128 64" "14 64 3" "7 64 32" "14 32 16" "14 64 1"; do
    .venv/bin/python results/bench_cpu_fused_2026-11-28/layers_fused.py $s
  done
"""
import os, sys, time
import jax, jax.numpy as jnp
from medaug_jax.ops import conv_cpu


def fused(x, w):
  rows = conv_cpu._phase_taps(w, 0)
  ks = []
  for a in (0, 1):
    cols = conv_cpu._phase_taps(rows[a], 1)
    ks += [cols[0], cols[1]]
  k = jnp.concatenate(ks, axis=-1)  # [2, 2, C, 4O], phase 2a + b
  full = conv_cpu._cpu_conv(x, k, (1, 1), ((1, 1), (1, 1)))  # [N, H+1, W+1, 4O]
  n, h, w_, c = x.shape
  o = w.shape[-1]
  full = full.reshape(n, h + 1, w_ + 1, 2, 2, o)
  y = jnp.stack([jnp.stack([full[:, a:a + h, b:b + w_, a, b] for b in (0, 1)], axis=3)
                 for a in (0, 1)], axis=2)  # [N, H, 2, W, 2, O]
  return y.reshape(n, 2 * h, 2 * w_, o)


def fb(f):
  return jax.jit(lambda x, w, dy: jax.vjp(f, x, w)[1](dy))

H, C, O = (int(v) for v in sys.argv[1:4])
B = int(sys.argv[4]) if len(sys.argv) > 4 else 128
kx, kw, kd = jax.random.split(jax.random.key(0), 3)
x = jax.random.normal(kx, (B, H, H, C))
w = jax.random.normal(kw, (3, 3, C, O)) / (3 * C ** .5)
dy = jax.random.normal(kd, (B, 2 * H, 2 * H, O))
fs = {'four': fb(conv_cpu.upsample_conv3x3), 'fused': fb(fused)}
y0, y1 = jax.jit(conv_cpu.upsample_conv3x3)(x, w), jax.jit(fused)(x, w)
ref, got = fs['four'](x, w, dy), fs['fused'](x, w, dy)
errs = [float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))) for a, b in zip((y0,) + tuple(ref), (y1,) + tuple(got))]
best = {k: float('inf') for k in fs}
for _ in range(3):
  for name, f in fs.items():
    jax.block_until_ready(f(x, w, dy))
    t = time.perf_counter()
    for _ in range(5):
      jax.block_until_ready(f(x, w, dy))
    best[name] = min(best[name], (time.perf_counter() - t) / 5 * 1e3)
print(f'{H}x{H}x{C} -> {2*H}x{2*H}x{O} (batch {B}): four {best["four"]:.1f} ms, fused {best["fused"]:.1f} ms '
      f'({best["four"] / best["fused"]:.2f}x); rel diff y, dx, dw: ' + ', '.join(f'{e:.1e}' for e in errs), flush=True)
