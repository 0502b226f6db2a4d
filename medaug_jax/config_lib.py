"""Configs found by name: method `m` is configs/m.py's get_config().

configs/ is a package beside medaug_jax (installed with it), in the form of
the Flax examples: each file's get_config() returns the whole single-run
config, so `--config=configs/cgan.py` and the grid's method 'cgan' agree.
"""
import importlib
import pkgutil

import ml_collections

from medaug_jax.errors import MedaugError

_MISSING = object()


def methods():
  """The method names that have a config file (all but default and grid*)."""
  package = importlib.import_module('configs')
  return sorted(m.name for m in pkgutil.iter_modules(package.__path__)
                if m.name != 'default' and not m.name.startswith(('grid', '_')))


def default_config():
  return importlib.import_module('configs.default').get_config()


def method_config(name):
  """configs/<name>.py's get_config(); one line naming the choices if none."""
  if name not in methods():
    raise MedaugError(f'unknown method {name!r}: there is no configs/{name}.py; choose '
                      'one of: ' + ', '.join(methods()))
  return importlib.import_module(f'configs.{name}').get_config()


def changes(config, reference):
  """{dotted key: value} of the leaves where `config` differs from (or is
  absent in) `reference`."""
  out = {}
  for key, value in config.items():
    ref = reference.get(key, _MISSING) if hasattr(reference, 'get') else _MISSING
    if hasattr(value, 'items'):
      out.update({f'{key}.{k}': v for k, v in changes(value, ref).items()})
    elif ref is _MISSING or ref != value:
      out[key] = value
  return out


def set_dotted(config, key, value):
  """config[a][b][c] = value for key 'a.b.c', making missing levels."""
  *path, last = key.split('.')
  node = config
  for p in path:
    if p not in node:
      node[p] = ml_collections.ConfigDict()
    node = node[p]
  node[last] = value
