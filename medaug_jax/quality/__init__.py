"""Measures of generated images, found by name.

`config.quality.metrics` lists module names of this package; each module
defines compute(dataset, generated) -> {key: value}, where dataset is the
run's data.Dataset (real train/val/test splits) and generated the quantised
data.Split the generator made. The keys land in results.json under
generator.quality and become report columns.
"""
import importlib
import pkgutil

from medaug_jax.errors import MedaugError


def available():
  return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith('_'))


def check(names):
  unknown = [n for n in names if n not in available()]
  if unknown:
    raise MedaugError(f'unknown quality metric(s) {", ".join(map(repr, unknown))} in '
                      'config.quality.metrics; choose from: ' + ', '.join(available()))


def compute(names, dataset, generated):
  """{key: value} of every metric in `names`, in that order."""
  check(names)
  out = {}
  for name in names:
    out.update(importlib.import_module(f'{__name__}.{name}').compute(dataset, generated))
  return out
