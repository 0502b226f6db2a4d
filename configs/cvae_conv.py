"""Convolutional conditional VAE (medaug_jax/generators/cvae_conv.py): the
cVAE's ELBO and budget (Adam 1e-3, batch 128, 300 epochs) with convolutional
encoder and decoder (32 and 64 channels) and a 16-d latent."""
from configs import default


def get_config():
  config = default.get_config()
  config.method = 'cvae_conv'
  g = config.generator
  g.epochs = 300
  g.lr = 1e-3
  g.width = 32
  g.latent = 16
  return config
