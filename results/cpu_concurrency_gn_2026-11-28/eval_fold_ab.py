"""The ResNet eval pass with each conv and its norm as one oneDNN call
(folded) or as before (plain), in one process, alternating blocks of four
calls: python eval_fold_ab.py CH BLOCKS"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alternate  # pylint: disable=wrong-import-position
from medaug_jax.models import resnet  # pylint: disable=wrong-import-position

ch, blocks = int(sys.argv[1]), int(sys.argv[2])
folding, impls = resnet._conv_norm, {}  # pylint: disable=protected-access
for name, fn in (('plain', lambda conv, norm, x, fold, residual=None:
                  folding(conv, norm, x, False, residual)), ('folded', folding)):
  resnet._conv_norm = fn  # pylint: disable=protected-access
  impls[name] = alternate.step('resnet_eval', ch)
resnet._conv_norm = folding  # pylint: disable=protected-access
alternate.alternate(f'resnet_eval {ch}', impls, blocks, calls=4)
