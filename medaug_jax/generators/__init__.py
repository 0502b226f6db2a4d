"""Generative models for augmentation, looked up by the config's name.

A generator module defines a Linen model and an objective class with
init / train_step (the trainer's protocol) and
sample(state, rng, labels, real_images, real_labels) -> float images in
[0, 1], and registers it with @register('name'). Adding a generator is one
module here plus one config file.
"""
import importlib

from medaug_jax.errors import MedaugError

REGISTRY = {}
_MODULES = ('ae', 'cvae', 'cgan')


def register(name):
  def wrap(cls):
    REGISTRY[name] = cls
    return cls
  return wrap


def get(name):
  for m in _MODULES:
    importlib.import_module(f'medaug_jax.generators.{m}')
  if name not in REGISTRY:
    raise MedaugError(f'unknown generator {name!r}; choose one of: '
                      + ', '.join(sorted(REGISTRY)) + " (or method 'none')")
  return REGISTRY[name]
