"""A run's workdir: which experiment it holds, whether it is finished, and
who is working in it.

Shared by the single run (run.py) and the grid, so both agree on when a
folder holds "the same experiment", when it is done, and that only one
process works in it at a time.

The lock rule: a process working in a folder holds an OS advisory lock
(flock) on its `.lock` file, which names the holder (host, pid, start time).
The kernel drops the lock when its process ends in any way, kill -9 included,
so a dead run never blocks a later one and there is no stale lock to clean
up. On network filesystems this rests on their lock support (NFSv4 drops a
dead client's locks when its lease expires, about 90 s); where a filesystem
has none, the run goes on unlocked, with a warning.
"""
import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import shutil
import socket

import ml_collections

from medaug_jax.errors import MedaugError
from medaug_jax.files import read_json, write_json

CONFIG = 'config.json'
RESULTS = 'results.json'
LOCK = '.lock'
# Keys that do not change what a run computes: a workdir made with other
# values of these still holds the same experiment.
NON_SEMANTIC_KEYS = ('data_root', 'classifier.print_every', 'generator.print_every',
                     'classifier.eval_batch_size', 'classifier.checkpoint_every',
                     'generator.checkpoint_every', 'classifier.checkpoint_seconds',
                     'generator.checkpoint_seconds', 'vmap_seeds', 'tensorboard',
                     'quality.reference.cache_dir')

# Keys added after runs were made, with the value that those runs computed
# with: a config.json without the key holds the same experiment as a config
# with this value, so upgrading does not orphan finished runs.
ADDED_KEYS = {'generator.dtype': 'float32', 'classifier.augment': 'none'}


def semantic(config):
  """The config as a dict without NON_SEMANTIC_KEYS, and without the
  ADDED_KEYS that have their old value: what a run computes."""
  d = json.loads(config.to_json_best_effort())
  for key in NON_SEMANTIC_KEYS + tuple(ADDED_KEYS):
    *path, last = key.split('.')
    node = d
    for p in path:
      node = node.get(p, {})
    if key in NON_SEMANTIC_KEYS or node.get(last) == ADDED_KEYS[key]:
      node.pop(last, None)
  return d


def holds(config, workdir):
  """True when workdir's config.json is this experiment's (None: no config)."""
  old = read_json(os.path.join(workdir, CONFIG))
  if old is None:
    return None
  return semantic(ml_collections.ConfigDict(old)) == semantic(config)


def finished(config, workdir):
  """The results of this experiment in workdir, or None."""
  if not holds(config, workdir):
    return None
  return read_json(os.path.join(workdir, RESULTS))


def prepare(config, workdir, overwrite=False):
  """Creates workdir, or checks it holds this same experiment.

  Returns the finished results if the run is already complete.
  """
  _refuse_file(workdir)
  same = holds(config, workdir)
  if same is False and not overwrite:
    raise MedaugError(f'{workdir} holds a run of a different config; choose another '
                      '--workdir or pass --overwrite to delete it.')
  if same is None and _contents(workdir) and not overwrite:
    raise MedaugError(f'{workdir} is not empty and holds no run config; choose '
                      'another --workdir or pass --overwrite.')
  if same:
    done = read_json(os.path.join(workdir, RESULTS))
    if done is not None:
      return done
  elif overwrite:
    for name in _contents(workdir):
      path = os.path.join(workdir, name)
      shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
  os.makedirs(workdir, exist_ok=True)
  write_json(os.path.join(workdir, CONFIG), json.loads(config.to_json_best_effort()))
  return None


def _refuse_file(folder):
  if os.path.exists(folder) and not os.path.isdir(folder):
    raise MedaugError(f'--workdir {folder} is a file, not a folder; choose another.')


def _contents(folder):
  """What a folder holds besides its lock file ([] if it does not exist)."""
  return [n for n in os.listdir(folder) if n != LOCK] if os.path.isdir(folder) else []


class Busy(MedaugError):
  """Another live process holds the folder's lock."""


@contextlib.contextmanager
def locked(folder, wait=False):
  """Holds `folder`'s lock for the block; Busy (one line naming the holder)
  when another process has it, or with `wait`, blocks until it is released.
  Refuses a folder it cannot write in."""
  _refuse_file(folder)
  path = os.path.join(folder, LOCK)
  try:
    os.makedirs(folder, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    raise MedaugError(f'cannot write in {folder} ({e.strerror}); choose a writable '
                      '--workdir.') from e
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      if not wait:
        raise Busy(f'{folder} is in use by {_holder(fd)}; wait for it to finish, or stop '
                   'it first (a process that has died holds no lock).') from None
      print(f'[lock] waiting for {_holder(fd)} to release {folder}', flush=True)
      fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as e:
      if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
        raise
      logging.warning('%s: this filesystem has no file locks (%s); running unlocked.',
                      folder, e.strerror)
    holder = {'host': socket.gethostname(), 'pid': os.getpid(),
              'started': datetime.datetime.now().isoformat(timespec='seconds')}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)
    yield
  finally:
    os.close(fd)  # closing drops the flock


def in_use(folder):
  """True when a live process holds `folder`'s lock (a look, not a claim)."""
  try:
    fd = os.open(os.path.join(folder, LOCK), os.O_RDONLY)
  except OSError:
    return False
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    return False
  except BlockingIOError:
    return True
  except OSError:
    return False
  finally:
    os.close(fd)


def _holder(fd):
  try:
    h = json.loads(os.pread(fd, 4096, 0).decode() or '{}')
    return f"pid {h['pid']} on {h['host']} (since {h['started']})"
  except (ValueError, KeyError, OSError):
    return 'another process'
