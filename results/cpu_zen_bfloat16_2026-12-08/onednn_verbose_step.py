"""One benchmark step (diffusion, grey, width 64) after its warm-up, for
ONEDNN_VERBOSE=1: ONEDNN_VERBOSE=1 .venv/bin/python results/cpu_zen_bfloat16_2026-12-08/onednn_verbose_step.py bfloat16"""
import sys
sys.path.insert(0, 'results/cpu_concurrency_gn_2026-11-28')
import alternate
impl = alternate.step('diffusion', 1, dtype=sys.argv[1], gen_block=1)
print('----MARK----', flush=True)
impl.run(1)
