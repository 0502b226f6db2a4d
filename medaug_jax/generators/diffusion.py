"""Class-conditional diffusion by flow matching, with classifier-free guidance.

Objective: rectified flow / conditional flow matching (Liu et al., 2022,
arXiv:2209.03003; Lipman et al., 2022, arXiv:2210.02747). An image x0 in
[-1, 1] and noise e ~ N(0, I) are joined by the straight path
x_t = (1 - t) x0 + t e, t ~ U(0, 1); the UNet learns the path's velocity
e - x0 by mean squared error. New images integrate dx/dt = v(x, t, y) from
t = 1 (noise) to t = 0 with `sample_steps` deterministic Heun (or Euler)
steps, so a sample is a fixed function of its noise and label.

Classifier-free guidance (Ho & Salimans, 2022, arXiv:2207.12598): training
replaces a `label_dropout` fraction of the labels with a learned null class;
sampling uses v = v(y) + guidance * (v(y) - v(null)), so guidance 0 is the
conditional model's own velocity. An exponential moving average of the
weights (`ema`, warmed up as (1 + step) / (10 + step) so that short runs are
not dominated by the initial weights) is what sampling uses.

The network is a small UNet for 28x28 images: residual blocks with GroupNorm,
a sinusoidal time embedding plus a class embedding, `len(channel_mult)` <= 3
resolutions (28, 14, 7) of `num_blocks` blocks each, and optional
self-attention at the 7x7 level and the middle. dtype 'bfloat16' runs its
convolutions, attention and activations in bfloat16 (oneDNN's bfloat16
kernels on CPUs with bfloat16 arithmetic), with float32 weights, GroupNorm
statistics, velocity output and loss; the sampler's ODE state stays float32.
"""
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from medaug_jax.errors import MedaugError
from medaug_jax.generators.base import Conv, GroupNorm, OneNetwork, UpConv
from medaug_jax.trainer import COMPUTE_DTYPES

SOLVERS = ('heun', 'euler')
LOOPS = ('auto', 'scan', 'python')
# 'auto' on CPU: the scan. At configs/diffusion_cpu.py's size (300 guided
# images, 10 Heun steps, 16-wide UNet) on a quiet 2-core Xeon, interleaved
# calls took 13.6-17.3 s against 15.1-18.9 s for a Python loop of jitted
# steps, and 17.7-22.2 against 18.7-23.5 s in a second run (BENCHMARKS.md,
# "The diffusion sampler"). An 8-wide UNet sampling 64 images on a busy
# machine had favoured the Python loop (medians 2.6 against 3.4 s).
# Elsewhere 'auto' is the scan too: one dispatch per batch rather than one per step.
CPU_LOOP = 'scan'


def timestep_embedding(t, dim):
  """Sinusoidal features of t in [0, 1] (scaled by 1000 as in DDPM), [B, dim]."""
  half = dim // 2
  freqs = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / half)
  args = 1000.0 * t[:, None] * freqs[None]
  return jnp.concatenate([jnp.sin(args), jnp.cos(args)], -1)


class ResBlock(nn.Module):
  """GroupNorm-swish-conv twice, the embedding added between; the second conv
  starts at zero so every block starts as the identity."""
  features: int
  groups: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, emb):
    conv = functools.partial(Conv, self.features, dtype=self.dtype)
    norm = functools.partial(GroupNorm, self.groups, dtype=self.dtype, activation='swish')
    h = conv((3, 3))(norm()(x))
    h = h + nn.Dense(self.features, dtype=self.dtype)(nn.swish(emb))[:, None, None, :]
    h = conv((3, 3), kernel_init=nn.initializers.zeros)(norm()(h))
    if x.shape[-1] != self.features:
      x = conv((1, 1))(x)
    return x + h


class Attention(nn.Module):
  """Single-head self-attention over the pixels, residual, output at zero."""
  groups: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, hgt, wid, ch = x.shape
    h = GroupNorm(self.groups, dtype=self.dtype)(x).reshape(b, hgt * wid, ch)
    h = nn.MultiHeadDotProductAttention(num_heads=1, dtype=self.dtype,
                                        out_kernel_init=nn.initializers.zeros)(h)
    return x + h.reshape(x.shape)


class UNet(nn.Module):
  """Velocity v(x, t, y) for NHWC x; y = num_classes is the null class."""
  width: int
  channel_mult: tuple
  num_blocks: int
  attention: bool
  groups: int
  num_classes: int
  channels: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, t, y):
    emb_dim, dtype = 4 * self.width, self.dtype
    conv = functools.partial(Conv, dtype=dtype)
    emb = nn.Dense(emb_dim, dtype=dtype)(timestep_embedding(t, self.width))
    emb = nn.Dense(emb_dim, dtype=dtype)(nn.swish(emb))
    emb = emb + nn.Embed(self.num_classes + 1, emb_dim, dtype=dtype)(y)
    block = functools.partial(ResBlock, groups=self.groups, dtype=dtype)
    attend = lambda h: (Attention(self.groups, dtype)(h) if self.attention and h.shape[1] <= 7
                        else h)
    levels = len(self.channel_mult)
    h, skips = conv(self.width, (3, 3))(x), []
    for i, mult in enumerate(self.channel_mult):
      for _ in range(self.num_blocks):
        h = attend(block(self.width * mult)(h, emb))
      skips.append(h)
      if i + 1 < levels:
        h = conv(h.shape[-1], (3, 3), strides=(2, 2))(h)
    mid = self.width * self.channel_mult[-1]
    h = block(mid)(attend(block(mid)(h, emb)), emb)
    for i in reversed(range(levels)):
      h = jnp.concatenate([h, skips.pop()], -1)
      for _ in range(self.num_blocks):
        h = attend(block(self.width * self.channel_mult[i])(h, emb))
      if i:
        h = UpConv(h.shape[-1], (3, 3), dtype=dtype)(h)
    h = GroupNorm(self.groups, dtype=dtype, activation='swish')(h)
    return conv(self.channels, (3, 3), kernel_init=nn.initializers.zeros)(h).astype(jnp.float32)


def _whole(cfg, key, low=1):
  value = cfg[key]
  if isinstance(value, bool) or not isinstance(value, int) or value < low:
    raise MedaugError(f'config.generator.{key} must be a whole number >= {low}, got {value!r}.')


class Objective(OneNetwork):
  FLAT = False

  def __init__(self, cfg, num_classes, image_shape):
    super().__init__(cfg, num_classes, image_shape)
    self.ema = float(cfg.ema)
    self.model = UNet(cfg.width, tuple(cfg.channel_mult), cfg.num_blocks, bool(cfg.attention),
                      cfg.norm_groups, num_classes, self.image_shape[-1],
                      COMPUTE_DTYPES[cfg.get('dtype', 'float32')])
    self._step = jax.jit(self.solver_step, static_argnames='guided')
    self._scan = jax.jit(self.integrate_scan, static_argnames='guided')

  @staticmethod
  def check(cfg):
    for key in ('width', 'num_blocks', 'norm_groups', 'sample_steps', 'sample_batch'):
      _whole(cfg, key)
    mult = tuple(cfg.channel_mult)
    if not 1 <= len(mult) <= 3 or any(isinstance(m, bool) or not isinstance(m, int) or m < 1
                                      for m in mult):
      raise MedaugError('config.generator.channel_mult must be 1 to 3 whole numbers >= 1 '
                        f'(resolutions 28, 14, 7), got {cfg.channel_mult!r}.')
    if any(cfg.width * m % cfg.norm_groups for m in mult):
      raise MedaugError(f'config.generator.width ({cfg.width}) times every channel_mult '
                        f'{mult} must be divisible by config.generator.norm_groups '
                        f'({cfg.norm_groups}).')
    if not 0 <= cfg.label_dropout < 1:
      raise MedaugError('config.generator.label_dropout must be in [0, 1), got '
                        f'{cfg.label_dropout!r}.')
    if not cfg.guidance >= 0:
      raise MedaugError(f'config.generator.guidance must be >= 0, got {cfg.guidance!r}.')
    if not 0 <= cfg.ema < 1:
      raise MedaugError(f'config.generator.ema must be in [0, 1), got {cfg.ema!r}.')
    if cfg.solver not in SOLVERS:
      raise MedaugError(f'config.generator.solver must be one of {SOLVERS}, got {cfg.solver!r}.')
    if cfg.sampler_loop not in LOOPS:
      raise MedaugError(f'config.generator.sampler_loop must be one of {LOOPS}, '
                        f'got {cfg.sampler_loop!r}.')

  # Training.

  def init_params(self, rng, x, c):
    return self.model.init(rng, x, jnp.zeros(x.shape[0]), jnp.argmax(c, -1))

  def loss(self, params, x, c, rng):
    k_noise, k_t, k_drop = jax.random.split(rng, 3)
    x0 = 2.0 * x - 1.0
    noise = jax.random.normal(k_noise, x0.shape)
    t = jax.random.uniform(k_t, (x0.shape[0],))
    tb = t[:, None, None, None]
    y = jnp.where(jax.random.bernoulli(k_drop, self.cfg.label_dropout, (x0.shape[0],)),
                  self.num_classes, jnp.argmax(c, -1))
    v = self.model.apply(params, (1.0 - tb) * x0 + tb * noise, t, y)
    return jnp.mean((v - (noise - x0)) ** 2, axis=(1, 2, 3)), {}

  def init(self, rng, images, labels):
    state = super().init(rng, images, labels)
    if not self.ema:
      return state
    # A copy: the train step donates the state, and a buffer may go once.
    return state.replace(model_state={'ema': jax.tree.map(jnp.copy, state.params)})

  def train_step(self, state, images, labels, mask, rng):
    new, metrics = super().train_step(state, images, labels, mask, rng)
    if not self.ema:
      return new, metrics
    step = state.step.astype(jnp.float32)
    decay = jnp.minimum(self.ema, (1.0 + step) / (10.0 + step))
    ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                       state.model_state['ema'], new.params)
    return new.replace(model_state={'ema': ema}), metrics

  def sampling_params(self, state):
    """The weights to sample with: their moving average where one is kept."""
    return state.model_state['ema'] if self.ema else state.params

  # Sampling.

  def velocity(self, params, x, t, y, w, guided):
    """Guided velocity at time t (a scalar); guided=False: conditional only."""
    tb = jnp.full((x.shape[0],), t)
    if not guided:
      return self.model.apply(params, x, tb, y)
    # Conditional and null halves as one batch (GroupNorm is per example).
    both = self.model.apply(params, jnp.concatenate([x, x]), jnp.concatenate([tb, tb]),
                            jnp.concatenate([y, jnp.full_like(y, self.num_classes)]))
    cond, uncond = jnp.split(both, 2)
    return cond + w * (cond - uncond)

  def solver_step(self, params, x, y, t, t_next, w, guided):
    """One Heun (or Euler) step of the ODE from t to t_next."""
    d = self.velocity(params, x, t, y, w, guided)
    x_euler = x + (t_next - t) * d
    if self.cfg.solver == 'euler':
      return x_euler
    return x + (t_next - t) * 0.5 * (d + self.velocity(params, x_euler, t_next, y, w, guided))

  def integrate_scan(self, params, x, y, ts, w, guided):
    """The whole ODE as one lax.scan over the steps."""
    def body(x, t_pair):
      return self.solver_step(params, x, y, t_pair[0], t_pair[1], w, guided), None
    return jax.lax.scan(body, x, jnp.stack([ts[:-1], ts[1:]], -1))[0]

  def integrate_python(self, params, x, y, ts, w, guided):
    """The ODE as a Python loop of jitted steps: one dispatch per step."""
    for i in range(len(ts) - 1):
      x = self._step(params, x, y, ts[i], ts[i + 1], w, guided=guided)
    return x

  def loop(self):
    """'scan' or 'python': generator.sampler_loop, with 'auto' by backend."""
    choice = self.cfg.sampler_loop
    if choice == 'auto':
      choice = CPU_LOOP if jax.default_backend() == 'cpu' else 'scan'
    return choice

  def generate(self, params, noise, labels, guidance=None, loop=None, guided=None):
    """Images in [0, 1] from noise [N, H, W, C] and integer labels, in batches
    of generator.sample_batch (the last one padded, so one compilation).
    guided=False samples with the conditional model alone."""
    guidance = self.cfg.guidance if guidance is None else guidance
    guided = guidance != 0 if guided is None else guided
    integrate = {'scan': self._scan, 'python': self.integrate_python}[loop or self.loop()]
    ts = jnp.linspace(1.0, 0.0, self.cfg.sample_steps + 1)
    w = jnp.asarray(guidance, jnp.float32)
    labels = np.asarray(labels, np.int32)
    n = len(labels)
    if not n:
      return np.zeros((0,) + self.image_shape, np.float32)
    size = min(self.cfg.sample_batch, n)
    out = []
    for start in range(0, n, size):
      x, y = noise[start:start + size], labels[start:start + size]
      pad = size - len(y)
      if pad:
        x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])
        y = np.concatenate([y, np.zeros(pad, np.int32)])
      x = integrate(params, x, jnp.asarray(y), ts, w, guided=guided)
      out.append(np.asarray(x[:size - pad]))
    return np.clip((np.concatenate(out) + 1.0) / 2.0, 0.0, 1.0)

  def sample(self, state, rng, labels, real_images, real_labels):
    del real_images, real_labels
    noise = jax.random.normal(rng, (len(labels),) + self.image_shape)
    return self.generate(self.sampling_params(state), noise, labels)
