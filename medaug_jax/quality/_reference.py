"""The reference network the feature-based measures embed images with.

At 28x28, pixel and ImageNet features say little about medical images, so the
reference is a ResNet-18 trained on the dataset's *full* official training
split (not the run's 150-per-class subset), once per dataset and reference
config, and cached: orbax writes it whole or not at all, keyed by the data
file's MD5 and the reference config. A cache that cannot be read back is
retrained with a warning. Its own test AUC is kept beside every measure it
feeds, and flagged when below `quality.reference.auc_floor`. It scores
images only; nothing is selected with it.
"""
import hashlib
import json
import logging
import os

import jax
import numpy as np

from medaug_jax import classifier, config_lib, data, workdir
from medaug_jax.checkpoint import Checkpoints
from medaug_jax.errors import MedaugError
from medaug_jax.files import user_cache, write_json
from medaug_jax.trainer import jit_init, make_mesh


def cache_root(cfg):
  return cfg.cache_dir or os.environ.get('MEDAUG_CACHE') or user_cache()


def _recipe(cfg):
  """The classifier config the reference trains with (the run's defaults,
  with the reference's width, epochs, optimiser and lr)."""
  c = config_lib.default_config().classifier
  c.update(width=cfg.width, epochs=cfg.epochs, optimizer='adam', lr=cfg.lr, print_every=0)
  return c


class Reference:
  """A trained reference network: features(images) and its own test scores."""

  def __init__(self, dataset_name, data_root, cfg):
    self.cfg = cfg
    # The floor only flags the scores: changing it must not retrain.
    recipe = {k: v for k, v in cfg.items() if k not in ('cache_dir', 'auc_floor')}
    keyed = json.dumps({'data': data.identity(dataset_name, data_root), 'reference': recipe},
                       sort_keys=True)
    folder = os.path.join(cache_root(cfg), 'reference',
                          f'{dataset_name}-{hashlib.sha1(keyed.encode()).hexdigest()[:12]}')
    full = data.load_official(dataset_name, data_root)
    self.obj, self.state, self.scores = self._load_or_train(full, folder)
    self.below_floor = not self.scores['test_auc'] >= cfg.auc_floor
    # One batch size for every image set (real subset, generated), so the
    # feature pass compiles once per run rather than once per set size.
    ev = classifier.Evaluator(self.obj, make_mesh(), batch_size=256, output='features')
    self._features = lambda images: ev.scores(self.state, ev.put(images))[0]

  def _load_or_train(self, full, folder):
    recipe = _recipe(self.cfg)
    obj = classifier.Classifier(recipe, full.num_classes, full.multi_label,
                                -(-len(full.train) // recipe.batch_size))
    like = jit_init(obj.init)(jax.random.key(0), full.train.images[:1], full.train.labels[:1])
    # Concurrent grid workers would each train the same network: the first
    # trains it, the others wait and read it back.
    with workdir.locked(folder, wait=True):
      return self._load_or_train_locked(recipe, obj, like, full, folder)

  def _load_or_train_locked(self, recipe, obj, like, full, folder):
    ckpt = Checkpoints(folder, max_to_keep=1)
    try:
      restored = ckpt.restore(like)
    except MedaugError as e:
      logging.warning('the cached reference network is unreadable (%s); training it again.', e)
      restored = None
    if restored is not None:
      state, meta = restored
      return obj, state, meta['scores']
    print(f'[quality] training the reference network on the full {full.name} training '
          f'split ({len(full.train)} images, width {self.cfg.width}, {self.cfg.epochs} '
          'epochs); cached for later runs', flush=True)
    obj, state, history = classifier.fit_and_score(
        recipe, full.train, full, jax.random.key(self.cfg.seed), scored=('test',),
        phase='reference')
    scores = {k: v for k, v in history[-1].items() if k.startswith('test_')}
    ckpt.save(recipe.epochs, state, {'epoch': recipe.epochs, 'history': [], 'scores': scores})
    write_json(os.path.join(folder, 'reference.json'),
               {'dataset': full.name, 'train_images': len(full.train), 'scores': scores,
                'config': json.loads(self.cfg.to_json_best_effort())})
    return obj, state, scores

  def features(self, images):
    return np.asarray(self._features(images), np.float64)

