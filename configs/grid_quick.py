"""The quick profile: the three offline datasets x 4 methods x 3 seeds, sized
for a 2-core CPU (no accelerator).

  MEDMNIST_ROOT=../shared/data python -m medaug_jax.grid \
      --config=configs/grid_quick.py --workdir=runs/quick
  python -m medaug_jax.report runs/quick

What it shortens, against the paper profile (configs/grid.py):
  classifier  ResNet-18 width 16 (paper: 64), 8 epochs (paper: 100), Adam
              lr 1e-3 (paper: SGD lr 1e-3, which barely moves in 8 epochs of
              3-7 steps; Adam is the MedMNIST recipe's optimizer)
  generators  AE and CVAE 40 epochs (paper: 300), cGAN 100 (paper: 1000)
  seeds       3 (paper profile: 5), run one by one: on XLA:CPU a vmapped
              ResNet-18 (batched kernels -> grouped convolutions) was many times
              slower than the seeds in sequence (also on GPU, BENCHMARKS.md).
Everything else (subset protocol, 150 generated images per class, batch 128,
selection by validation AUC) is the paper's.
RetinaMNIST (colour, five ordinal grades, two grades below 150 images) covers
what the two grey binary sets cannot. Measured on the 2-core CPU: the 24 runs
of BreastMNIST and PneumoniaMNIST took 41m14s (sharing the CPU with one other
job); README.md has the three-dataset timing. Numbers from this profile are a
smoke-level look at the question, not a reproduction of Table 2.
"""
from configs import grid


def get_config():
  config = grid.get_config()
  config.profile = 'quick'
  config.description = (
      'Shortened budgets for a 2-core CPU: ResNet-18 width 16, 8 epochs, Adam '
      '1e-3; AE/CVAE 40 and cGAN 100 generator epochs; 3 seeds run one by one. '
      "Not the paper's budgets (see configs/grid_quick.py).")
  config.datasets = ('pneumoniamnist', 'breastmnist', 'retinamnist')
  config.seeds = (0, 1, 2)
  b = config.base
  b.vmap_seeds = 'false'
  b.classifier.width = 16
  b.classifier.epochs = 8
  b.classifier.optimizer = 'adam'
  b.classifier.lr = 1e-3
  b.classifier.print_every = 2
  b.classifier.checkpoint_every = 4  # resume granularity only, not semantic
  config.generators.ae.epochs = 40
  config.generators.cvae.epochs = 40
  config.generators.cgan.epochs = 100
  for m in ('ae', 'cvae', 'cgan'):
    config.generators[m].checkpoint_every = 25
    config.generators[m].print_every = 50
  return config
