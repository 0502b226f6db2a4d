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
_polls = 0  # requested()'s calls since jax.distributed.initialize()


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
  if _distributed() is not None:  # see requested()
    print(f'\n[{name}] the hosts of a distributed run stop together on SIGTERM only; '
          'send it again to stop this process now', file=sys.stderr, flush=True)
    return
  print(f'\n[{name}] stopping at the next step boundary (send it again to stop now)',
        file=sys.stderr, flush=True)


def install():
  for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, _handler)


def _distributed():
  """jax.distributed's state once initialized (even for one process: its
  preemption service then holds SIGTERM), else None. Asks no backend:
  jax.process_count() would start one (and take a GPU's memory) in processes
  that only wait, like the cluster dispatcher."""
  if 'jax' not in sys.modules:
    return None
  from jax._src import distributed  # pylint: disable=g-import-not-at-top
  return distributed.global_state if distributed.global_state.client is not None else None


def requested():
  """The name of the signal received ('SIGTERM', 'SIGINT'), or None.

  After jax.distributed.initialize() (multi-host runs) the processes must
  stop at the same call (every step is a collective across them), and
  SIGTERM goes to its preemption service, not to install()'s handler. There
  the answer is that service's: 'SIGTERM' at the same call on every process,
  once a notice reached any of them. The processes run the same program, so
  they call this equally often.
  """
  state = _distributed()
  if state is None:
    return _requested
  if state.preemption_sync_manager is None:  # jax_enable_preemption_service off
    return None
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  global _polls
  _polls += 1
  return 'SIGTERM' if multihost_utils.reached_preemption_sync_point(_polls) else None


def check(where):
  name = requested()
  if name is not None:
    raise Interrupted(name, where)


def reset():
  global _requested
  _requested = None
