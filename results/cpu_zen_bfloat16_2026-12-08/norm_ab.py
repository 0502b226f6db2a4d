"""Tried, not kept: it needs the `group_norm` switch that PROVENANCE.md
describes in generators/base.py. The bfloat16 dcgan and diffusion steps
(width 64, batch 128) with their GroupNorms in float32
(generators.base.group_norm) and in bfloat16, built in one process and
timed in alternating blocks.

  .venv/bin/python results/cpu_zen_bfloat16_2026-12-08/norm_ab.py
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                                'cpu_concurrency_gn_2026-11-28'))
import alternate  # pylint: disable=wrong-import-position
from medaug_jax.generators import base  # pylint: disable=wrong-import-position


def step(model, norm_float32):
  base.NORM_FLOAT32 = norm_float32  # read when the step is traced (its warm-up)
  return alternate.step(model, 1, dtype='bfloat16', gen_block=3)


for model in sys.argv[1:] or ['diffusion', 'dcgan']:
  alternate.alternate(model, {'norm_f32': step(model, True), 'norm_bf16': step(model, False)},
                      blocks=6)
