"""GroupNorm (NHWC) with a hand-written VJP: one statistics pass and one
elementwise pass forward, one reduction pass and one elementwise pass
backward. Run as a script: each form alone, forward and forward+backward, at
the UNet's and dcgan's shapes, and their differences."""
import time, sys
import numpy as np, jax, jax.numpy as jnp
import flax.linen as nn
from jax import lax

def gn_custom(x, scale, bias, groups, eps):
  return _gn(x, scale, bias, groups, eps)

import functools
@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _gn(x, scale, bias, groups, eps):
  return _gn_fwd(x, scale, bias, groups, eps)[0]

def _stats(x, groups):
  n, h, w, c = x.shape
  s1 = jnp.sum(x, axis=(1, 2))
  s2 = jnp.sum(x * x, axis=(1, 2))
  k = h * w * (c // groups)
  m = s1.reshape(n, groups, -1).sum(-1) / k
  m2 = s2.reshape(n, groups, -1).sum(-1) / k
  var = jnp.maximum(m2 - m * m, 0.)
  return m, var

def _gn_fwd(x, scale, bias, groups, eps):
  n, h, w, c = x.shape
  m, var = _stats(x, groups)
  rstd = lax.rsqrt(var + eps)
  rc = jnp.repeat(rstd, c // groups, axis=1)
  mc = jnp.repeat(m, c // groups, axis=1)
  a = rc * scale
  b = bias - mc * a
  y = x * a[:, None, None, :] + b[:, None, None, :]
  return y, (x, scale, m, rstd)

def _gn_bwd(groups, eps, res, dy):
  x, scale, m, rstd = res
  n, h, w, c = x.shape
  cg = c // groups
  k = h * w * cg
  t1 = jnp.sum(dy, axis=(1, 2))
  t2 = jnp.sum(dy * x, axis=(1, 2))
  mc = jnp.repeat(m, cg, axis=1); rc = jnp.repeat(rstd, cg, axis=1)
  dyx = rc * (t2 - mc * t1)  # sum_hw dy * xhat per (n, c)
  dscale = jnp.sum(dyx, 0)
  dbias = jnp.sum(t1, 0)
  m1 = (scale * t1).reshape(n, groups, cg).sum(-1) / k
  m2 = (scale * dyx).reshape(n, groups, cg).sum(-1) / k
  m1c = jnp.repeat(m1, cg, axis=1); m2c = jnp.repeat(m2, cg, axis=1)
  A = -rc * rc * m2c
  B = rc * scale
  C = rc * (-m1c + mc * rc * m2c)
  dx = x * A[:, None, None, :] + dy * B[:, None, None, :] + C[:, None, None, :]
  return dx, dscale, dbias

_gn.defvjp(lambda x, s, b, g, e: _gn_fwd(x, s, b, g, e), _gn_bwd)

def bench(f, *args, reps=10):
  out = f(*args); jax.block_until_ready(out)
  ts = []
  for _ in range(reps):
    t = time.perf_counter(); jax.block_until_ready(f(*args)); ts.append(time.perf_counter() - t)
  return min(ts) * 1e3, np.median(ts) * 1e3

if __name__ == "__main__":
  G, eps = 8, 1e-6
  
  for shape in [(128, 28, 28, 64), (128, 14, 14, 128), (128, 7, 7, 128), (128, 28, 28, 128)]:
    x = jax.random.normal(jax.random.PRNGKey(0), shape) * 2 + 1
    c = shape[-1]
    scale = 1 + 0.1 * jax.random.normal(jax.random.PRNGKey(1), (c,))
    bias = 0.1 * jax.random.normal(jax.random.PRNGKey(2), (c,))
    dy = jax.random.normal(jax.random.PRNGKey(3), shape)
    mod = nn.GroupNorm(num_groups=G, epsilon=eps)
    flax_f = lambda x, s, b: mod.apply({'params': {'scale': s, 'bias': b}}, x)
    cust_f = lambda x, s, b: _gn(x, s, b, G, eps)
    for name, f in [('flax', flax_f), ('custom', cust_f)]:
      fwd = jax.jit(f)
      fb = jax.jit(lambda x, s, b, dy, f=f: jax.vjp(f, x, s, b)[1](dy))
      print(shape, name, 'fwd %.1f/%.1f ms' % bench(fwd, x, scale, bias), 'fwd+bwd %.1f/%.1f ms' % bench(fb, x, scale, bias, dy), flush=True)
    y1 = flax_f(x, scale, bias); y2 = cust_f(x, scale, bias)
    g1 = jax.vjp(flax_f, x, scale, bias)[1](dy); g2 = jax.vjp(cust_f, x, scale, bias)[1](dy)
    rel = lambda a, b: float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a)))
    print('  rel err y %.2e dx %.2e ds %.2e db %.2e' % (rel(y1, y2), rel(g1[0], g2[0]), rel(g1[1], g2[1]), rel(g1[2], g2[2])))
