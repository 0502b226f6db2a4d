"""Defaults shared by every run: the paper's protocol and budgets.

Override any field on the command line, e.g.
  python -m medaug_jax.main --config=configs/cvae.py --workdir=runs/x \
      --config.dataset=pneumoniamnist --config.seed=2 --config.classifier.epochs=20
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.dataset = 'breastmnist'  # a MedMNIST 2D flag, or synthetic / synthetic_rgb
  config.method = 'none'  # 'none' or a generator: a configs/<method>.py file
  config.seed = 0
  # Folder holding <dataset>.npz; '' -> $MEDMNIST_ROOT -> ~/.medmnist.
  config.data_root = ''
  # Grid runs: how a cell's seeds train (run.seed_mode). 'auto': seed by seed
  # on CPU; on GPU the generators vmapped and the ResNets seed by seed
  # (vmapped convolutions were slower there, BENCHMARKS.md); both vmapped on
  # TPU. 'true', 'generator' and 'false' force each.
  config.vmap_seeds = 'auto'
  # Per-epoch scalars and the sample grid as TensorBoard events in the workdir
  # (metrics.jsonl is written either way).
  config.tensorboard = True

  config.data = ml_collections.ConfigDict()
  config.data.subset = True  # the paper's 150-per-class subset (BreastMNIST: official splits)
  config.data.train_per_class = 150
  config.data.val_ratio = 9  # train:val = 9:1

  # ResNet-18 (28x28 form). The paper: SGD lr 1e-3, batch 128, 100 epochs.
  # The MedMNIST recipe instead: optimizer='adam', lr_milestones=(0.5, 0.75).
  c = config.classifier = ml_collections.ConfigDict()
  c.width = 64  # base width; ResNet-18 proper is 64
  # or bfloat16: mixed precision (float32 weights, statistics and loss), on
  # accelerators, and on CPUs with bfloat16 arithmetic (AVX512-BF16, AMX)
  # through oneDNN's bfloat16 kernels (BENCHMARKS.md, "bfloat16 on oneDNN").
  c.dtype = 'float32'
  c.optimizer = 'sgd'
  c.lr = 1e-3
  c.momentum = 0.9  # not in the paper; PyTorch SGD users usually set 0.9
  c.weight_decay = 0.0
  c.lr_milestones = ()  # fractions of training at which lr *= lr_decay
  c.lr_decay = 0.1
  c.batch_size = 128
  c.epochs = 100
  # Classic augmentation in the train step (medaug_jax/transforms.py): 'none'
  # (the paper) or 'standard', whose strengths are augment_params: a random
  # shift by up to crop_pad pixels, a left-right flip with probability flip,
  # rotation by up to `rotate` degrees and zoom by up to `scale`, brightness
  # shifts by up to `brightness` (of the [0, 1] range) and contrast factors in
  # 1 +- contrast. Mild on purpose: 28x28 images lose detail to larger warps.
  c.augment = 'none'
  c.augment_params = ml_collections.ConfigDict(dict(
      crop_pad=2, flip=0.5, rotate=10.0, scale=0.1, brightness=0.1, contrast=0.1))
  c.eval_batch_size = 1024
  # Resume checkpoints (89 MB at width 64): after the first epoch that brings
  # the epochs' own time since the last one to a minute (a hard kill loses at
  # most about that much training; SIGTERM/Ctrl-C saves where it stops), and
  # every checkpoint_every epochs when that is > 0. One save took 0.34-0.52 s
  # on a 2-core Xeon, so once per epoch (with the best state's save besides)
  # cost 2-6% of a 16 s CPU epoch and several GPU epochs.
  c.checkpoint_every = 0
  c.checkpoint_seconds = 60.0
  c.print_every = 1

  # Generator: filled in by the per-method configs.
  g = config.generator = ml_collections.ConfigDict()
  g.epochs = 300
  g.batch_size = 128
  g.lr = 1e-3
  g.b1 = 0.9
  g.hidden = (512, 256)
  g.latent = 32
  g.num_per_class = 150  # generated images added per class
  # > 0: add round(ratio x the real per-class count, train / classes) images
  # per class instead of num_per_class (the grid's ratio axis sets it).
  g.ratio = 0.0
  g.checkpoint_every = 50
  g.print_every = 25

  # Measures of the generated images (modules of medaug_jax/quality/), stored
  # in results.json under generator.quality.
  config.quality = ml_collections.ConfigDict()
  config.quality.metrics = ('label_agreement', 'kid', 'fd', 'prdc', 'memorisation')
  # Classification Accuracy Score: a second classifier training, on the
  # generated images only (quality/cas.py); on in the grid configs.
  config.quality.cas = False
  # The network the feature-based measures embed images with: a ResNet-18
  # trained once per dataset on its full official training split and cached
  # (quality/_reference.py; in $MEDAUG_CACHE or ~/.cache/medaug_jax unless
  # cache_dir is set). Its test AUC is reported with every measure, flagged
  # below auc_floor.
  r = config.quality.reference = ml_collections.ConfigDict()
  r.width = 16
  r.epochs = 10
  r.lr = 1e-3  # Adam
  r.seed = 0
  r.auc_floor = 0.7
  r.cache_dir = ''
  return config
