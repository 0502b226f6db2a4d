"""The convolutional generators (dcgan, cvae_conv) on synthetic data: their
samples carry their class; the GAN's variants, penalty, EMA and collapse
check; their config values are checked up front; their upsampling
convolutions match lax."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from medaug_jax import config_lib, data, quality, run
from medaug_jax.errors import MedaugError
from medaug_jax.generators import base, dcgan, phase
from medaug_jax.ops import conv_cpu
from medaug_jax.quality import label_agreement
from test_generators import _train

# Small and short enough for CI, long enough to learn the synthetic classes.
RECIPES = {
    'dcgan': dict(epochs=80, lr=1e-3, width=16, ema=0.0),
    'cvae_conv': dict(epochs=80, lr=2e-3, width=16, latent=4),
}


def _fit(name, **changes):
  return _train(name, **{**RECIPES[name], **changes})


@pytest.mark.parametrize('name', ['dcgan', 'cvae_conv'])
def test_samples_carry_their_class(name):
  obj, ds, result = _fit(name)
  want = phase.requested_labels(2, 100)
  imgs = phase.quantise(obj.sample(result.state, jax.random.key(7), want, None, None))
  assert imgs.shape == (200, 28, 28, 1)
  q = label_agreement.compute(quality.Context(ds, data.Split(imgs, want), None, None))
  assert q['label_agreement'] >= 0.8, q
  assert len({im.tobytes() for im in imgs}) > 150  # not one image per class


def test_gradient_penalty_matches_hand_computation():
  rs = np.random.default_rng(0)
  real, fake = rs.normal(size=(3, 2, 2, 1)), rs.normal(size=(3, 2, 2, 1))
  eps = np.array([0.0, 0.3, 1.0])
  w = rs.normal(size=(2, 2, 1))
  # A linear critic has gradient w everywhere.
  linear = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
  np.testing.assert_allclose(dcgan.gradient_penalty(linear, real, fake, jnp.asarray(eps)),
                             np.full(3, (np.linalg.norm(w) - 1) ** 2), rtol=1e-5)
  # 0.5 |x|^2 has gradient x: the penalty sees the interpolate itself.
  quadratic = lambda x: 0.5 * jnp.sum(x ** 2, axis=(1, 2, 3))
  x_hat = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
  want = (np.linalg.norm(x_hat.reshape(3, -1), axis=1) - 1) ** 2
  np.testing.assert_allclose(dcgan.gradient_penalty(quadratic, real, fake, jnp.asarray(eps)),
                             want, rtol=1e-5)


@pytest.mark.parametrize('variant', [
    dict(loss='wgan-gp', d_steps=2, spectral_norm=False),
    dict(loss='ns', aux_weight=1.0, diffaugment=''),
])
def test_variants_train(variant):
  obj, _, result = _fit('dcgan', epochs=2, width=8, **variant)
  last = result.history[-1]
  assert np.isfinite(last['d_loss']) and np.isfinite(last['g_loss'])
  assert 0.0 <= last['d_acc'] <= 1.0 and obj.d_steps == variant.get('d_steps', 1)


def test_ema_of_generator_weights():
  cfg = config_lib.method_config('dcgan').generator
  cfg.update(width=8, ema=0.5)
  obj = dcgan.Objective(cfg, 2, (28, 28, 1))
  ds = data.load_official('synthetic')
  state = obj.init(jax.random.key(0), ds.train.images[:1], ds.train.labels[:1])
  new, _ = jax.jit(obj.train_step)(state, ds.train.images[:8], ds.train.labels[:8],
                                   jnp.ones(8, bool), jax.random.key(1))
  expect = jax.tree.map(lambda a, b: 0.5 * a + 0.5 * b, state.params['g'], new.params['g'])
  for a, b in zip(jax.tree.leaves(expect), jax.tree.leaves(new.model_state['g_ema'])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
  assert obj.sampling_params(new) is new.model_state['g_ema']


def test_collapse_warning():
  steady = [{'epoch': e, 'd_acc': 0.7} for e in range(1, 21)]
  pinned = steady[:18] + [{'epoch': 19, 'd_acc': 1.0}, {'epoch': 20, 'd_acc': 0.995}]
  assert phase.collapse_warning(steady) is None
  assert 'may have collapsed' in phase.collapse_warning(pinned)
  vmapped = [{'d_acc': [r['d_acc'], s['d_acc']]} for r, s in zip(steady, pinned)]
  assert phase.collapse_warning(vmapped, 0) is None and phase.collapse_warning(vmapped, 1)
  assert phase.collapse_warning([{'loss': 1.0}]) is None


@pytest.mark.parametrize('field,value,match', [
    ('loss', 'lsgan', 'generator.loss must be one of'),
    ('diffaugment', 'color,rotate', 'unknown config.generator.diffaugment'),
    ('d_steps', 0, 'generator.d_steps must be a positive'),
    ('ema', 1.0, r'generator.ema must be in \[0, 1\)'),
])
def test_bad_gan_config_is_one_line(tmp_path, field, value, match):
  with pytest.raises(MedaugError, match=match):
    run.train_and_evaluate(tiny_config('dcgan', **{f'generator.{field}': value}),
                           str(tmp_path / 'w'))
  assert not (tmp_path / 'w').exists()


def test_upsample_is_nearest_resize():
  x = jax.random.normal(jax.random.key(0), (2, 7, 5, 3))
  np.testing.assert_array_equal(np.asarray(conv_cpu.upsample(x)),
                                np.asarray(jax.image.resize(x, (2, 14, 10, 3), 'nearest')))


def _up_conv_errors(kernel, strides, padding, shape, cout):
  """Max relative errors of UpConv's values and gradients (input, kernel, bias)
  against Flax's own nn.Conv (lax) of the upsampled map, the same variables."""
  kx, kp, kd = jax.random.split(jax.random.key(1), 3)
  x = jax.random.normal(kx, shape)
  up = base.UpConv(cout, kernel, strides=strides, padding=padding)
  ref = nn.Conv(cout, kernel, strides=strides, padding=padding)
  variables = up.init(kp, x)
  d = jax.random.normal(kd, jax.eval_shape(up.apply, variables, x).shape)

  def grads(f):
    return jax.jit(jax.value_and_grad(lambda v, x: jnp.sum(f(v, x) * d), (0, 1)))(variables, x)

  (_, got), (_, want) = grads(up.apply), grads(lambda v, x: ref.apply(v, conv_cpu.upsample(x)))
  pairs = [(up.apply(variables, x), ref.apply(variables, conv_cpu.upsample(x)))]
  pairs += list(zip(jax.tree.leaves(got), jax.tree.leaves(want)))
  return [float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))) for a, b in pairs]


# The generators' upsampling layers (7 -> 14 with many inputs, 14 -> 28 to an
# image head), an odd map, and a one-pixel map where every phase reads padding.
@pytest.mark.parametrize('shape,cout,padding', [((2, 7, 7, 32), 16, 1), ((2, 14, 14, 8), 1, 1),
                                                ((3, 5, 3, 4), 6, 'SAME'), ((1, 1, 1, 4), 2, 1)])
def test_upsampling_conv_in_subpixel_form_matches_lax(monkeypatch, shape, cout, padding):
  calls = []
  subpixel = conv_cpu.upsample_conv3x3
  monkeypatch.setattr(conv_cpu, 'upsample_conv3x3',
                      lambda x, w: calls.append(x.shape) or subpixel(x, w))
  errs = _up_conv_errors((3, 3), (1, 1), padding, shape, cout)
  assert calls, 'the 3x3 upsampling conv did not take the sub-pixel form'
  assert max(errs) < 1e-5, errs


@pytest.mark.parametrize('kernel,strides,padding', [((1, 1), (1, 1), 0), ((3, 3), (2, 2), 1),
                                                    ((3, 3), (1, 1), 'VALID')])
def test_other_upsampling_convs_convolve_the_upsampled_map(monkeypatch, kernel, strides,
                                                           padding):
  monkeypatch.setattr(conv_cpu, 'upsample_conv3x3', None)  # must not be reached
  errs = _up_conv_errors(kernel, strides, padding, (2, 5, 5, 8), 4)
  assert max(errs) < 1e-5, errs
