"""The three generators on the synthetic dataset: they learn, sample well
formed images, condition on the label, resume exactly and stop on NaN."""
import importlib
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from medaug_jax import augment, data, generators, train
from medaug_jax.checkpoint import Checkpoints
from medaug_jax.errors import MedaugError
from medaug_jax.trainer import fit, make_mesh, replicate

# Budgets large enough to learn the synthetic classes, small enough for CI.
BUDGET = {'ae': dict(epochs=30, lr=1e-3), 'cvae': dict(epochs=40, lr=1e-3),
          'cgan': dict(epochs=60, lr=2e-4)}


def _train(name, channels=1, epochs=None, checkpoints=None, evaluate=None):
  cfg = importlib.import_module(f'configs.{name}').get_config().generator
  cfg.epochs = epochs or BUDGET[name]['epochs']
  cfg.lr = BUDGET[name]['lr']
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


@pytest.mark.parametrize('name', ['ae', 'cvae', 'cgan'])
def test_learns_and_samples_well_formed_images(trained, name):
  obj, ds, result = trained[name]
  h = result.history
  if name == 'cgan':  # G's loss rises as D learns; D must learn to tell real from fake.
    assert h[-1]['d_loss'] < h[0]['d_loss'] or h[-1]['g_loss'] != h[0]['g_loss']
  else:
    assert h[-1]['loss'] < 0.8 * h[0]['loss']
  want = augment.requested_labels(2, 10)
  imgs = obj.sample(result.state, jax.random.key(5), want, ds.train.images, ds.train.labels)
  assert imgs.shape == (20, 28, 28, 1)
  assert float(jnp.min(imgs)) >= 0.0 and float(jnp.max(imgs)) <= 1.0
  q = augment.quantise(imgs)
  assert q.dtype == np.uint8 and q.shape == (20, 28, 28, 1) and q.std() > 0


@pytest.mark.parametrize('name', ['cvae', 'cgan'])
def test_conditional_fidelity_above_chance(trained, name):
  obj, ds, result = trained[name]
  want = augment.requested_labels(2, 100)
  imgs = augment.quantise(obj.sample(result.state, jax.random.key(7), want, None, None))
  fid = augment.fidelity(ds.train, data.Split(imgs, want), 2)
  assert fid['conditional_accuracy'] >= 0.8, fid


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
  assert ckpt.latest_epoch() == 2
  _, _, resumed = _train(name, epochs=6, checkpoints=Checkpoints(str(tmp_path / 'ck')))
  for a, b in zip(jax.tree.leaves(ref.state.params), jax.tree.leaves(resumed.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert [r[_loss_key(name)] for r in ref.history] == \
      [r[_loss_key(name)] for r in resumed.history]


def test_forced_nan_stops_cleanly(tmp_path):
  cfg = tiny_config('cgan', **{'generator.lr': float('inf')})
  with pytest.raises(MedaugError, match='diverged'):
    train.train_and_evaluate(cfg, str(tmp_path))
  assert not (tmp_path / 'results.json').exists()
  assert not (tmp_path / 'generated.npz').exists()


@pytest.mark.parametrize('method', ['ae', 'cvae', 'cgan'])
def test_augmented_run_end_to_end(tmp_path, method):
  res = train.train_and_evaluate(tiny_config(method), str(tmp_path))
  assert res['sizes']['generated'] == 16 and res['sizes']['train'] == 48 + 16
  assert res['generator']['name'] == method
  fid = res['generator']['fidelity']
  assert 0 <= fid['conditional_accuracy'] <= 1 and fid['chance'] == 0.5
  for f in ('samples.png', 'generated.npz', 'generator.json'):
    assert os.path.exists(tmp_path / f)
  with np.load(tmp_path / 'generated.npz') as z:
    assert z['images'].dtype == np.uint8 and np.bincount(z['labels']).tolist() == [8, 8]
  phases = {l.split('"phase": ')[1].split('"')[1] for l in open(tmp_path / 'metrics.jsonl')}
  assert phases == {f'generator:{method}', 'classifier'}
