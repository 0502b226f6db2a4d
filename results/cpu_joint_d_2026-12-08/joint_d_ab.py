"""Our dcgan train step (width 64, batch 128) with D's real and fake passes
separate and joint (generator.joint_d), built in one process and timed in
alternating blocks (results/cpu_concurrency_gn_2026-11-28/alternate.py).

  .venv/bin/python results/cpu_joint_d_2026-12-08/joint_d_ab.py
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'cpu_concurrency_gn_2026-11-28'))
import alternate  # pylint: disable=g-import-not-at-top,wrong-import-position

for ch in (1, 3):
  impls = {f'joint{ch}': alternate.step('dcgan', ch, gen_block=3,
                                        generator_set=['joint_d=True']),
           f'separate{ch}': alternate.step('dcgan', ch, gen_block=3)}
  alternate.alternate(f'dcgan ch{ch}', impls, blocks=8)
