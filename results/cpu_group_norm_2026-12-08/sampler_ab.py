"""The diffusion sampler (configs/diffusion_cpu.py: 300 images, guidance,
its Python loop of jitted Heun steps) with the one-pass group norm and with
Flax's, each from its own objective, alternating; seconds per 300 images.
Freshly initialised weights (the UNet's output layer starts at zero), so the
images say nothing; tests/test_onednn.py checks the values.
python results/cpu_group_norm_2026-12-08/sampler_ab.py [CONFIG]"""
import contextlib
import importlib
import statistics
import sys
import time

import jax
import numpy as np

from medaug_jax import generators
from medaug_jax.ops import onednn

cfg = importlib.import_module(f'configs.{sys.argv[1] if len(sys.argv) > 1 else "diffusion_cpu"}')
cfg = cfg.get_config().generator
contexts = {'one_pass': contextlib.nullcontext, 'flax': lambda: onednn.turned_off('group_norm')}
rng = np.random.RandomState(0)
images = rng.randint(0, 256, (8, 28, 28, 1)).astype(np.uint8)
labels = np.arange(8) % 2
noise = jax.random.normal(jax.random.key(1), (300, 28, 28, 1))
want = np.arange(300) % 2
objs, times = {}, {k: [] for k in contexts}
for name, ctx in contexts.items():
  with ctx():
    obj = generators.get('diffusion')(cfg, 2, (28, 28, 1))
    params = obj.sampling_params(obj.init(jax.random.key(0), images, labels))
    objs[name] = (obj, params)
    obj.generate(params, noise, want, loop='python')  # compiles
for _ in range(4):
  for name, ctx in contexts.items():
    obj, params = objs[name]
    with ctx():
      t = time.perf_counter()
      obj.generate(params, noise, want, loop='python')
      times[name].append(time.perf_counter() - t)
for name, ts in times.items():
  print(name, ' '.join(f'{t:.2f}' for t in ts), 'median', round(statistics.median(ts), 2), 's')
