"""Measures of generated images, found by name.

`config.quality.metrics` lists modules of this package (plus 'cas' when
`config.quality.cas` is on). A module defines either
  measure(real_features, generated_features) -> {key: value}
on reference-network features (_reference.py), computed overall and per class
(a class with fewer than the module's MIN_IMAGES on either side gets None and
a reason), or
  compute(ctx) -> {key: value}
on the run's images (ctx: a Context). The keys land in results.json under
generator.quality (per class under generator.quality.per_class), in
TensorBoard, and in the report's columns.
"""
import functools
import importlib
import json
import pkgutil

import numpy as np

from medaug_jax.errors import MedaugError

_REFERENCES = {}  # one reference network per (dataset, data root, config) and process


def available():
  return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith('_'))


def check(names):
  unknown = [n for n in names if n not in available()]
  if unknown:
    raise MedaugError(f'unknown quality metric(s) {", ".join(map(repr, unknown))} in '
                      'config.quality.metrics; choose from: ' + ', '.join(available()))


class Context:
  """What the measures of one run share: its data, the generated images, the
  run's config, and the reference features, computed once when first used."""

  def __init__(self, dataset, generated, config, key):
    self.dataset, self.generated, self.config = dataset, generated, config
    self.key = key  # the seed's key; measures draw from named streams of it
    self.pictures = []  # (file name, draw(path)) for the generator phase to save

  @functools.cached_property
  def reference(self):
    return reference(self.dataset.name, self.config)

  @functools.cached_property
  def real_features(self):
    return self.reference.features(self.dataset.train.images)

  @functools.cached_property
  def generated_features(self):
    return self.reference.features(self.generated.images)


def _per_class(module, ctx):
  out = {}
  need = getattr(module, 'MIN_IMAGES', 2)
  for c in range(ctx.dataset.num_classes):
    real = ctx.real_features[ctx.dataset.train.labels == c]
    fake = ctx.generated_features[ctx.generated.labels == c]
    if min(len(real), len(fake)) < need:
      out[str(c)] = {'reason': f'class {c} has {len(real)} real and {len(fake)} generated '
                               f'images; {module.__name__.split(".")[-1]} needs {need} of each'}
    else:
      out[str(c)] = module.measure(real, fake)
  return out


def reference(dataset_name, config):
  """The reference network of a run config's dataset, trained or read from
  the cache once per process."""
  from medaug_jax.quality import _reference  # pylint: disable=g-import-not-at-top
  cfg = config.quality.reference
  key = (dataset_name, config.get('data_root') or '', cfg.to_json_best_effort())
  if key not in _REFERENCES:
    _REFERENCES[key] = _reference.Reference(dataset_name, key[1] or None, cfg)
  return _REFERENCES[key]


def uses_reference(names):
  """Whether any of these measures embeds images with the reference network."""
  check(names)
  modules = [importlib.import_module(f'{__name__}.{n}') for n in names]
  return any(hasattr(m, 'measure') or getattr(m, 'USES_REFERENCE', False) for m in modules)


def names_of(cfg):
  """The measures config.quality asks for."""
  return tuple(cfg.metrics) + (('cas',) if cfg.cas else ())


def compute(names, ctx):
  """{key: value} of every measure in `names`, with 'per_class' and the
  reference network's own scores where features were used."""
  check(names)
  out, per_class = {}, {}
  for name in names:
    module = importlib.import_module(f'{__name__}.{name}')
    if hasattr(module, 'measure'):
      out.update(module.measure(ctx.real_features, ctx.generated_features))
      for c, values in _per_class(module, ctx).items():
        per_class.setdefault(c, {}).update(values)
    else:
      out.update(module.compute(ctx))
    if hasattr(module, 'picture'):
      ctx.pictures.append(module.picture(ctx))
  if 'reference' in ctx.__dict__:  # features were used
    out['reference_test_auc'] = ctx.reference.scores['test_auc']
    out['reference_below_floor'] = ctx.reference.below_floor
  if per_class:
    out['per_class'] = per_class
  return json.loads(json.dumps(out, default=_plain))


def _plain(value):
  return value.item() if isinstance(value, np.generic) else str(value)
