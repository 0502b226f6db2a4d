"""ResNet-18 in the MedMNIST 28x28 form (Flax Linen).

As in the MedMNIST reference: 3x3 stride-1 stem, no max-pool, BasicBlocks of
widths w, 2w, 4w, 8w (w = 64 in the paper), global average pool.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp


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
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype, padding='SAME')
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
