"""Named random streams: every random draw of a run comes from (seed, name).

A stream's number is a hash of its name, so adding a stream never shifts the
draws of the others, and the names say in logs and code what each draw is.
"""
import zlib

import jax

GENERATOR_INIT = 'generator/init'
GENERATOR_TRAIN = 'generator/train'
GENERATOR_SAMPLE = 'generator/sample'
CLASSIFIER_INIT = 'classifier/init'
CLASSIFIER_TRAIN = 'classifier/train'
QUALITY_CAS = 'quality/cas'


def stream(key, name):
  """The key of stream `name` under `key` (a typed PRNG key)."""
  return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def raw_stream(key, name):
  """stream() as raw key data, the form the trainer stores and vmaps."""
  return jax.random.key_data(stream(key, name))
