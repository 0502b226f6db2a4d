"""medaug_jax keeps freed host memory: a large block freed and allocated again
reuses its pages instead of faulting in fresh ones (BENCHMARKS.md)."""
import os
import subprocess
import sys

import pytest

_CODE = '''
import ctypes, resource
import medaug_jax
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


def _faults(malloc_env):
  env = dict(os.environ, MEDAUG_JAX_MALLOC=malloc_env)
  out = subprocess.run([sys.executable, '-c', _CODE], env=env, check=True,
                       capture_output=True, text=True).stdout
  return int(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc mallopt')
def test_freed_blocks_are_reused_without_page_faults():
  # 256 MB is 65,536 pages of 4 KB: a fresh mapping faults on each of them.
  assert _faults('default') > 30000
  assert _faults('keep') < 1000
