"""The diffusion generator on synthetic data: its samples carry their class,
guidance 0 is the conditional model and more guidance sharpens the class,
sampling is a fixed function of its key, a run stopped mid-training resumes
to the same samples, the scan and Python sampler loops agree, the EMA follows
its formula, and bad config values are one line."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from medaug_jax import config_lib, data, interrupt, quality, run
from medaug_jax.bench import sampler as sampler_bench
from medaug_jax.checkpoint import Checkpoints
from medaug_jax.errors import MedaugError
from medaug_jax.generators import diffusion, phase
from medaug_jax.quality import label_agreement
from test_generators import _train

# A UNet small enough to train in about a minute on 2 cores; 15 epochs leave
# it weak (label agreement about 0.6 unguided), so guidance has room to help.
TINY = dict(width=8, channel_mult=(1, 2), num_blocks=1, attention=False, norm_groups=4,
            lr=2e-3, ema=0.9, sample_steps=6, sample_batch=200)
STRONG_GUIDANCE = 3.0


@pytest.fixture(scope='module')
def trained():
  obj, ds, result = _train('diffusion', epochs=15, **TINY)
  return obj, ds, obj.sampling_params(result.state), result


def _agreement(ds, images, labels):
  split = data.Split(phase.quantise(images), labels)
  return label_agreement.compute(quality.Context(ds, split, None, None))['label_agreement']


def _noise(n, seed=7):
  return jax.random.normal(jax.random.key(seed), (n, 28, 28, 1))


def test_learns_and_guidance_sharpens_the_class(trained):
  obj, ds, params, result = trained
  assert result.history[-1]['loss'] < 0.5 * result.history[0]['loss']
  want = phase.requested_labels(2, 100)
  guided = obj.generate(params, _noise(200), want, guidance=STRONG_GUIDANCE)
  assert guided.shape == (200, 28, 28, 1) and 0 <= guided.min() and guided.max() <= 1
  strong = _agreement(ds, guided, want)
  assert strong >= 0.8
  assert len({im.tobytes() for im in phase.quantise(guided)}) > 150  # not one per class
  plain = _agreement(ds, obj.generate(params, _noise(200), want, guidance=0.0), want)
  assert strong > plain + 0.1, (plain, strong)


def test_guidance_zero_is_the_conditional_model(trained):
  obj, _, params, _ = trained
  want = phase.requested_labels(2, 8)
  # Through the guided path (conditional and null halves in one batch) at
  # weight 0, against the conditional network alone.
  through_guidance = obj.generate(params, _noise(16), want, guidance=0.0, guided=True)
  conditional = obj.generate(params, _noise(16), want, guided=False)
  np.testing.assert_allclose(through_guidance, conditional, atol=1e-5)
  assert np.abs(obj.generate(params, _noise(16), want, guidance=1.0) - conditional).max() > 1e-3


def test_sampling_is_deterministic_from_its_key(trained):
  obj, _, _, result = trained
  want = phase.requested_labels(2, 8)
  a = obj.sample(result.state, jax.random.key(3), want, None, None)
  np.testing.assert_array_equal(a, obj.sample(result.state, jax.random.key(3), want, None, None))
  assert np.abs(a - obj.sample(result.state, jax.random.key(4), want, None, None)).max() > 0.1


def test_stopped_run_resumes_to_the_same_samples(trained, tmp_path, monkeypatch):
  """SIGTERM at a step boundary of epoch 9 (7 steps an epoch), then the same
  training resumed: the EMA weights, and so the samples, are those of the
  uninterrupted run of the fixture."""
  obj, _, _, ref = trained
  calls = {'n': 0}

  def requested():
    calls['n'] += 1
    return 'SIGTERM' if calls['n'] == 60 else None

  monkeypatch.setattr(interrupt, 'requested', requested)
  with pytest.raises(interrupt.Interrupted):
    _train('diffusion', epochs=15, checkpoints=Checkpoints(str(tmp_path / 'ck')), **TINY)
  monkeypatch.setattr(interrupt, 'requested', lambda: None)
  _, _, resumed = _train('diffusion', epochs=15, checkpoints=Checkpoints(str(tmp_path / 'ck')),
                         **TINY)
  assert [r['loss'] for r in resumed.history] == [r['loss'] for r in ref.history]
  want = phase.requested_labels(2, 8)
  np.testing.assert_array_equal(obj.sample(resumed.state, jax.random.key(3), want, None, None),
                                obj.sample(ref.state, jax.random.key(3), want, None, None))


def test_scan_and_python_loops_agree(trained):
  obj, _, params, _ = trained
  want = phase.requested_labels(2, 5)  # 10 images in batches of 4: one padded
  obj.cfg.sample_batch = 4
  try:
    scan = obj.generate(params, _noise(10), want, guidance=1.0, loop='scan')
    python = obj.generate(params, _noise(10), want, guidance=1.0, loop='python')
  finally:
    obj.cfg.sample_batch = TINY['sample_batch']
  np.testing.assert_allclose(scan, python, atol=1e-5)
  whole = obj.generate(params, _noise(10), want, guidance=1.0, loop='python')
  np.testing.assert_allclose(python, whole, atol=1e-5)  # batching changes nothing


def test_sampler_benchmark_times_both_loops(tmp_path):
  cfg = config_lib.method_config('diffusion').generator
  cfg.update(dict(TINY, sample_steps=2))
  rows, diff = sampler_bench.run(cfg, num=6, repeats=1)
  assert [r['loop'] for r in rows] == ['scan', 'python']
  assert all(r['images_per_s'] > 0 and len(r['times_s']) == 1 for r in rows)
  assert diff < 1e-5  # the same ODE either way
  assert sampler_bench.markdown(rows).count('\n') == 3


def test_ema_of_weights_with_warmup():
  cfg = config_lib.method_config('diffusion').generator
  cfg.update(TINY, ema=0.5)
  obj = diffusion.Objective(cfg, 2, (28, 28, 1))
  ds = data.load_official('synthetic')
  state = obj.init(jax.random.key(0), ds.train.images[:1], ds.train.labels[:1])
  new, _ = jax.jit(obj.train_step)(state, ds.train.images[:8], ds.train.labels[:8],
                                   jnp.ones(8, bool), jax.random.key(1))
  # Step 0: decay min(0.5, 1/10) = 0.1.
  expect = jax.tree.map(lambda a, b: 0.1 * a + 0.9 * b, state.params, new.params)
  for a, b in zip(jax.tree.leaves(expect), jax.tree.leaves(new.model_state['ema'])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
  assert obj.sampling_params(new) is new.model_state['ema']


@pytest.mark.parametrize('changes,match', [
    ({'sample_steps': 0}, 'generator.sample_steps must be'),
    ({'guidance': -1.0}, 'generator.guidance must be >= 0'),
    ({'width': 12, 'norm_groups': 8}, 'generator.width .* divisible by config.generator.norm_groups'),
    ({'channel_mult': (1, 2, 2, 2)}, 'generator.channel_mult must be'),
    ({'sampler_loop': 'while'}, 'generator.sampler_loop must be one of'),
    ({'label_dropout': 1.0}, r'generator.label_dropout must be in \[0, 1\)'),
    ({'dtype': 'half'}, "generator.dtype must be 'float32' or 'bfloat16'"),
])
def test_bad_config_is_one_line(tmp_path, changes, match):
  overrides = {f'generator.{k}': v for k, v in changes.items()}
  with pytest.raises(MedaugError, match=match) as err:
    run.train_and_evaluate(tiny_config('diffusion', **overrides), str(tmp_path / 'w'))
  assert '\n' not in str(err.value)
  assert not (tmp_path / 'w').exists()
