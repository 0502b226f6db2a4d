"""Step-throughput benchmark: see medaug_jax/bench/throughput.py."""
from absl import app, flags

from medaug_jax.bench import throughput

# --help prints the __main__ module's docstring, --helpshort its key flags.
__doc__ = throughput.__doc__  # pylint: disable=redefined-builtin
flags.adopt_module_key_flags(throughput)

if __name__ == '__main__':
  app.run(throughput.main)
