"""The generators on the synthetic dataset: they learn, sample images like
the real ones, condition on the label, resume exactly and stop on NaN."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import read_events, tiny_config
from medaug_jax import config_lib, data, generators, quality, run
from medaug_jax.checkpoint import Checkpoints
from medaug_jax.errors import MedaugError
from medaug_jax.generators import ae, phase
from medaug_jax.quality import label_agreement
from medaug_jax.trainer import fit, make_mesh, replicate

# Budgets large enough to learn the synthetic classes, small enough for CI.
BUDGET = {'ae': dict(epochs=30, lr=1e-3), 'cvae': dict(epochs=40, lr=1e-3),
          'cgan': dict(epochs=60, lr=2e-4)}


def _train(name, channels=1, epochs=None, checkpoints=None, evaluate=None, **fields):
  cfg = config_lib.method_config(name).generator
  cfg.update({**BUDGET.get(name, {}), **fields})
  cfg.epochs = epochs or cfg.epochs
  ds = data.paper_subset(data.load_official('synthetic_rgb' if channels == 3 else 'synthetic'),
                         seed=0, train_per_class=100)
  obj = generators.get(name)(cfg, ds.num_classes, ds.train.images.shape[1:])
  mesh = make_mesh()
  state = replicate(obj.init(jax.random.key(0), ds.train.images[:1], ds.train.labels[:1]), mesh)
  result = fit(obj, state, replicate(jnp.asarray(ds.train.images), mesh),
               replicate(jnp.asarray(ds.train.labels), mesh), phase=name,
               epochs=cfg.epochs, batch_size=32, rng=jax.random.key_data(jax.random.key(1)),
               mesh=mesh, checkpoints=checkpoints, checkpoint_every=2, evaluate=evaluate,
               print_every=0)
  return obj, ds, result


@pytest.fixture(scope='module')
def trained():
  return {name: _train(name) for name in ('ae', 'cvae', 'cgan')}


def _loss_key(name):
  return 'g_loss' if name == 'cgan' else 'loss'


def _class_means(images, labels):
  return np.stack([images[labels == c].astype(np.float32).mean(0) for c in range(2)])


@pytest.mark.parametrize('name', ['ae', 'cvae', 'cgan'])
def test_learns_and_samples_images_like_the_real_ones(trained, name):
  obj, ds, result = trained[name]
  if name != 'cgan':
    assert result.history[-1]['loss'] < 0.8 * result.history[0]['loss']
  want = phase.requested_labels(2, 50)
  q = phase.quantise(obj.sample(result.state, jax.random.key(5), want, ds.train.images,
                                ds.train.labels))
  assert q.dtype == np.uint8 and q.shape == (100, 28, 28, 1)
  # Trained: each class's mean image is far closer to the real one than an
  # untrained generator's (which is how a GAN's learning shows; its losses
  # need not fall).
  untrained = obj.init(jax.random.key(0), ds.train.images[:1], ds.train.labels[:1])
  q0 = phase.quantise(obj.sample(untrained, jax.random.key(5), want, ds.train.images,
                                 ds.train.labels))
  real = _class_means(ds.train.images, ds.train.labels)
  dist = lambda imgs: np.abs(_class_means(imgs, want) - real).mean()
  assert dist(q) < 0.5 * dist(q0), (dist(q), dist(q0))
  assert dist(q) < 20  # grey levels, of 255
  # Not one image repeated: most samples are distinct.
  assert len({im.tobytes() for im in q}) > 80


@pytest.mark.parametrize('name', ['cvae', 'cgan'])
def test_samples_carry_their_class(trained, name):
  obj, ds, result = trained[name]
  want = phase.requested_labels(2, 100)
  imgs = phase.quantise(obj.sample(result.state, jax.random.key(7), want, None, None))
  agreement = lambda labels: label_agreement.compute(
      quality.Context(ds, data.Split(imgs, labels), None, None))
  q = agreement(want)
  assert q['label_agreement'] >= 0.8, q
  assert q['label_agreement_ceiling'] >= 0.9 and q['label_agreement_chance'] == 0.5
  # The same images with their labels swapped disagree.
  assert agreement(1 - want)['label_agreement'] <= 0.2


def test_ae_uses_every_image_before_repeating(trained):
  rs = np.random.default_rng(0)
  counts = np.bincount(ae.spread_draw(rs, np.arange(4), 10), minlength=4)
  assert sorted(counts.tolist()) == [2, 2, 3, 3]
  assert len(set(ae.spread_draw(rs, np.arange(10), 7).tolist())) == 7
  obj, ds, result = trained['ae']
  few = np.flatnonzero(ds.train.labels == 0)[:3]
  labels = np.zeros(7, np.int32)
  made = np.asarray(obj.sample(result.state, jax.random.key(3), labels, ds.train.images[few],
                               ds.train.labels[few]))
  uniques, counts = np.unique(made.reshape(7, -1), axis=0, return_counts=True)
  assert len(uniques) == 3 and sorted(counts.tolist()) == [2, 2, 3]


def test_ae_beats_mean_image(trained):
  obj, ds, result = trained['ae']
  x = ds.test.images.reshape(len(ds.test), -1).astype(np.float32) / 255
  rec = np.asarray(obj._reconstruct(result.state.params, jnp.asarray(x)))
  mean_img = ds.train.images.reshape(len(ds.train), -1).mean(0) / 255
  assert np.mean((rec - x) ** 2) < 0.5 * np.mean((mean_img - x) ** 2)


def test_colour_images():
  obj, ds, result = _train('cvae', channels=3, epochs=2)
  imgs = obj.sample(result.state, jax.random.key(0), np.array([0, 1]), None, None)
  assert imgs.shape == (2, 28, 28, 3)


@pytest.mark.parametrize('name', ['cgan', 'cvae'])
def test_resume_inside_generator_training(tmp_path, name):
  _, _, ref = _train(name, epochs=6)

  class Killed(Exception):
    pass

  def die(state, epoch, history):
    if epoch == 4:  # after the epoch-2 checkpoint and before the epoch-4 one
      raise Killed()
    return {}

  ckpt = Checkpoints(str(tmp_path / 'ck'))
  with pytest.raises(Killed):
    _train(name, epochs=6, checkpoints=ckpt, evaluate=die)
  assert ckpt.latest_step() == 2 * -(-200 // 32)  # steps of 2 epochs of 200 images
  _, _, resumed = _train(name, epochs=6, checkpoints=Checkpoints(str(tmp_path / 'ck')))
  for a, b in zip(jax.tree.leaves(ref.state.params), jax.tree.leaves(resumed.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert [r[_loss_key(name)] for r in ref.history] == \
      [r[_loss_key(name)] for r in resumed.history]


def test_forced_nan_stops_cleanly(tmp_path):
  cfg = tiny_config('cgan', **{'generator.lr': float('inf')})
  with pytest.raises(MedaugError, match='diverged'):
    run.train_and_evaluate(cfg, str(tmp_path))
  assert not (tmp_path / 'results.json').exists()
  assert not (tmp_path / 'generated.npz').exists()


@pytest.mark.parametrize('method', ['ae', 'cvae', 'cgan'])
def test_augmented_run_end_to_end(tmp_path, method):
  cfg = tiny_config(method)
  res = run.train_and_evaluate(cfg, str(tmp_path))
  assert res['sizes']['generated'] == 16 and res['sizes']['train'] == 48 + 16
  assert res['generator']['name'] == method
  for f in ('samples.png', 'generated.npz', 'generator.json'):
    assert os.path.exists(tmp_path / f)
  with np.load(tmp_path / 'generated.npz') as z:
    assert z['images'].dtype == np.uint8 and np.bincount(z['labels']).tolist() == [8, 8]
    saved = data.Split(z['images'], z['labels'])
  # The recorded measures are those of the saved images against this run's data.
  measured = res['generator']['quality']
  ctx = quality.Context(data.load(cfg), saved, cfg, None)
  assert measured['label_agreement'] == label_agreement.compute(ctx)['label_agreement']
  assert measured['kid'] == quality.compute(('kid',), ctx)['kid']
  assert {'fd', 'precision', 'recall', 'density', 'coverage', 'memorisation', 'dcr_ratio',
          'reference_test_auc', 'per_class'} <= set(measured)
  assert os.path.exists(tmp_path / 'copies.png')
  phases = {l.split('"phase": ')[1].split('"')[1] for l in open(tmp_path / 'metrics.jsonl')}
  assert phases == {f'generator:{method}', 'classifier'}
  # TensorBoard: every epoch's scalars of both phases, and the sample grid.
  events = read_events(str(tmp_path))
  steps = lambda tag: sorted(step for t, step, _ in events if t == tag)
  assert steps('classifier/val_auc') == [1, 2]
  assert steps(f'generator/{method}/' + ('g_loss' if method == 'cgan' else 'loss')) == [1, 2, 3]
  (png,) = [v for t, _, v in events if t == f'generator/{method}/samples']
  assert png.startswith(b'\x89PNG')
  (kid_event,) = [v for t, _, v in events if t == 'quality/kid']
  assert kid_event == pytest.approx(measured['kid'], rel=1e-6)


def test_real_colour_five_grade_run(tmp_path, shared_data):
  """RetinaMNIST: colour images, five ordinal grades, a grade below the
  per-class count: the whole pipeline on what the grey binary sets lack."""
  cfg = tiny_config('cgan', dataset='retinamnist', data_root=shared_data,
                    **{'data.train_per_class': 70})
  res = run.train_and_evaluate(cfg, str(tmp_path))
  assert res['task'] == 'ordinal-regression'
  # Grade 4 has 72 images in train+val: 65 for training, 7 for validation.
  assert res['sizes'] == {'train_real': 345, 'generated': 40, 'train': 385, 'val': 39,
                          'test': 400}
  with np.load(tmp_path / 'generated.npz') as z:
    assert z['images'].shape == (40, 28, 28, 3)
    assert np.bincount(z['labels']).tolist() == [8] * 5
  assert res['generator']['quality']['label_agreement_chance'] == 0.2
  # Ordinal AUC: the mean of five one-vs-rest AUCs, each defined here.
  assert np.isfinite(res['selected']['test_auc']) and np.isfinite(res['selected']['val_auc'])
