"""Our side of the race alone for a few epochs; with JAX_LOG_COMPILES=1 JAX
logs each program's tracing and compilation time.

  JAX_LOG_COMPILES=1 .venv/bin/python results/overheads_cpu_2026-11-27/first_epochs.py 14
"""
import json
import sys
import time

from medaug_jax import hostmem
from medaug_jax.bench import end_to_end

t0 = time.perf_counter()
hostmem.keep_freed_memory()
r = end_to_end.run_ours(end_to_end.recipe(int(sys.argv[1]), data_root='../shared/data'),
                        '/tmp/first_epochs')
print('imports and run', time.perf_counter() - t0)
print(json.dumps(r, indent=0))
