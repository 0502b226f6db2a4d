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
from medaug_jax import config_lib, data, generators, quality, run
from medaug_jax.errors import MedaugError
from medaug_jax.generators import base, dcgan, phase
from medaug_jax.ops import conv_cpu, onednn
from medaug_jax.quality import label_agreement
from medaug_jax.trainer import masked_mean
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


def test_chance_warning():
  at = lambda agree: {'label_agreement': agree, 'label_agreement_chance': 0.5}
  assert 'do not carry their class' in phase.chance_warning(at(0.52), 300)  # p = 0.26
  assert phase.chance_warning(at(0.60), 300) is None  # p < 0.001
  assert phase.chance_warning(at(0.55), 100) and not phase.chance_warning(at(0.55), 1000)
  assert phase.chance_warning({'fd': 3.0}, 300) is None


@pytest.mark.parametrize('field,value,match', [
    ('loss', 'lsgan', 'generator.loss must be one of'),
    ('diffaugment', 'color,rotate', 'unknown config.generator.diffaugment'),
    ('d_steps', 0, 'generator.d_steps must be a positive'),
    ('ema', 1.0, r'generator.ema must be in \[0, 1\)'),
    ('dtype', 'float16', "generator.dtype must be 'float32' or 'bfloat16'"),
])
def test_bad_gan_config_is_one_line(tmp_path, field, value, match):
  with pytest.raises(MedaugError, match=match):
    run.train_and_evaluate(tiny_config('dcgan', **{f'generator.{field}': value}),
                           str(tmp_path / 'w'))
  assert not (tmp_path / 'w').exists()


def _loss_grads(name, dtype):
  """Each player's (loss, gradient) at one batch, and the program's text: a
  dcgan's D and G losses, the UNet's flow-matching loss at perturbed weights
  (its zero-initialised output conv would leave the rest without gradients)."""
  cfg = config_lib.method_config(name).generator
  cfg.update(width=8, dtype=dtype, **({'norm_groups': 4} if name == 'diffusion' else {}))
  ds = data.load_official('synthetic')
  images, labels = ds.train.images[:12], ds.train.labels[:12]
  obj = generators.get(name)(cfg, ds.num_classes, images.shape[1:])
  state = obj.init(jax.random.key(0), images[:1], labels[:1])
  x, c = obj._inputs(images, labels)
  mask, key = jnp.arange(12) < 10, jax.random.key(1)
  if name == 'dcgan':  # {player: (its weights, its loss of them)}
    pg, pd, d_vars = state.params['g'], state.params['d'], state.model_state['d']
    losses = {'d': (pd, lambda p: obj.d_loss(p, pg, x, c, mask, key, d_vars)[0]),
              'g': (pg, lambda p: obj.g_loss(p, pd, x, c, mask, key, d_vars)[0])}
  else:
    leaves, tree = jax.tree.flatten(state.params)
    keys = jax.random.split(jax.random.key(2), len(leaves))
    params = jax.tree.unflatten(tree, [v + 0.05 * jax.random.normal(k, v.shape)
                                       for v, k in zip(leaves, keys)])
    losses = {'unet': (params, lambda p: masked_mean(obj.loss(p, x, c, key)[0], mask))}
  out, text = {}, ''
  for player, (params, loss) in losses.items():
    fn = jax.jit(jax.value_and_grad(loss))
    out[player] = fn(params)
    text += fn.lower(params).as_text()
  return out, text


@pytest.mark.skipif(not onednn.runs(jnp.bfloat16, 'conv'),
                    reason='a CPU without bfloat16 arithmetic, or without oneDNN')
@pytest.mark.parametrize('name', ['dcgan', 'diffusion'])
def test_bfloat16_generator_runs_on_onednn_as_accurately_as_xla(name):
  """generator.dtype='bfloat16': the convolutions are oneDNN's bfloat16
  calls, the weights and their gradients stay float32, and losses and
  gradients are as close to float32's as XLA's own bfloat16 program's are."""
  want, _ = _loss_grads(name, 'float32')
  ours, text = _loss_grads(name, 'bfloat16')
  with onednn.turned_off():
    xla, xla_text = _loss_grads(name, 'bfloat16')
  calls = [line for line in text.splitlines() if 'medaug_onednn_conv_forward' in line]
  assert calls and all('bf16' in line for line in calls)
  assert 'medaug_onednn' not in xla_text

  def rel(a, b):
    a, b = jax.tree.leaves(a), jax.tree.leaves(b)
    return float(jnp.sqrt(sum(jnp.sum((u - v) ** 2) for u, v in zip(a, b))
                          / sum(jnp.sum(v ** 2) for v in b)))

  for player, (value, grads) in want.items():
    assert {v.dtype for v in jax.tree.leaves(ours[player][1])} == {jnp.dtype(jnp.float32)}
    for got in (ours, xla):
      assert abs(float(got[player][0]) - float(value)) < 2e-2 * abs(float(value)), player
    assert rel(ours[player][1], grads) < 1.25 * rel(xla[player][1], grads) + 1e-3, player


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
