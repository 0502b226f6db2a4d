"""Convolutional conditional VAE: the paper's cVAE objective (ELBO with a
Bernoulli decoder, the label fed to encoder and decoder) with convolutional
networks. Encoder: two stride-2 convolutions (28 -> 14 -> 7), then [h,
onehot(y)] -> mean and log-variance. Decoder: [z, onehot(y)] -> 7x7 -> twice
(nearest 2x upsampling, 3x3 convolution; as dcgan's G) -> pixel logits. New images are the decoder's
means for z ~ N(0, I) and the wanted label."""
import flax.linen as nn
import jax
import jax.numpy as jnp

from medaug_jax.generators.base import ConditionalVAE, Conv, UpConv


class ConvCVAE(nn.Module):
  width: int
  latent: int
  channels: int

  def setup(self):
    self.enc = [Conv(self.width, (4, 4), strides=(2, 2), padding=1),
                Conv(2 * self.width, (4, 4), strides=(2, 2), padding=1)]
    self.to_latent = nn.Dense(2 * self.latent)
    self.from_latent = nn.Dense(7 * 7 * 2 * self.width)
    self.dec = [UpConv(self.width, (3, 3), padding=1),
                UpConv(self.channels, (3, 3), padding=1)]

  def __call__(self, x, c, rng):
    h = x
    for conv in self.enc:
      h = nn.relu(conv(h))
    stats = self.to_latent(jnp.concatenate([h.reshape(h.shape[0], -1), c], -1))
    mean, logvar = jnp.split(stats, 2, -1)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape)
    return self.decode(z, c), mean, logvar

  def decode(self, z, c):
    """Bernoulli logits of every pixel, NHWC."""
    h = nn.relu(self.from_latent(jnp.concatenate([z, c], -1)))
    h = h.reshape(-1, 7, 7, 2 * self.width)
    h = nn.relu(self.dec[0](h))
    return self.dec[1](h)


class Objective(ConditionalVAE):

  FLAT = False

  def make_model(self, cfg):
    return ConvCVAE(cfg.width, cfg.latent, self.image_shape[-1])
