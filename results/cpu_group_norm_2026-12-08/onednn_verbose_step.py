"""One benchmark step (MODEL, CHANNELS; gen_block 1) after its warm-up, behind a
marker, for ONEDNN_VERBOSE=1:
ONEDNN_VERBOSE=1 python results/cpu_group_norm_2026-12-08/onednn_verbose_step.py MODEL CH"""
import sys
sys.path.insert(0, 'results/cpu_concurrency_gn_2026-11-28')
import alternate
impl = alternate.step(sys.argv[1], int(sys.argv[2]), gen_block=1)
print('----MARK----', flush=True)
impl.run(1)
