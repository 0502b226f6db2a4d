"""Keep freed host memory in the process instead of returning it to the OS.

XLA:CPU allocates each executable's temporary buffer (about 2.2 GB for a
ResNet-18 train step at batch 128) with malloc on every call and frees it at
the end. glibc serves such blocks with a fresh mmap each time, so every step
first-touches 2.2 GB of new pages: ~550k page faults and 1.5-2 s of kernel
time per step on a 2-core machine (BENCHMARKS.md). One malloc arena without
mmap and without trimming reuses the same pages instead; the cost is that the
process keeps its peak memory until it exits.

Called by the entry points (main, grid, bench) before JAX starts its CPU
client's threads (threads attached to an arena before this keep it); a
library import of medaug_jax (report, a notebook) leaves malloc alone. Skipped where JAX will run
on an accelerator (a GPU/TPU plugin is installed and JAX_PLATFORMS does not
ask for the CPU), since there host memory is not on the hot path. Set
MEDAUG_JAX_MALLOC=default to leave malloc alone everywhere, =keep to apply it
everywhere.
"""
import ctypes
import ctypes.util
import importlib.util
import os
import sys

# mallopt(3) parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8


def keep_freed_memory():
  """Returns True where glibc's malloc was told to reuse freed memory."""
  wanted = os.environ.get('MEDAUG_JAX_MALLOC', '')
  if wanted == 'default' or not sys.platform.startswith('linux'):
    return False
  if wanted != 'keep' and _accelerator_expected():
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    mallopt = libc.mallopt
  except (OSError, AttributeError):  # not glibc (musl, ...)
    return False
  mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
  # -1 as a size_t: never trim the heap top.
  return bool(mallopt(_M_ARENA_MAX, 1) and mallopt(_M_MMAP_MAX, 0)
              and mallopt(_M_TRIM_THRESHOLD, -1))


def _accelerator_expected():
  platforms = os.environ.get('JAX_PLATFORMS', '')
  if platforms:
    return platforms.split(',')[0].strip() not in ('cpu', '')
  return any(importlib.util.find_spec(m) is not None for m in ('jax_plugins', 'libtpu'))
