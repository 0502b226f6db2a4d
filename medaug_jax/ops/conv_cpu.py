"""Convolutions made fast on XLA:CPU, the same numbers as lax everywhere.

On a 2-core CPU XLA's library convolutions reach about half the machine's
matmul speed on 28x28 maps, and its kernel gradient is a convolution whose
window is the whole feature map (3-4x slower than the same FLOPs as dots).
conv_general_dilated keeps lax's signature, so Flax's nn.Conv takes it as its
`conv_general_dilated`; GPU and TPU keep XLA's convolutions
(lax.platform_dependent). BENCHMARKS.md has the per-layer figures.
"""
import functools

import jax
import jax.numpy as jnp
from jax import lax

_DIMS = ('NHWC', 'HWIO', 'NHWC')
# Below this many input channels (the stem: 1 or 3) im2col makes a matmul too
# thin to beat the library convolution.
_MATMUL_MIN_CHANNELS = 16


def _xla_conv(x, w, strides, pads):
  return lax.conv_general_dilated(x, w, strides, pads, dimension_numbers=_DIMS)


def _taps(x, kernel_hw, strides, pads):
  """The kh*kw shifted (strided) views of padded x that a conv multiplies."""
  (kh, kw), (sh, sw) = kernel_hw, strides
  xp = jnp.pad(x, ((0, 0),) + pads + ((0, 0),))
  ho = (xp.shape[1] - kh) // sh + 1
  wo = (xp.shape[2] - kw) // sw + 1
  return [xp[:, i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw, :]
          for i in range(kh) for j in range(kw)]


def _kernel_grad_dots(x, dy, kernel_shape, strides, pads):
  """dL/dkernel of a conv as one matmul per kernel offset.

  XLA:CPU computes this gradient as a convolution whose window is the whole
  feature map, which at 28x28 runs 3-4x slower than the same FLOPs as dots
  (BENCHMARKS.md); each dot contracts the batch and spatial rows.
  """
  cin, cout = kernel_shape[2:]
  d = dy.reshape(-1, cout)
  out = [lax.dot_general(t.reshape(-1, cin), d, (((0,), (0,)), ((), ())),
                         preferred_element_type=jnp.float32)
         for t in _taps(x, kernel_shape[:2], strides, pads)]
  return jnp.stack(out).reshape(kernel_shape).astype(x.dtype)


def _kernel_grad_xla(x, dy, kernel_shape, strides, pads):
  w = jnp.zeros(kernel_shape, x.dtype)
  _, vjp = jax.vjp(lambda w: _xla_conv(x, w, strides, pads), w)
  return vjp(dy)[0].astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv(x, w, strides, pads):
  return _xla_conv(x, w, strides, pads)


def _conv_fwd(x, w, strides, pads):
  return _xla_conv(x, w, strides, pads), (x, w)


def _conv_bwd(strides, pads, res, dy):
  x, w = res
  _, vjp_x = jax.vjp(lambda x: _xla_conv(x, w, strides, pads), x)
  dw = lax.platform_dependent(
      x, dy,
      cpu=lambda x, dy: _kernel_grad_dots(x, dy, w.shape, strides, pads),
      default=lambda x, dy: _kernel_grad_xla(x, dy, w.shape, strides, pads))
  return vjp_x(dy)[0], dw.astype(w.dtype)


_conv.defvjp(_conv_fwd, _conv_bwd)


def _conv_as_matmul(x, w, strides, pads):
  """The conv as one matmul over im2col patches, differentiated by autodiff.

  On XLA:CPU matmuls run near the machine's peak while the library
  convolutions reach about half of it on 28x28 maps (BENCHMARKS.md); the
  patches cost kh*kw times the activation's memory.
  """
  taps = _taps(x, w.shape[:2], strides, pads)
  p = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)
  y = lax.dot_general(p.reshape(-1, p.shape[-1]), w.reshape(-1, w.shape[-1]).astype(p.dtype),
                      (((1,), (0,)), ((), ())), preferred_element_type=jnp.float32)
  return y.reshape(p.shape[:3] + w.shape[-1:]).astype(x.dtype)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, precision=None, **kwargs):
  """lax.conv_general_dilated, made fast on XLA:CPU.

  A plain NHWC conv runs on CPU as an im2col matmul (or, for the thin stem,
  as XLA's convolution with its kernel gradient as dots); GPU and TPU keep
  XLA's convolutions. Anything else goes to lax unchanged.
  """
  plain = (lhs.ndim == 4 and feature_group_count == 1 and precision is None
           and not kwargs and all(d == 1 for d in (lhs_dilation or (1,)))
           and all(d == 1 for d in (rhs_dilation or (1,)))
           and dimension_numbers is not None
           and tuple(lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers))
           == tuple(lax.conv_dimension_numbers(lhs.shape, rhs.shape, _DIMS)))
  if not plain:
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers, feature_group_count, precision=precision, **kwargs)
  strides = tuple(window_strides)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], strides, padding)
  pads = tuple(tuple(p) for p in padding)
  if rhs.shape[2] < _MATMUL_MIN_CHANNELS:
    return _conv(lhs, rhs, strides, pads)
  return lax.platform_dependent(
      lhs, rhs, cpu=lambda x, w: _conv_as_matmul(x, w, strides, pads),
      default=lambda x, w: _conv(x, w, strides, pads))
