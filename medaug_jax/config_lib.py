"""Configs found by name: method `m` is configs/m.py's get_config().

configs/ is a package beside medaug_jax (installed with it), in the form of
the Flax examples: each file's get_config() returns the whole single-run
config, so `--config=configs/cgan.py` and the grid's method 'cgan' agree.
Methods combine: 'dcgan+classic' lays what configs/classic.py changes from
the default over configs/dcgan.py, and 'dcgan@2' sets generator.ratio = 2.
"""
import importlib
import pkgutil

import ml_collections

from medaug_jax.errors import MedaugError

_MISSING = object()


def methods():
  """The method names: config files whose get_config().method is their own
  name (not default.py, the grids, nor profiles such as diffusion_cpu.py,
  which set another method's fields)."""
  package = importlib.import_module('configs')
  names = [m.name for m in pkgutil.iter_modules(package.__path__)
           if m.name != 'default' and not m.name.startswith(('grid', '_'))]
  return sorted(n for n in names
                if importlib.import_module(f'configs.{n}').get_config().method == n)


def default_config():
  return importlib.import_module('configs.default').get_config()


def method_config(name):
  """The single-run config of method `name` (see the module docstring); one
  line naming the choices for a part with no config file."""
  combined, _, ratio = name.partition('@')
  parts = combined.split('+')
  for part in parts:
    if part not in methods():
      raise MedaugError(f'unknown method {part!r}: there is no configs/{part}.py; choose '
                        'one of: ' + ', '.join(methods()))
  if len(parts) == 1 and not ratio:
    return importlib.import_module(f'configs.{name}').get_config()
  config, default = default_config(), default_config()
  for part in parts:
    own = importlib.import_module(f'configs.{part}').get_config()
    for key, value in changes(own, default).items():
      set_dotted(config, key, value)
  config.method = name
  if ratio:
    try:
      config.generator.ratio = float(ratio)
    except ValueError:
      raise MedaugError(f'method {name!r}: the ratio after @ must be a number.') from None
  return config


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
