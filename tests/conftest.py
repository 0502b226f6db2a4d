import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get('MEDMNIST_SHARED', os.path.join(ROOT, '..', 'shared', 'data'))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)


def tiny_config(base="none", dataset='synthetic', **overrides):
  """A run that finishes in seconds on 2 CPU cores."""
  from configs import default  # pylint: disable=g-import-not-at-top
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{base}").get_config() if base != "none" \
      else default.get_config()
  config.dataset = dataset
  config.data.train_per_class = 24
  c = config.classifier
  c.width, c.epochs, c.batch_size, c.eval_batch_size = 4, 2, 16, 64
  g = config.generator
  g.epochs, g.batch_size, g.num_per_class, g.checkpoint_every, g.print_every = 3, 16, 8, 1, 1
  for key, value in overrides.items():
    node = config
    *path, last = key.split('.')
    for p in path:
      node = node[p]
    node[last] = value
  return config


@pytest.fixture
def shared_data():
  if not os.path.exists(os.path.join(SHARED_DATA, 'breastmnist.npz')):
    pytest.skip(f'real MedMNIST files not found in {SHARED_DATA}')
  return SHARED_DATA


def run_main(args, env=None, timeout=600):
  """Runs medaug_jax.main in a fresh process (as a user would)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  full_env = dict(os.environ, **(env or {}))
  return subprocess.run([sys.executable, '-m', 'medaug_jax.main', *args], cwd=ROOT,
                        env=full_env, capture_output=True, text=True, timeout=timeout)


# Reuse XLA compilations across tests and the subprocesses they start: the
# ResNet-18 step compiles in tens of seconds on 2 cores, and many tests share it.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(ROOT, '.jax_cache'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')
