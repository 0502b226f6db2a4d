"""Winograd F(2x2, 3x3) against lax: values and both gradients, every ResNet map size."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from medaug_jax.ops import conv_cpu


def _lax_conv(x, w):
  return jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _max_rel_err(a, b):
  return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def _errors(conv, size, cin, cout):
  """Max relative errors of conv's values and both gradients against lax."""
  kx, kw, kd = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (2, size, size, cin))
  w = jax.random.normal(kw, (3, 3, cin, cout)) / (3 * cin ** .5)
  d = jax.random.normal(kd, (2, size, size, cout))

  def loss(conv):
    return jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(conv(x, w) * d), (0, 1)))(x, w)

  (_, (dx, dw)), (_, (rdx, rdw)) = loss(conv), loss(_lax_conv)
  return [_max_rel_err(jax.jit(conv)(x, w), _lax_conv(x, w)),
          _max_rel_err(dx, rdx), _max_rel_err(dw, rdw)]


# The ResNet-18's stride-1 maps and widths, and odd maps (a partial last tile).
@pytest.mark.parametrize('size,cin,cout', [(28, 64, 64), (14, 128, 128), (7, 256, 256),
                                           (4, 512, 512), (5, 16, 8), (1, 16, 8)])
def test_values_and_gradients_match_lax(size, cin, cout):
  errs = _errors(conv_cpu.winograd_conv3x3, size, cin, cout)
  assert max(errs) < 1e-4, errs


# F(4x4, 3x3) is not used by the ResNet (BENCHMARKS: no faster than F(2x2) on
# the step, slower to compile); it is kept for the layer benchmark's column.
# A map with a partial last tile and one with a whole tile: at the ResNet's own
# maps and widths it measured at most 1.0e-5, but each case compiles for ~15 s.
@pytest.mark.parametrize('size,cin,cout', [(7, 64, 32), (4, 32, 16)])
def test_f4_values_and_gradients_match_lax(size, cin, cout):
  errs = _errors(conv_cpu.winograd_f4_conv3x3, size, cin, cout)
  assert max(errs) < 1e-4, errs


def test_cpu_conv_picks_each_implementation_where_it_measured_fastest():
  same = ((1, 1), (1, 1))
  assert conv_cpu.cpu_impl((3, 3, 64, 64), (1, 1), same) == 'winograd'
  assert conv_cpu.cpu_impl((3, 3, 64, 128), (2, 2), same) == 'im2col'
  assert conv_cpu.cpu_impl((1, 1, 64, 128), (1, 1), ((0, 0), (0, 0))) == 'im2col'
  assert conv_cpu.cpu_impl((3, 3, 64, 64), (1, 1), ((0, 0), (0, 0))) == 'im2col'
  # A thin stem; an image head or a 16-wide layer.
  assert conv_cpu.cpu_impl((3, 3, 3, 64), (1, 1), same) == 'im2col'
  assert conv_cpu.cpu_impl((3, 3, 64, 3), (1, 1), same) == 'lax'
  assert conv_cpu.cpu_impl((3, 3, 16, 16), (1, 1), same) == 'lax'
