"""Layer4's 3x3 conv on 4x4x512 maps alone (batch 128, forward + backward, a
jitted gradient), four ways: oneDNN in bfloat16 and float32 (cast on each
side), and Winograd F(2x2, 3x3) matmuls in bfloat16 and float32. Three rounds
of five calls each, in one process:

  .venv/bin/python results/cpu_bfloat16_onednn_2026-11-28/layer4_alone.py
"""
import time

import jax
import jax.numpy as jnp

from medaug_jax.ops import conv_cpu, onednn

assert onednn.available()
x = jax.random.normal(jax.random.key(0), (128, 4, 4, 512)).astype(jnp.bfloat16)
w = (jax.random.normal(jax.random.key(1), (3, 3, 512, 512)) / 50).astype(jnp.bfloat16)
SAME = ((1, 1), (1, 1))
f32 = lambda a: a.astype(jnp.float32)
forms = {
    'onednn bf16': lambda x, w: onednn.conv(x, w, (1, 1), SAME),
    'onednn f32': lambda x, w: onednn.conv(f32(x), f32(w), (1, 1), SAME).astype(x.dtype),
    'winograd bf16': conv_cpu.winograd_conv3x3,
    'winograd f32': lambda x, w: conv_cpu.winograd_conv3x3(f32(x), f32(w)).astype(x.dtype),
}
grads = {k: jax.jit(jax.grad(lambda x, w, f=f: jnp.sum(f32(f(x, w)) ** 2), (0, 1)))
         for k, f in forms.items()}
for g in grads.values():
  jax.block_until_ready(g(x, w))
for r in range(3):
  for k, g in grads.items():
    t = time.perf_counter()
    for _ in range(5):
      jax.block_until_ready(g(x, w))
    print(r, k, f'{(time.perf_counter() - t) / 5 * 1e3:.1f} ms', flush=True)
