"""verbose_step.py for the benchmark's torch twin (eager; autocast when the
dtype is bfloat16), in this process:

  ONEDNN_VERBOSE=1 .venv/bin/python \
      results/cpu_bfloat16_generators_2026-11-28/torch_step.py dcgan 1 bfloat16 > LOG
"""
import sys, time
import numpy as np
from medaug_jax import config_lib
from medaug_jax.bench import torch_twins
torch_twins.setup(0)
import torch
cfg = config_lib.method_config(sys.argv[1]).generator
cfg.dtype = sys.argv[3]
ch = int(sys.argv[2])
twin = torch_twins.generator_twin(sys.argv[1], cfg, 2, (28, 28, ch))
step = twin.train_fn(False)
rs = np.random.RandomState(0)
images = torch.from_numpy(rs.randint(0, 256, (512, 28, 28, ch)).astype(np.uint8))
labels = torch.from_numpy(rs.randint(0, 2, (512,)).astype(np.int32))
idx = torch.arange(128)
for _ in range(2): step(images, labels, idx)
for i in range(3):
  print('=====START', flush=True)
  t = time.perf_counter(); step(images, labels, idx).item(); t = time.perf_counter() - t
  print('=====END %.1f ms' % (t * 1e3), flush=True)
