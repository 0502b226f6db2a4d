"""Convolutional conditional VAE: the paper's cVAE objective (ELBO with a
Bernoulli decoder, the label fed to encoder and decoder) with convolutional
networks. Encoder: two stride-2 convolutions (28 -> 14 -> 7), then [h,
onehot(y)] -> mean and log-variance. Decoder: [z, onehot(y)] -> 7x7 -> twice
(nearest 2x upsampling, 3x3 convolution; as dcgan's G) -> pixel logits. New images are the decoder's
means for z ~ N(0, I) and the wanted label."""
import flax.linen as nn
import jax
import jax.numpy as jnp

from medaug_jax.generators.base import OneNetwork, bernoulli_elbo, condition, upsample


class ConvCVAE(nn.Module):
  width: int
  latent: int
  channels: int

  def setup(self):
    self.enc = [nn.Conv(self.width, (4, 4), strides=(2, 2), padding=1),
                nn.Conv(2 * self.width, (4, 4), strides=(2, 2), padding=1)]
    self.to_latent = nn.Dense(2 * self.latent)
    self.from_latent = nn.Dense(7 * 7 * 2 * self.width)
    self.dec = [nn.Conv(self.width, (3, 3), padding=1),
                nn.Conv(self.channels, (3, 3), padding=1)]

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
    h = nn.relu(self.dec[0](upsample(h)))
    return self.dec[1](upsample(h))


class Objective(OneNetwork):
  FLAT = False

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.model = ConvCVAE(cfg.width, cfg.latent, self.image_shape[-1])
    self._decode = jax.jit(lambda p, z, c: nn.sigmoid(
        self.model.apply(p, z, c, method=ConvCVAE.decode)))

  def init_params(self, rng, x, c):
    return self.model.init(rng, x, c, rng)

  def loss(self, params, x, c, rng):
    logits, mean, logvar = self.model.apply(params, x, c, rng)
    return bernoulli_elbo(logits, x, mean, logvar)

  def sample(self, state, rng, labels, real_images, real_labels):
    del real_images, real_labels
    z = jax.random.normal(rng, (len(labels), self.cfg.latent))
    return self._decode(state.params, z, condition(jnp.asarray(labels), self.num_classes))
