"""Winograd F(4x4, 3x3) against lax: values and both gradients, every ResNet map size."""
import jax
import jax.numpy as jnp
import pytest

from medaug_jax.ops import conv_cpu


def _lax_conv(x, w):
  return jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _max_rel_err(a, b):
  return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


# Not used by the ResNet (BENCHMARKS: no faster than F(2x2) on the step, slower
# to compile), kept for the layer benchmark's column. A map with a partial last
# tile and one with a whole tile; at the ResNet's own maps and widths (28, 14, 7
# and 4, up to 512 channels) it measured at most 1.0e-5, but each case compiles
# for ~15 s on 2 cores.
@pytest.mark.parametrize('size,cin,cout', [(7, 64, 32), (4, 32, 16)])
def test_values_and_gradients_match_lax(size, cin, cout):
  kx, kw, kd = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (2, size, size, cin))
  w = jax.random.normal(kw, (3, 3, cin, cout)) / (3 * cin ** .5)
  d = jax.random.normal(kd, (2, size, size, cout))

  def loss(conv):
    return jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(conv(x, w) * d), (0, 1)))(x, w)

  (_, (dx, dw)), (_, (rdx, rdw)) = loss(conv_cpu.winograd_f4_conv3x3), loss(_lax_conv)
  errs = [_max_rel_err(jax.jit(conv_cpu.winograd_f4_conv3x3)(x, w), _lax_conv(x, w)),
          _max_rel_err(dx, rdx), _max_rel_err(dw, rdw)]
  # Measured (2026-11-26): at most 1.0e-5 (4x4 512->512, dx); F(2x2) 1.8e-6.
  assert max(errs) < 1e-4, errs
