"""What every entry point (main, grid, bench) does around its work.

start(main) sets the process up before anything starts JAX: freed host
memory kept (hostmem.py), SIGTERM/Ctrl-C stopping at a step boundary
(interrupt.py), compiled programs kept on disk (compile_cache).
call(fn, workdir) turns the ways a run ends early into one line and a
non-zero exit: bad input, a full disk, a signal.
"""
import os
import sys

from absl import app

from medaug_jax import hostmem, interrupt
from medaug_jax.errors import MedaugError
from medaug_jax.files import disk_full, user_cache


def start(main):
  hostmem.keep_freed_memory()
  interrupt.install()
  compile_cache()
  app.run(main)


def compile_cache(environ=os.environ):
  """Turns on JAX's persistent compilation cache; returns its folder or None.

  Every run, seed and grid cell builds new jitted functions, so each
  compiled its programs anew: about 50 s in the first epoch of a width-64
  ResNet-18 run on a 2-core CPU (BENCHMARKS.md), and 7-42 s a cell on a GPU
  shared by grid workers. With the cache, a program compiles once per machine
  and JAX version and later runs load it. Folder: MEDAUG_JAX_XLA_CACHE, else
  $XDG_CACHE_HOME/medaug_jax/xla (~/.cache/...); MEDAUG_JAX_XLA_CACHE=off
  turns it off, and a JAX_COMPILATION_CACHE_DIR already set is left to JAX.
  The benchmarks do not call this: they time cold compilation.
  """
  wanted = environ.get('MEDAUG_JAX_XLA_CACHE', '')
  if wanted == 'off' or environ.get('JAX_COMPILATION_CACHE_DIR'):
    return None
  folder = wanted or user_cache('xla', environ=environ)
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_compilation_cache_dir', folder)
  return folder


def call(fn, workdir):
  """fn()'s result; exits with one line when fn stops early."""
  try:
    return fn()
  except MedaugError as e:
    sys.exit(f'error: {e}')
  except OSError as e:
    if not disk_full(e):
      raise
    sys.exit(f'error: no space left on the device ({e}); what was written before is '
             'intact. Free space and run the same command to resume.')
  except interrupt.Interrupted as e:
    print(f'{e.signal_name}: stopped {e.where}; the state is saved in {workdir}. Run the '
          'same command to resume.', file=sys.stderr)
    sys.exit(e.exit_code)
