"""Flax's GroupNorm (and its activation) against onednn.group_norm, alone, at
the UNet's and dcgan's shapes, batch 128: ms forward and forward+backward.
python results/cpu_group_norm_2026-12-08/gn_layers.py"""
import time, jax, jax.numpy as jnp, numpy as np, flax.linen as nn
from medaug_jax.ops import onednn
def timeit(f, *a, n=10):
  jax.block_until_ready(f(*a)); ts = []
  for _ in range(n):
    t = time.perf_counter(); jax.block_until_ready(f(*a)); ts.append(time.perf_counter() - t)
  return np.median(ts) * 1e3
for shape, g, act in [((128, 28, 28, 64), 32, 'swish'), ((128, 14, 14, 128), 32, 'swish'), ((128, 7, 7, 256), 8, 'relu'), ((128, 28, 28, 64), 32, None)]:
  k = jax.random.split(jax.random.key(0), 4)
  x = jax.random.normal(k[0], shape); sc = jnp.ones(shape[-1:]); b = jnp.zeros(shape[-1:]); dz = jax.random.normal(k[3], shape)
  f = {None: lambda v: v, 'relu': nn.relu, 'swish': nn.swish}[act]
  ref = lambda x, sc, b: f(nn.GroupNorm(g).apply({'params': {'scale': sc, 'bias': b}}, x))
  ours = lambda x, sc, b: onednn.group_norm(x, sc, b, g, 1e-6, act)
  for name, fn in (('xla', ref), ('ours', ours)):
    fwd = jax.jit(fn)
    both = jax.jit(lambda x, sc, b, dz: jax.vjp(fn, x, sc, b)[1](dz))
    print(shape, act, name, 'fwd %.1f ms, fwd+bwd %.1f ms' % (timeit(fwd, x, sc, b), timeit(both, x, sc, b, dz)), flush=True)
