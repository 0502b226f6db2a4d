"""ResNet-18 in the MedMNIST 28x28 form (Flax Linen).

As in the MedMNIST reference: 3x3 stride-1 stem, no max-pool, BasicBlocks of
widths w, 2w, 4w, 8w (w = 64 in the paper), global average pool.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_DIMS = ('NHWC', 'HWIO', 'NHWC')


def _xla_conv(x, w, strides, pads):
  return lax.conv_general_dilated(x, w, strides, pads, dimension_numbers=_DIMS)


def _kernel_grad_dots(x, dy, kernel_shape, strides, pads):
  """dL/dkernel of a conv as one matmul per kernel offset.

  XLA:CPU computes this gradient as a convolution whose window is the whole
  feature map, which at 28x28 runs 3-4x slower than the same FLOPs as dots
  (BENCHMARKS.md); each dot contracts the batch and spatial rows.
  """
  kh, kw, cin, cout = kernel_shape
  xp = jnp.pad(x, ((0, 0),) + pads + ((0, 0),))
  (sh, sw), (ho, wo) = strides, dy.shape[1:3]
  rows = dy.shape[0] * ho * wo
  d = dy.reshape(rows, cout)
  out = [lax.dot_general(
      xp[:, i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw, :].reshape(rows, cin), d,
      (((0,), (0,)), ((), ())), preferred_element_type=jnp.float32)
         for i in range(kh) for j in range(kw)]
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


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, precision=None, **kwargs):
  """lax.conv_general_dilated with a faster kernel gradient on XLA:CPU.

  Same forward and input gradient (XLA's own convolutions); only the kernel
  gradient of a plain NHWC conv is computed as dots on CPU. Anything else
  goes to lax unchanged.
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
  return _conv(lhs, rhs, strides, tuple(tuple(p) for p in padding))


class BasicBlock(nn.Module):
  filters: int
  strides: int
  conv: Any
  norm: Any

  @nn.compact
  def __call__(self, x):
    residual = x
    y = self.conv(self.filters, (3, 3), (self.strides, self.strides))(x)
    y = nn.relu(self.norm()(y))
    y = self.conv(self.filters, (3, 3))(y)
    y = self.norm()(y)
    if residual.shape != y.shape:
      residual = self.conv(self.filters, (1, 1), (self.strides, self.strides))(residual)
      residual = self.norm()(residual)
    return nn.relu(residual + y)


class ResNet(nn.Module):
  num_classes: int
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  width: int = 64
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True, mask=None):
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype, padding='SAME',
                             conv_general_dilated=conv_general_dilated)
    # mask keeps the padded rows of a short last batch out of BN statistics.
    norm = functools.partial(_MaskedBatchNorm, use_running_average=not train,
                             momentum=0.9, epsilon=1e-5, dtype=self.dtype, mask=mask)
    x = conv(self.width, (3, 3))(x)
    x = nn.relu(norm()(x))
    for i, n_blocks in enumerate(self.stage_sizes):
      for j in range(n_blocks):
        x = BasicBlock(self.width * 2 ** i, 2 if i > 0 and j == 0 else 1, conv, norm)(x)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=jnp.float32)(x.astype(jnp.float32))


class _MaskedBatchNorm(nn.Module):
  """nn.BatchNorm that takes its batch mask at construction time."""
  use_running_average: bool
  momentum: float
  epsilon: float
  dtype: Any
  mask: Any = None

  @nn.compact
  def __call__(self, x):
    bn = nn.BatchNorm(use_running_average=self.use_running_average,
                      momentum=self.momentum, epsilon=self.epsilon,
                      dtype=self.dtype, name='bn')
    mask = None
    if self.mask is not None and not self.use_running_average:
      mask = self.mask.reshape((-1,) + (1,) * (x.ndim - 1))
      mask = jnp.broadcast_to(mask, x.shape)
    return bn(x, mask=mask)


def resnet18(num_classes, width=64, dtype=jnp.float32):
  return ResNet(num_classes=num_classes, width=width, dtype=dtype)
