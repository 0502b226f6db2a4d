"""What every entry point (main, grid, bench) does around its work.

start(main) sets the process up before anything starts JAX: freed host
memory kept (hostmem.py), SIGTERM/Ctrl-C stopping at a step boundary
(interrupt.py). call(fn, workdir) turns the ways a run ends early into one
line and a non-zero exit: bad input, a full disk, a signal.
"""
import sys

from absl import app

from medaug_jax import hostmem, interrupt
from medaug_jax.errors import MedaugError
from medaug_jax.files import disk_full


def start(main):
  hostmem.keep_freed_memory()
  interrupt.install()
  app.run(main)


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
