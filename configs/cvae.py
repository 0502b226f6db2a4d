"""Conditional VAE augmentation: 2 hidden FC layers each side, ELBO,
Adam 1e-3, batch 128, 300 epochs (the paper). Widths/latent are ours."""
from configs import default


def get_config():
  config = default.get_config()
  config.method = 'cvae'
  g = config.generator
  g.epochs = 300
  g.lr = 1e-3
  g.hidden = (512, 256)
  g.latent = 16
  return config
