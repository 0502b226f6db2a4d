"""dtype_ab.py at the wide-quick profile's dcgan width (32: --gen_width_div=2).

  .venv/bin/python results/cpu_bfloat16_generators_2026-11-28/dtype_ab_width32.py dcgan
"""
import sys

sys.path.insert(0, 'results/cpu_concurrency_gn_2026-11-28')
import alternate  # pylint: disable=g-import-not-at-top,wrong-import-position

model = sys.argv[1]
impls = {'bf16': alternate.step(model, 1, dtype='bfloat16', gen_block=3, gen_width_div=2),
         'f32': alternate.step(model, 1, dtype='float32', gen_block=3, gen_width_div=2)}
alternate.alternate(model + ' w/2', impls, blocks=6, calls=3)
