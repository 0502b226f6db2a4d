"""oneDNN's calls with and without has_side_effect, in one process,
alternating blocks of two steps: python side_effect_ab.py MODEL CH BLOCKS"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

import alternate  # pylint: disable=wrong-import-position
from medaug_jax.ops import onednn  # pylint: disable=wrong-import-position

model, ch, blocks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
side_effect = [False]


def _call(kind, out_shape, a, b, strides, pads):
  return jax.ffi.ffi_call(onednn._TARGETS[kind], jax.ShapeDtypeStruct(out_shape, a.dtype),  # pylint: disable=protected-access
                          vmap_method='sequential', has_side_effect=side_effect[0])(
      a, b, strides=np.asarray(strides, np.int64),
      pads=np.asarray([*pads[0], *pads[1]], np.int64))


onednn._call = _call  # pylint: disable=protected-access
impls = {}
for name, flag in (('plain', False), ('side_effect', True)):
  side_effect[0] = flag
  impls[name] = alternate.step(model, ch)
alternate.alternate(f'{model} {ch}', impls, blocks)
