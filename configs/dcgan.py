"""Convolutional conditional GAN (medaug_jax/generators/dcgan.py): projection
discriminator with spectral normalisation, hinge loss, DiffAugment on real and
fake images, an EMA of G for sampling. Adam(2e-4, b1=0) as in SNGAN/BigGAN's
hinge-loss recipes; 1000 epochs (about 5,000 steps on BreastMNIST's 546
images at batch 128). Variants: loss='ns' | 'wgan-gp' (with d_steps=5,
spectral_norm=False), aux_weight=1.0 for ACGAN's class loss."""
from configs import default


def get_config():
  config = default.get_config()
  config.method = 'dcgan'
  g = config.generator
  g.epochs = 1000
  g.lr = 2e-4
  g.b1 = 0.0
  g.latent = 64
  g.width = 64  # D: w, 2w, 4w channels; G: 4w, 2w, w
  g.loss = 'hinge'
  g.d_steps = 1
  g.gp_weight = 10.0  # wgan-gp only
  g.spectral_norm = True
  g.aux_weight = 0.0  # > 0: ACGAN's auxiliary class loss
  g.diffaugment = 'color,translation,cutout'
  g.ema = 0.999
  # or 'bfloat16': bfloat16 activations and convolutions, float32 weights and
  # loss, as config.classifier.dtype. For accelerators: on a 2-core AMX Xeon
  # it was no faster than float32, and slower at small widths (BENCHMARKS.md,
  # "bfloat16 generators").
  g.dtype = 'float32'
  g.checkpoint_every = 100
  g.print_every = 50
  return config
