"""SIGTERM (a scheduler or Cloud TPU VM taking the machine back) and Ctrl-C:
stop at the next step boundary with a checkpoint, rather than mid-write.

Entry points call install(); the trainer polls requested() between steps
(a Python flag: no device sync) and raises Interrupted after saving. A second
signal stops the process at once: checkpoints are atomic, so this loses at
most the work since the last one.
"""
import os
import signal
import sys

_EXIT_CODES = {'SIGTERM': 128 + signal.SIGTERM, 'SIGINT': 128 + signal.SIGINT}
_requested = None


class Interrupted(BaseException):
  """A run stopped on a signal after saving its state. A BaseException, like
  KeyboardInterrupt, so that no `except Exception` records it as a failure."""

  def __init__(self, signal_name, where):
    super().__init__(f'{signal_name}: stopped {where}')
    self.signal_name = signal_name
    self.where = where

  @property
  def exit_code(self):
    return _EXIT_CODES.get(self.signal_name, 1)


def _handler(signum, frame):
  del frame
  global _requested
  name = signal.Signals(signum).name
  if _requested is not None:
    os._exit(_EXIT_CODES.get(name, 1))  # pylint: disable=protected-access
  _requested = name
  print(f'\n[{name}] stopping at the next step boundary (send it again to stop now)',
        file=sys.stderr, flush=True)


def install():
  for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, _handler)


def requested():
  """The name of the signal received ('SIGTERM', 'SIGINT'), or None."""
  return _requested


def check(where):
  if _requested is not None:
    raise Interrupted(_requested, where)


def reset():
  global _requested
  _requested = None
