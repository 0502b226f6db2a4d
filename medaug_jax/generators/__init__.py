"""Generative models for augmentation, found by name.

`method` = 'cgan' loads the module medaug_jax.generators.cgan and uses its
`Objective` class (the trainer's protocol plus `sample`, see base.py). A
method may combine a generator with other methods ('cgan+classic') and carry
a synthetic-to-real ratio ('cgan@2'); of_method() finds its generator.
Adding a generator is one module here and one config file configs/<name>.py;
nothing else lists generators.
"""
import importlib
import pkgutil

from medaug_jax.errors import MedaugError

# Modules of this package that are not generators.
_SUPPORT = ('base', 'phase')


def available():
  """The generator names, from the modules of this package."""
  return sorted(m.name for m in pkgutil.iter_modules(__path__)
                if m.name not in _SUPPORT and not m.name.startswith('_'))


def get(name):
  """The Objective class of generator `name`."""
  if name in _SUPPORT or name not in available():
    raise MedaugError(f'unknown generator {name!r}; choose one of: '
                      + ', '.join(available()) + " (or method 'none')")
  return importlib.import_module(f'{__name__}.{name}').Objective


def of_method(method):
  """The generator of a method name ('dcgan+classic@2' -> 'dcgan'), or None."""
  parts = method.partition('@')[0].split('+')
  found = [p for p in parts if p in available()]
  if len(found) > 1:
    raise MedaugError(f'method {method!r} combines generators {found}; a run has one.')
  return found[0] if found else None
