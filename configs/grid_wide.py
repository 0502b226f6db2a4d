"""Beyond the paper: which augmentation helps on ~150 images per class?

  python -m medaug_jax.grid --config=configs/grid_wide.py --workdir=runs/wide
  python -m medaug_jax.report runs/wide

BreastMNIST, PneumoniaMNIST and RetinaMNIST (the sets these machines hold)
x {none, classic, ae, cvae, cgan, dcgan, cvae_conv, dcgan+classic, diffusion,
diffusion+classic} x 5 seeds
at the paper's budgets (classifier: ResNet-18, SGD 1e-3, 100 epochs; each
generator its own config file's budget). Sized for a GPU: see
configs/grid_wide_quick.py for a 2-core CPU. Add --config.ratios=0.5,1,2,5,10
to sweep the synthetic-to-real ratio of every generator method.
"""
from configs import grid

METHODS = ('none', 'classic', 'ae', 'cvae', 'cgan', 'dcgan', 'cvae_conv', 'dcgan+classic',
           'diffusion', 'diffusion+classic')


def get_config():
  config = grid.get_config()
  config.profile = 'wide'
  config.description = ("Classic, the paper's and convolutional generators, alone and "
                        "combined with classic augmentation, at the paper's budgets.")
  config.datasets = ('breastmnist', 'pneumoniamnist', 'retinamnist')
  config.methods = METHODS
  config.generators = grid.generator_overrides(METHODS)
  return config
