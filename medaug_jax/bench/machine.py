"""What a benchmark ran on: the CPU model, its load, the Python build."""
import contextlib
import os
import platform


def info():
  """The CPU, its load and the Python build, for a benchmark's record."""
  out = {'platform': platform.platform(), 'python': platform.python_version(),
         'cpu_count': os.cpu_count(), 'processor': platform.processor()}
  try:
    with open('/proc/cpuinfo') as f:
      out['cpu'] = next(line.split(':', 1)[1].strip() for line in f
                        if line.startswith('model name'))
  except (OSError, StopIteration):
    pass
  with contextlib.suppress(OSError):
    out['loadavg_start'] = os.getloadavg()
  return out
