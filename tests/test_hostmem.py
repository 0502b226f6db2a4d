"""The entry points keep freed host memory: a large block freed and allocated
again reuses its pages instead of faulting in fresh ones (BENCHMARKS.md); a
plain import of the package (report, a notebook) leaves malloc alone."""
import os
import subprocess
import sys

import pytest

_CODE = '''
import ctypes, resource
{setup}
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
n = 256 << 20
for _ in range(3):  # the last round counts
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  p = libc.malloc(n)
  ctypes.memset(p, 1, n)
  libc.free(p)
  faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults)
'''
_ENTRY_POINT = 'from medaug_jax import hostmem; hostmem.keep_freed_memory()'
_LIBRARY = 'import medaug_jax.run, medaug_jax.report'


def _faults(setup, malloc_env=None):
  env = dict(os.environ)
  env.pop('MEDAUG_JAX_MALLOC', None)
  if malloc_env:
    env['MEDAUG_JAX_MALLOC'] = malloc_env
  out = subprocess.run([sys.executable, '-c', _CODE.format(setup=setup)], env=env,
                       check=True, capture_output=True, text=True).stdout
  return int(out.split()[-1])


pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc mallopt')


def test_freed_blocks_are_reused_without_page_faults():
  # 256 MB is 65,536 pages of 4 KB: a fresh mapping faults on each of them.
  assert _faults(_ENTRY_POINT, 'default') > 30000
  assert _faults(_ENTRY_POINT, 'keep') < 1000


def test_import_leaves_malloc_alone():
  assert _faults(_LIBRARY) > 30000
