"""The step with Flax's GroupNorm and with group_norm_module's, in one
process, alternating blocks of two steps: python group_norm_ab.py MODEL CH BLOCKS"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flax.linen as nn  # pylint: disable=wrong-import-position

import alternate  # pylint: disable=wrong-import-position
import group_norm_module  # pylint: disable=wrong-import-position

model, ch, blocks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
flax_norm, impls = nn.GroupNorm, {}
for name, cls in (('flax', flax_norm), ('custom', group_norm_module.GroupNorm)):
  nn.GroupNorm = cls  # the generators look it up when traced
  impls[name] = alternate.step(model, ch)
nn.GroupNorm = flax_norm
alternate.alternate(f'{model} {ch}', impls, blocks)
