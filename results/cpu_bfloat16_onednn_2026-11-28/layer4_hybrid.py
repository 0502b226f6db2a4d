"""Layer4's conv alone (4x4x512, batch 128, forward + backward): Winograd in
float32 (what the bfloat16 step runs) against the same transforms in float32
with the 16 matmuls in bfloat16 (float32 accumulation). Three rounds of five
calls, one process:

  .venv/bin/python results/cpu_bfloat16_onednn_2026-11-28/layer4_hybrid.py
"""
import time, jax, jax.numpy as jnp
from jax import lax
from medaug_jax.ops import conv_cpu
x = jax.random.normal(jax.random.key(0), (128, 4, 4, 512)).astype(jnp.bfloat16)
w = (jax.random.normal(jax.random.key(1), (3, 3, 512, 512)) / 50).astype(jnp.bfloat16)
f32 = lambda a: a.astype(jnp.float32)
def hybrid(x, w):
  vs = conv_cpu._input_tiles(f32(x))
  us = conv_cpu._filter(f32(w))
  ms = [lax.dot_general(v.astype(jnp.bfloat16), u.astype(jnp.bfloat16), (((1,), (0,)), ((), ())),
                        preferred_element_type=jnp.float32) for v, u in zip(vs, us)]
  return conv_cpu._output(ms, x.shape[:3]).astype(x.dtype)
forms = {'winograd f32': lambda x, w: conv_cpu.winograd_conv3x3(f32(x), f32(w)).astype(x.dtype),
         'hybrid': hybrid}
ref = lax.conv_general_dilated(f32(x), f32(w), (1,1), ((1,1),(1,1)), dimension_numbers=('NHWC','HWIO','NHWC'))
for k, f in forms.items():
  y = jax.jit(f)(x, w)
  print(k, 'rel err', float(jnp.max(jnp.abs(f32(y)-ref))/jnp.max(jnp.abs(ref))))
grads = {k: jax.jit(jax.grad(lambda x, w, f=f: jnp.sum(f32(f(x, w)) ** 2), (0, 1))) for k, f in forms.items()}
for g in grads.values(): jax.block_until_ready(g(x, w))
for r in range(3):
  for k, g in grads.items():
    t = time.perf_counter()
    for _ in range(5): jax.block_until_ready(g(x, w))
    print(r, k, f'{(time.perf_counter() - t) / 5 * 1e3:.1f} ms', flush=True)
