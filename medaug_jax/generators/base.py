"""What every generator objective shares: the trainer's protocol, one
network with one loss, and two players (a generator and a discriminator).

An objective is what the generic trainer (medaug_jax.trainer) trains:
  init(rng, images, labels) -> TrainState
  train_step(state, images, labels, mask, rng) -> (state, {name: scalar})
and what the generator phase samples from:
  sample(state, rng, labels, real_images, real_labels) -> float images in [0, 1]
Images arrive as stored (uint8 NHWC); `mask` marks the real rows of a batch.
"""
import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from medaug_jax.ops import conv_cpu, onednn
from medaug_jax.trainer import TrainState, masked_mean, optimizer_update

# The convolutions of the convolutional generators: the ResNet's own on CPU
# (conv_cpu: oneDNN, Winograd or im2col, by shape); XLA's elsewhere.
Conv = functools.partial(nn.Conv, conv_general_dilated=conv_cpu.conv_general_dilated)
# A Conv of its input upsampled 2x (nearest neighbour), in place of a
# transposed conv (dcgan.py); the same module and variables as
# Conv(upsample(x)), computed in sub-pixel form on CPU (2.25x fewer FLOPs).
UpConv = functools.partial(nn.Conv, conv_general_dilated=conv_cpu.upsample_conv_general_dilated)

_ACTIVATIONS = {None: lambda x: x, 'relu': nn.relu, 'swish': nn.swish}


class GroupNorm(nn.GroupNorm):
  """activation(nn.GroupNorm(...)(x)), activation None, 'relu' or 'swish',
  with Flax's module name and variables.

  On one CPU device a float32 or bfloat16 NHWC input takes
  onednn.group_norm: one pass for the statistics and one for the output (the
  activation in it), and the same backward. XLA:CPU ran Flax's module and the swish as a dozen passes:
  2-20x slower at the UNet's and dcgan's shapes (BENCHMARKS.md, "GroupNorm as one
  pass").
  """
  activation: str | None = None

  @nn.compact
  def __call__(self, x):
    if self.activation not in _ACTIVATIONS:
      raise ValueError(f'unknown activation {self.activation!r}; one of {list(_ACTIVATIONS)}')
    if not self._one_pass(x):
      return _ACTIVATIONS[self.activation](super().__call__(x))
    c = x.shape[-1]
    scale = self.param('scale', self.scale_init, (c,), self.param_dtype)
    bias = self.param('bias', self.bias_init, (c,), self.param_dtype)
    return onednn.group_norm(x, scale, bias, self.num_groups, self.epsilon, self.activation)

  def _one_pass(self, x):
    # Flax's output dtype is self.dtype, else promoted with the float32
    # parameters: the kernel writes x's own.
    out = self.dtype or jnp.promote_types(x.dtype, self.param_dtype)
    return (x.ndim == 4 and x.dtype in (jnp.float32, jnp.bfloat16) and out == x.dtype
            and self.param_dtype == jnp.float32 and self.num_groups
            and self.group_size is None and x.shape[-1] % self.num_groups == 0
            and self.reduction_axes is None and self.axis_name is None and self.use_bias
            and self.use_scale and onednn.runs(x.dtype, 'group_norm'))


class MLP(nn.Module):
  """Dense layers with `act` between them; the last layer is linear."""
  features: Sequence[int]
  act: Callable = nn.relu

  @nn.compact
  def __call__(self, x):
    for i, f in enumerate(self.features):
      x = nn.Dense(f)(x)
      if i + 1 < len(self.features):
        x = self.act(x)
    return x


def to_unit(images):
  """uint8 NHWC -> flat float pixels in [0, 1]."""
  return images.reshape(images.shape[0], -1).astype(jnp.float32) / 255.0


def condition(labels, num_classes):
  return jax.nn.one_hot(labels, num_classes)


def bernoulli_elbo(logits, x, mean, logvar):
  """The negative ELBO per example of a Bernoulli decoder (pixel logits) and
  a Gaussian posterior against N(0, I): (loss, {'rec': ..., 'kl': ...})."""
  rec = optax.sigmoid_binary_cross_entropy(logits, x).reshape(x.shape[0], -1).sum(-1)
  kl = 0.5 * jnp.sum(jnp.exp(logvar) + mean ** 2 - 1.0 - logvar, -1)
  return rec + kl, {'rec': rec, 'kl': kl}


def adam(cfg):
  return optax.adam(cfg.lr, b1=cfg.b1)


class Objective:
  """The configuration every generator objective keeps."""
  # Networks of flat pixel vectors (the paper's fully connected models) or of
  # NHWC images (convolutional ones).
  FLAT = True

  def __init__(self, cfg, num_classes, image_shape):
    self.check(cfg)
    self.cfg = cfg
    self.num_classes = num_classes
    self.image_shape = tuple(image_shape)
    self.dim = int(np.prod(image_shape))

  @staticmethod
  def check(cfg):
    """Raises MedaugError naming the key of a config value that cannot work
    (run.validate calls it before anything is written)."""
    del cfg

  def to_images(self, flat):
    return flat.reshape((-1,) + self.image_shape)

  def _inputs(self, images, labels):
    x = to_unit(images) if self.FLAT else images.astype(jnp.float32) / 255.0
    return x, condition(labels, self.num_classes)


class OneNetwork(Objective):
  """One network, one Adam, one loss.

  Subclasses define init_params(rng, x, c) and
  loss(params, x, c, rng) -> (per-example loss, {name: per-example value}).
  """

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.tx = adam(cfg)

  def init(self, rng, images, labels):
    params = self.init_params(rng, *self._inputs(images[:1], labels[:1]))
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=self.tx.init(params), model_state={})

  def train_step(self, state, images, labels, mask, rng):
    x, c = self._inputs(images, labels)

    def loss_fn(params):
      per_example, aux = self.loss(params, x, c, rng)
      return masked_mean(per_example, mask), {k: masked_mean(v, mask) for k, v in aux.items()}

    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    return state.apply_gradients(self.tx, grads), {'loss': loss, **aux}


def ranked_above(real_scores, fake_scores, mask):
  """D's accuracy as the fraction of (real, fake) pairs it scores in the right
  order: meaningful for every loss, where a sign threshold is not (a WGAN
  critic's scores have no zero)."""
  return masked_mean((real_scores > fake_scores).astype(jnp.float32), mask)


class TwoPlayer(Objective):
  """A generator G and a discriminator (critic) D, each with its own Adam.

  One train step makes `cfg.d_steps` D updates (WGAN-GP's n_critic; 1 for the
  paper's cGAN), each with fresh noise on the step's real batch, then one G
  update against the updated D. With cfg.ema > 0 an exponential moving
  average of G's weights is kept beside them, and sampling uses it. Subclasses
  define
    init_players(rng, x, c) -> ({'g': params, 'd': params}, D's other variables)
    d_loss(pd, pg, x, c, mask, rng, d_vars) -> (scalar, ({name: scalar}, d_vars))
    g_loss(pg, pd, x, c, mask, rng, d_vars) -> (scalar, {name: scalar})
  where d_vars are D's non-trained variables (spectral-norm vectors; {} for
  none), and D's aux should hold 'd_acc' (ranked_above) for the phase's
  collapse check.
  """
  PLAYERS = ('g', 'd')

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.tx = adam(cfg)
    self.d_steps = int(cfg.get('d_steps', 1))
    self.ema = float(cfg.get('ema', 0.0))

  def init(self, rng, images, labels):
    params, d_vars = self.init_players(rng, *self._inputs(images[:1], labels[:1]))
    model_state = {'d': d_vars}
    if self.ema:
      # A copy: the train step donates the state, and a buffer may go once.
      model_state['g_ema'] = jax.tree.map(jnp.copy, params['g'])
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state={k: self.tx.init(params[k]) for k in self.PLAYERS},
                      model_state=model_state)

  def train_step(self, state, images, labels, mask, rng):
    x, c = self._inputs(images, labels)
    d_rng, g_rng = jax.random.split(rng)
    pg, pd, od = state.params['g'], state.params['d'], state.opt_state['d']
    d_vars = state.model_state['d']
    for k in range(self.d_steps):
      (ld, (d_aux, d_vars)), grads = jax.value_and_grad(self.d_loss, has_aux=True)(
          pd, pg, x, c, mask, jax.random.fold_in(d_rng, k), d_vars)
      pd, od = optimizer_update(self.tx, grads, od, pd)
    (lg, g_aux), grads = jax.value_and_grad(self.g_loss, has_aux=True)(
        pg, pd, x, c, mask, g_rng, d_vars)
    pg, og = optimizer_update(self.tx, grads, state.opt_state['g'], pg)
    model_state = {'d': d_vars}
    if self.ema:
      model_state['g_ema'] = jax.tree.map(
          lambda e, p: self.ema * e + (1.0 - self.ema) * p, state.model_state['g_ema'], pg)
    return (state.replace(step=state.step + 1, params={'g': pg, 'd': pd},
                          opt_state={'g': og, 'd': od}, model_state=model_state),
            {'d_loss': ld, 'g_loss': lg, **d_aux, **g_aux})

  def sampling_params(self, state):
    """G's weights to sample with: their moving average where one is kept."""
    return state.model_state['g_ema'] if self.ema else state.params['g']


class ConditionalVAE(OneNetwork):
  """The cVAE objective (the paper's): the negative ELBO of a model whose
  __call__(x, c, rng) returns (pixel logits, mean, logvar) and whose
  decode(z, c) returns pixel logits; new images are the decoder's means for
  z ~ N(0, I) and the wanted label. Subclasses define make_model(cfg)."""

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.model = self.make_model(cfg)
    self._decode = jax.jit(lambda p, z, c: nn.sigmoid(
        self.model.apply(p, z, c, method=type(self.model).decode)))

  def init_params(self, rng, x, c):
    return self.model.init(rng, x, c, rng)

  def loss(self, params, x, c, rng):
    logits, mean, logvar = self.model.apply(params, x, c, rng)
    return bernoulli_elbo(logits, x, mean, logvar)

  def sample(self, state, rng, labels, real_images, real_labels):
    del real_images, real_labels
    z = jax.random.normal(rng, (len(labels), self.cfg.latent))
    c = condition(jnp.asarray(labels), self.num_classes)
    return self.to_images(self._decode(state.params, z, c))
