"""The benchmarks' PyTorch side, in a process of its own.

torch and our oneDNN convolutions (ops/onednn.py) link the same OpenMP
runtime, libgomp.so.1, and a process loads it once, with the settings of
whichever framework comes first: in one process, one of them would run
under the other's OpenMP settings (ours keeps idle OpenMP threads asleep,
torch's default lets them spin), and each one's idle threads would compete
with the other's. In a process of its own each runs as its users run it.
The benchmarks still interleave their timings: the parent calls into this
process for a timed block, then times its own.

  remote = Remote()
  remote.call('medaug_jax.bench.throughput:torch_peak', 2048, 'cpu')   # a value
  [(meta, run), ...] = remote.make('medaug_jax.bench.throughput:torch_runs', ...)

make's target returns (meta, fn) pairs; the fns stay in the child and each
`run(*args)` calls one there. Arguments and results travel by pickle. The
child starts with the parent's environment variables and applies the same
malloc setting (hostmem.keep_freed_memory) as the benchmarks' entry points.
"""
import importlib
import multiprocessing
import sys
import time
import traceback


def timed(fn, *args):
  """Seconds fn(*args) took: the float it returns, if it returns one (a
  function run in the worker times itself there, without the round trip to
  it), else measured here."""
  t = time.perf_counter()
  took = fn(*args)
  return took if isinstance(took, float) else time.perf_counter() - t


class RemoteError(RuntimeError):
  """An exception raised in the worker process (its traceback in the message)."""


def _resolve(target):
  module, _, name = target.partition(':')
  return getattr(importlib.import_module(module), name)


def _serve(conn):
  from medaug_jax import hostmem  # pylint: disable=g-import-not-at-top
  hostmem.keep_freed_memory()
  kept = []
  while True:
    try:
      msg = conn.recv()
    except EOFError:
      return
    op, args = msg[0], msg[1:]
    try:
      if op == 'call':
        out = _resolve(args[0])(*args[1])
      elif op == 'make':
        pairs = list(_resolve(args[0])(*args[1]))
        out = [(meta, len(kept) + i) for i, (meta, _) in enumerate(pairs)]
        kept += [fn for _, fn in pairs]
      elif op == 'run':
        out = kept[args[0]](*args[1])
      else:
        return
    except BaseException as e:  # pylint: disable=broad-except
      conn.send(('error', f'{type(e).__name__}: {e}\n{traceback.format_exc()}'))
      if isinstance(e, KeyboardInterrupt):
        return
      continue
    conn.send(('ok', out))


class InProcess:
  """The worker's interface, run in this process (--notorch_process, tests)."""

  def call(self, target, *args):
    """target(*args); target is 'package.module:function'."""
    return _resolve(target)(*args)

  def make(self, target, *args):
    """[(meta, run)]: the (meta, fn) pairs target(*args) gives."""
    return list(_resolve(target)(*args))

  def close(self):
    pass

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


class Remote(InProcess):
  """A worker process (spawned, so nothing of the parent's state comes along)."""

  def __init__(self):
    ctx = multiprocessing.get_context('spawn')
    self._conn, child = ctx.Pipe()
    self._proc = ctx.Process(target=_serve, args=(child,), daemon=True,
                             name='medaug_jax bench worker')
    self._proc.start()
    child.close()
    self._answered = False

  def _ask(self, *msg):
    try:
      self._conn.send(msg)
      status, out = self._conn.recv()
    except (EOFError, ConnectionError):
      self._proc.join(timeout=30)
      # Dead before its first answer, the usual cause is spawn re-importing
      # the parent's __main__ in the worker.
      main = getattr(sys.modules.get('__main__'), '__file__', None)
      hint = ('; the worker re-imports the main script, so start workers under '
              '`if __name__ == "__main__":` in a file or a module, not a script read from stdin'
              if main and not self._answered else '')
      raise RemoteError(f'the bench worker process died (exit code '
                        f'{self._proc.exitcode}){hint}') from None
    self._answered = True
    if status == 'error':
      raise RemoteError(out)
    return out

  def call(self, target, *args):
    """target(*args) in the worker; target is 'package.module:function'."""
    return self._ask('call', target, args)

  def make(self, target, *args):
    """[(meta, run)]: target(*args) in the worker gives (meta, fn) pairs; each
    fn stays there and run(*a) calls it, returning its result."""
    return [(meta, self._runner(i)) for meta, i in self._ask('make', target, args)]

  def _runner(self, i):
    return lambda *a: self._ask('run', i, a)

  def close(self):
    if self._proc.is_alive():
      self._conn.send(('stop',))
      self._proc.join(timeout=30)
    if self._proc.is_alive():
      self._proc.kill()
    self._conn.close()
