"""ResNet-18 in the MedMNIST 28x28 form (Flax Linen).

As in the MedMNIST reference (torchvision's BasicBlock ResNet-18 with a 3x3
stride-1 stem and no max-pool): BasicBlocks of widths w, 2w, 4w, 8w (w = 64 in
the paper), 3x3 convolutions padded by 1 on every side and 1x1 projection
shortcuts unpadded, as PyTorch's `padding=1` / `padding=0` (Flax's 'SAME' pads
a stride-2 convolution of an even map by (0, 1), one pixel off), global
average pool.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from medaug_jax.ops import conv_cpu, onednn


class BasicBlock(nn.Module):
  filters: int
  strides: int
  conv: Any
  norm: Any
  fold: bool = False  # _conv_norm's one call per conv and its norm (eval on oneDNN)

  @nn.compact
  def __call__(self, x):
    strides = (self.strides, self.strides)
    conv1, norm1 = self.conv(self.filters, (3, 3), strides, padding=1), self.norm(relu=True)
    conv2, norm2 = self.conv(self.filters, (3, 3), padding=1), self.norm()
    residual = x
    if self.strides != 1 or x.shape[-1] != self.filters:
      residual = _conv_norm(self.conv(self.filters, (1, 1), strides, padding=0), self.norm(),
                            x, self.fold)
    y = _conv_norm(conv1, norm1, x, self.fold)
    return _conv_norm(conv2, norm2, y, self.fold, residual=residual)


class ResNet(nn.Module):
  num_classes: int
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  width: int = 64
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True, mask=None, features: bool = False):
    """Logits; with features, the pooled penultimate features instead."""
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype,
                             conv_general_dilated=conv_cpu.conv_general_dilated)
    # mask keeps the padded rows of a short last batch out of BN statistics.
    norm = functools.partial(_MaskedBatchNorm, use_running_average=not train,
                             momentum=0.9, epsilon=1e-5, dtype=self.dtype, mask=mask)
    # An eval pass on oneDNN runs each conv with its norm folded in, and
    # with the ReLU and residual add after it, as one call.
    fold = (not train and not self.is_initializing() and onednn.runs(self.dtype, 'conv'))
    x = _conv_norm(conv(self.width, (3, 3), padding=1), norm(relu=True), x, fold)
    for i, n_blocks in enumerate(self.stage_sizes):
      for j in range(n_blocks):
        x = BasicBlock(self.width * 2 ** i, 2 if i > 0 and j == 0 else 1, conv, norm, fold)(x)
    x = jnp.mean(x, axis=(1, 2))
    if features:
      return x.astype(jnp.float32)
    return nn.Dense(self.num_classes, dtype=jnp.float32)(x.astype(jnp.float32))


def _conv_norm(conv, norm, x, fold, residual=None):
  """norm(conv(x)) (its ReLU if norm has one), or relu(residual + norm(conv(x))).

  With fold (an eval pass: the norm's running averages) and where oneDNN
  runs the conv, one oneDNN call computes it: the norm's per-channel affine
  map folded into the kernel and a bias, the residual add and the ReLU
  applied as the conv writes its output, so no pass over the activation
  remains outside the convolutions.
  """
  if fold:
    w = conv.variables['params']['kernel']
    strides = conv.strides
    strides = (strides, strides) if isinstance(strides, int) else tuple(strides)
    pads = ((conv.padding, conv.padding),) * 2
    if conv_cpu.cpu_impl(w.shape, strides, pads, x.shape, norm.dtype) == 'onednn':
      params, stats = norm.variables['params']['bn'], norm.variables['batch_stats']['bn']
      # Folded in float32, then rounded once to the conv's dtype.
      mul = params['scale'] * lax.rsqrt(stats['var'] + norm.epsilon)
      return onednn.conv_bias(x.astype(norm.dtype), (w * mul).astype(norm.dtype),
                              params['bias'] - stats['mean'] * mul, strides, pads,
                              relu=norm.relu or residual is not None, residual=residual)
  y = norm(conv(x))
  return y if residual is None else nn.relu(residual + y)


class _MaskedBatchNorm(nn.Module):
  """nn.BatchNorm that takes its batch mask at construction time, and a ReLU
  after it with relu.

  In training on one CPU device its arithmetic is oneDNN's (_OneDnnBatchNorm),
  the ReLU in the same pass; the variables are nn.BatchNorm's either way.
  """
  use_running_average: bool
  momentum: float
  epsilon: float
  dtype: Any
  mask: Any = None
  relu: bool = False

  @nn.compact
  def __call__(self, x):
    if (not self.use_running_average and x.ndim == 4 and x.dtype == self.dtype
        and onednn.runs(x.dtype, 'batch_norm')):
      return _OneDnnBatchNorm(self.momentum, self.epsilon, self.relu, name='bn')(x, self.mask)
    bn = nn.BatchNorm(use_running_average=self.use_running_average,
                      momentum=self.momentum, epsilon=self.epsilon,
                      dtype=self.dtype, name='bn')
    mask = None
    if self.mask is not None and not self.use_running_average:
      mask = self.mask.reshape((-1,) + (1,) * (x.ndim - 1))
      mask = jnp.broadcast_to(mask, x.shape)
    y = bn(x, mask=mask)
    return nn.relu(y) if self.relu else y


class _OneDnnBatchNorm(nn.Module):
  """nn.BatchNorm's training step by oneDNN: its variables (names, initial
  values, running-average rule), one read of the activation for the
  statistics where XLA:CPU writes the masked activation out first."""
  momentum: float
  epsilon: float
  relu: bool

  @nn.compact
  def __call__(self, x, mask):
    shape = x.shape[-1:]
    ra_mean = self.variable('batch_stats', 'mean', lambda s: jnp.zeros(s, jnp.float32), shape)
    ra_var = self.variable('batch_stats', 'var', lambda s: jnp.ones(s, jnp.float32), shape)
    scale = self.param('scale', nn.initializers.ones, shape, jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, shape, jnp.float32)
    rows = jnp.ones(x.shape[:1], jnp.float32) if mask is None else mask.astype(jnp.float32)
    y, mean, var = onednn.batch_norm(x, scale, bias, rows, self.epsilon, self.relu)
    if not self.is_initializing():
      ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
      ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
    return y


def resnet18(num_classes, width=64, dtype=jnp.float32):
  return ResNet(num_classes=num_classes, width=width, dtype=dtype)
