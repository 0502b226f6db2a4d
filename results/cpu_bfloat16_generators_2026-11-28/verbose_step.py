"""Three timed steps of our benchmark step (its model, channels, dtype from
argv), each between =====START and =====END lines, for ONEDNN_VERBOSE=1:

  ONEDNN_VERBOSE=1 [OMP_NUM_THREADS=1] .venv/bin/python \
      results/cpu_bfloat16_generators_2026-11-28/verbose_step.py dcgan 1 bfloat16 > LOG
  .venv/bin/python results/cpu_bfloat16_generators_2026-11-28/verbose_summary.py LOG
"""
import sys, time
sys.path.insert(0, 'results/cpu_concurrency_gn_2026-11-28')
import alternate
impl = alternate.step(sys.argv[1], int(sys.argv[2]), dtype=sys.argv[3], gen_block=1)
for i in range(3):
  print('=====START', flush=True)
  t = time.perf_counter(); impl.run(1); t = time.perf_counter() - t
  print('=====END %.1f ms' % (t * 1e3), flush=True)
