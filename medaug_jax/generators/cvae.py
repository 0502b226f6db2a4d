"""Conditional VAE (the paper's cVAE): the label is fed to the encoder and
the decoder, 2 hidden layers each side, ELBO with a Bernoulli decoder.
New images decode z ~ N(0, I) with the wanted label."""
import flax.linen as nn
import jax
import jax.numpy as jnp

from medaug_jax.generators.base import MLP, ConditionalVAE


class CondVAE(nn.Module):
  hidden: tuple
  latent: int
  out_dim: int

  def setup(self):
    self.encoder = MLP(tuple(self.hidden) + (2 * self.latent,))
    self.decoder = MLP(tuple(reversed(self.hidden)) + (self.out_dim,))

  def __call__(self, x, c, rng):
    mean, logvar = jnp.split(self.encoder(jnp.concatenate([x, c], -1)), 2, -1)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape)
    return self.decode(z, c), mean, logvar

  def decode(self, z, c):
    """Bernoulli logits of every pixel."""
    return self.decoder(jnp.concatenate([z, c], -1))


class Objective(ConditionalVAE):

  def make_model(self, cfg):
    return CondVAE(tuple(cfg.hidden), cfg.latent, self.dim)
