"""The paper's experiment grid: 8 datasets x 4 methods x 5 seeds (Table 2).

  python -m medaug_jax.grid --config=configs/grid.py --workdir=runs/table2
  python -m medaug_jax.report runs/table2

A cell is one (dataset, method) pair; its seeds share one config and, with
base.vmap_seeds, train together as one vmapped program. A method is found by
name: its config is configs/<method>.py. A cell's config is `base` (the
single-run config of configs/default.py), then what configs/<method>.py
changes from the default, then `generators.<method>`. Override any field for
the whole grid, e.g.
  --config.base.classifier.epochs=5          every cell
  --config.base.generator.num_per_class=50   every generator
  --config.generators.cgan.epochs=200        the cGAN cells only
  --config.datasets=breastmnist,pneumoniamnist --config.seeds=0,1,2
  --config.methods=none,cgan,classic,cgan+classic
  --config.ratios=0.5,1,2,5,10               sweep the synthetic-to-real ratio
A method's own generator settings (what its config file changes, and the
fields in PER_METHOD) win over base.generator: change e.g. generator epochs
through generators.<method>.epochs; base.generator holds the shared ones
(batch_size, num_per_class, checkpoint_every, print_every).
"""
import ml_collections

from configs import default
from medaug_jax import config_lib, generators

# The paper's eight 2D datasets (Table 2), in its order.
PAPER_DATASETS = ('pathmnist', 'dermamnist', 'octmnist', 'pneumoniamnist',
                  'breastmnist', 'organamnist', 'organcmnist', 'organsmnist')
METHODS = ('none', 'ae', 'cvae', 'cgan')
# Generator fields every generator sets for itself, so that they can be
# overridden per method from the command line even where a method keeps the
# default value.
PER_METHOD = ('epochs', 'lr', 'b1', 'hidden', 'latent')


def generator_overrides(methods):
  """generators.<generator>: each generator's own fields, from its config
  file (a method 'dcgan+classic' shares those of 'dcgan')."""
  base = default.get_config().generator
  out = ml_collections.ConfigDict()
  for name in dict.fromkeys(filter(None, map(generators.of_method, methods))):
    gen = config_lib.method_config(name).generator
    out[name] = ml_collections.ConfigDict(
        {k: v for k, v in gen.items() if k in PER_METHOD or base.get(k) != v})
  return out


def get_config():
  config = ml_collections.ConfigDict()
  config.profile = 'paper'
  config.description = ("The paper's protocol and budgets: ResNet-18 (width 64), "
                        'SGD 1e-3, batch 128, 100 epochs; AE/CVAE 300 and cGAN 1000 '
                        'generator epochs.')
  config.datasets = PAPER_DATASETS
  config.methods = METHODS
  config.seeds = (0, 1, 2, 3, 4)
  # The order workers take cells in: 'datasets' (each dataset's methods in
  # turn) or 'methods' (each method on every dataset in turn).
  config.order = 'datasets'
  # Synthetic-to-real ratios to sweep (e.g. (0.5, 1, 2, 5, 10)): each generator
  # method then runs once per ratio, as '<method>@<ratio>'. Empty: the
  # generators add generator.num_per_class images per class.
  config.ratios = ()
  config.base = default.get_config()
  config.base.quality.cas = True
  config.generators = generator_overrides(METHODS)
  # After a cell has results for all its seeds, delete its resume checkpoints
  # (a width-64 ResNet-18 with momentum is ~90 MB per seed).
  config.keep_checkpoints = False
  # Re-run cells that failed (failed.json) when the grid is started again.
  config.retry_failed = True
  # If a vmapped cell fails (e.g. one seed's GAN diverges), run its seeds one by
  # one so the good seeds still finish and only the bad ones are marked failed.
  config.fallback_sequential = True
  # Stop the grid at the first failing cell instead of recording it and going on.
  config.stop_on_error = False
  return config
