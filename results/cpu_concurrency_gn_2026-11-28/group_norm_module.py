"""A Flax GroupNorm module (same parameters as nn.GroupNorm) over group_norm._gn."""
import functools, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax, jax.numpy as jnp
import flax.linen as nn
from group_norm import _gn

class GroupNorm(nn.Module):
  num_groups: int = 32
  epsilon: float = 1e-6
  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    scale = self.param('scale', nn.initializers.ones, (c,))
    bias = self.param('bias', nn.initializers.zeros, (c,))
    return _gn(x, scale, bias, self.num_groups, self.epsilon)
