"""Atomic file writes: a reader (or a resumed run) sees the old file or the
new one, never half of one. And where medaug_jax keeps its caches."""
import contextlib
import errno
import json
import os
import tempfile

import numpy as np

from medaug_jax.errors import MedaugError


def user_cache(*names, environ=os.environ):
  """$XDG_CACHE_HOME/medaug_jax/<names>, ~/.cache/medaug_jax/<names> without it."""
  return os.path.join(
      environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'),
      'medaug_jax', *names)


def disk_full(error):
  """True when `error`, or an error it came from, is a full disk (ENOSPC).
  Libraries (orbax, tensorstore) wrap the OSError or keep only its text."""
  while error is not None:
    if getattr(error, 'errno', None) == errno.ENOSPC or 'No space left' in str(error):
      return True
    error = error.__cause__ or error.__context__
  return False


@contextlib.contextmanager
def atomic_path(path, suffix='.tmp'):
  """Yields a temporary path beside `path`; renames it onto `path` when the
  block finishes, and removes it when the block raises."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  # The suffix keeps the extension that writers (PIL, numpy) go by.
  fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.',
                             suffix=suffix)
  os.close(fd)
  try:
    yield tmp
    os.replace(tmp, path)
  except OSError as e:
    if disk_full(e):
      raise MedaugError(f'no space left on the device while writing {path}; the file '
                        'as it was before is intact. Free space and run the same command '
                        'to resume.') from e
    raise
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_atomic(path, text):
  with atomic_path(path) as tmp:
    with open(tmp, 'w') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())


def write_json(path, obj):
  write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + '\n')


def read_json(path):
  """The parsed file, or None when it is missing or unreadable."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError):
    return None


def save_npz(path, **arrays):
  with atomic_path(path, suffix='.npz') as tmp:
    np.savez_compressed(tmp, **arrays)
