import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get('MEDMNIST_SHARED', os.path.join(ROOT, '..', 'shared', 'data'))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)


def tiny_config(base='none', dataset='synthetic', **overrides):
  """A run that finishes in seconds on 2 CPU cores."""
  from medaug_jax import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.method_config(base)
  config.dataset = dataset
  config.data.train_per_class = 24
  c = config.classifier
  # Width 1: the tests check the pipeline, not the ResNet's accuracy, and each
  # distinct XLA compile of it takes ~16 s less on 2 CPU cores than at width 4.
  # tests/test_grid.py's tiny_grid (and the command lines and notebook
  # settings that copy it) use these sizes too, so their compiled programs
  # are shared through the persistent compilation cache below.
  c.width, c.epochs, c.batch_size, c.eval_batch_size = 1, 2, 16, 64
  c.checkpoint_every = 1  # the resume tests need a checkpoint per epoch
  g = config.generator
  g.epochs, g.batch_size, g.num_per_class, g.checkpoint_every, g.print_every = 3, 16, 8, 1, 1
  # The reference network only embeds images for the measures, whose values
  # the tests compare with themselves: width 1 compiles fastest.
  config.quality.reference.update(width=1, epochs=2)
  for key, value in overrides.items():
    config_lib.set_dotted(config, key, value)
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
# Reference networks of the quality measures, trained once and kept here
# rather than in the user's ~/.cache.
os.environ.setdefault('MEDAUG_CACHE', os.path.join(ROOT, '.medaug_cache'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')


def read_events(folder):
  """[(tag, step, value)] of the TensorBoard event files in folder: a float
  for scalars, the PNG bytes for images."""
  import glob  # pylint: disable=g-import-not-at-top
  import struct  # pylint: disable=g-import-not-at-top
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  out = []
  for path in sorted(glob.glob(os.path.join(folder, 'events.out.tfevents.*'))):
    with open(path, 'rb') as f:
      blob = f.read()
    i = 0
    while i < len(blob):  # TFRecord: length, its CRC, the record, its CRC
      (n,) = struct.unpack('<Q', blob[i:i + 8])
      event = event_pb2.Event.FromString(blob[i + 12:i + 12 + n])
      i += 12 + n + 4
      for v in event.summary.value:
        value = v.image.encoded_image_string if v.HasField('image') else v.simple_value
        out.append((v.tag, event.step, value))
  return out
