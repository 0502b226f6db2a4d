"""configs/grid_wide.py with budgets for a 2-core CPU (the quick profile's
classifier and paper generators, configs/grid_quick.py) and the convolutional
generators shortened to match: dcgan width 32 for 200 epochs, cvae_conv
60 epochs, diffusion as configs/diffusion_cpu.py. 3 seeds. A smoke-level
look, not a result to quote.

  MEDMNIST_ROOT=../shared/data python -m medaug_jax.grid \
      --config=configs/grid_wide_quick.py --workdir=runs/wide_quick
"""
from configs import default, diffusion_cpu, grid, grid_quick, grid_wide
from medaug_jax import config_lib


def get_config():
  config = grid_quick.get_config()
  config.profile = 'wide-quick'
  config.description = (grid_quick.get_config().description
                        + ' dcgan width 32, 200 epochs; cvae_conv 60 epochs; diffusion '
                        'as configs/diffusion_cpu.py.')
  config.datasets = grid_wide.get_config().datasets
  config.methods = grid_wide.METHODS
  quick = config.generators
  config.generators = grid.generator_overrides(grid_wide.METHODS)
  for name in quick:
    config.generators[name].update(quick[name])
  config.generators.dcgan.update(width=32, epochs=200, checkpoint_every=25, print_every=50)
  config.generators.cvae_conv.update(epochs=60, checkpoint_every=25, print_every=50)
  config.generators.diffusion.update(config_lib.changes(diffusion_cpu.get_config().generator,
                                                        default.get_config().generator))
  return config
