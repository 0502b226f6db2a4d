"""Conditional GAN augmentation: 3 hidden FC layers in G and D, Adam 1e-4,
batch 128, 1000 epochs (the paper). Widths, latent and beta1 are ours."""
from configs import default


def get_config():
  config = default.get_config()
  config.method = 'cgan'
  g = config.generator
  g.epochs = 1000
  g.lr = 1e-4
  g.b1 = 0.5  # the usual GAN setting (Radford et al.)
  g.hidden = (256, 512, 1024)  # G widens to the image; D uses the reverse
  g.latent = 64
  g.checkpoint_every = 100
  g.print_every = 50
  return config
