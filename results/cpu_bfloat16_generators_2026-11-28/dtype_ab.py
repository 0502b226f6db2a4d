"""Our generator steps (the benchmark's, width 64, grey) in bfloat16 against
float32, alternating in one process, 6 blocks of 3 steps each, ms a step.

  .venv/bin/python results/cpu_bfloat16_generators_2026-11-28/dtype_ab.py dcgan,diffusion
"""
import sys

sys.path.insert(0, 'results/cpu_concurrency_gn_2026-11-28')
import alternate  # pylint: disable=g-import-not-at-top,wrong-import-position

for model in sys.argv[1].split(','):
  ch = int(sys.argv[2]) if len(sys.argv) > 2 else 1
  impls = {'bf16': alternate.step(model, ch, dtype='bfloat16', gen_block=3),
           'f32': alternate.step(model, ch, dtype='float32', gen_block=3)}
  alternate.alternate(model, impls, blocks=6, calls=3)
