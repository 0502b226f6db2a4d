"""The ResNet-18 init's compilation at XLA's default and at lower optimisation
levels, and whether the initial values stay the same.

  .venv/bin/python results/cpu_bn_relu_init_2026-11-28/init_o1.py
"""
import time

import jax
import numpy as np

from medaug_jax import classifier
from medaug_jax.bench import end_to_end

obj = classifier.Classifier(end_to_end.recipe(3).classifier, 2, False, 5)
x, y, k = np.zeros((1, 28, 28, 1), np.uint8), np.zeros((1,), np.int32), jax.random.key(0)
ref = None
for opts in [None, {'xla_backend_optimization_level': 1}, {'xla_cpu_enable_fast_min_max': False},
             {'xla_llvm_disable_expensive_passes': True}]:
  f = jax.jit(obj.init, compiler_options=opts)
  t = time.perf_counter()
  lowered = f.trace(k, x, y).lower()
  t_lower = time.perf_counter() - t
  t = time.perf_counter()
  compiled = lowered.compile()
  t_compile = time.perf_counter() - t
  t = time.perf_counter()
  leaves = [np.asarray(a) for a in jax.tree.leaves(jax.block_until_ready(compiled(k, x, y)))]
  t_run = time.perf_counter() - t
  ref = ref or leaves
  differ = sum(int((a != b).sum()) for a, b in zip(ref, leaves))
  print(f'{opts}: trace+lower {t_lower:.2f} s, compile {t_compile:.2f} s, run {t_run:.2f} s, '
        f'values differing from the default: {differ} of {sum(a.size for a in ref)}', flush=True)
