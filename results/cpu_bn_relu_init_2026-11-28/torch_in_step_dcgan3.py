"""The same for the torch eager twin of the dcgan step (torch's bundled oneDNN
reads ONEDNN_VERBOSE too):

  ONEDNN_VERBOSE=profile_exec .venv/bin/python results/cpu_bn_relu_init_2026-11-28/torch_in_step_dcgan3.py 3 > /tmp/v.log
  python3 results/overheads_cpu_2026-11-27/onednn_verbose_sum.py /tmp/v.log
"""
import sys, time
from absl import flags
import torch
torch.set_num_threads(2)
from medaug_jax.bench import throughput
flags.FLAGS(['x'])
ch = int(sys.argv[1]) if len(sys.argv) > 1 else 3
o = throughput.options(models=['dcgan'], channels=[ch], torch_compile=False)
(impl,) = throughput.torch_impls('dcgan', ch, o, 'cpu')
impl.run(2)
sys.stdout.flush()
print('=== MEASURE', flush=True)
t = time.perf_counter(); impl.run(3); print('=== END wall per step ms', (time.perf_counter() - t) / 3 * 1e3, flush=True)
