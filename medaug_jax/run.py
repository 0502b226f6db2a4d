"""One experiment run: (dataset, augmentation method, seed) -> results.json.

train_and_evaluate(config, workdir) runs one seed; train_seeds(...) runs
several seeds of one (dataset, method) cell, as one vmapped program where
config.vmap_seeds asks for it. Both go through the same phases:
  validate -> data -> generator phase (unless method 'none': train, sample,
  quantise, measure; generators/phase.py) -> augmented training set ->
  classifier phase (ResNet-18, val/test every epoch) -> selection by
  validation AUC -> results.json.
"""
import contextlib
import math
import os
import platform
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from medaug_jax import classifier, config_lib, data, generators, quality, rngs, transforms
from medaug_jax import workdir as workdir_lib
from medaug_jax.checkpoint import Checkpoints, background_writes
from medaug_jax.errors import MedaugError
from medaug_jax.files import write_json
from medaug_jax.generators import phase
from medaug_jax.logs import MetricsLog
from medaug_jax.trainer import COMPUTE_DTYPES, fit, jit_init, make_mesh, replicate, stack_trees


def seed_mode(config):
  """How a grid cell trains its seeds, from config.vmap_seeds: 'true' (both
  phases vmapped), 'generator' (the generators vmapped, then the ResNet seed
  by seed), 'false' (seed by seed); 'auto' picks per backend.

  Vmapping the ResNet-18 turns its convolutions into grouped convolutions:
  measured slower per seed than seeds in sequence on XLA:CPU (many times) and
  on an H100 (0.68x), while the small generators gained 2.4-4.5x vmapped on
  the H100 (BENCHMARKS.md). So 'auto' is 'generator' on GPU, 'false' on CPU
  and 'true' on TPU (untested there).
  """
  mode = str(config.vmap_seeds).lower()
  if mode == 'auto':
    return {'tpu': 'true', 'gpu': 'generator'}.get(jax.default_backend(), 'false')
  return mode


def validate(config):
  """Refuses values that cannot work, with the key's name in the message."""
  def positive(key, value, kind=(int, float)):
    if not isinstance(value, kind) or isinstance(value, bool) or not value > 0:
      raise MedaugError(f'config.{key} must be a positive number, got {value!r}.')

  for part in ('classifier',) + (('generator',) if generators.of_method(config.method) else ()):
    c = config[part]
    positive(f'{part}.epochs', c.epochs, int)
    positive(f'{part}.batch_size', c.batch_size, int)
    positive(f'{part}.lr', c.lr)
  positive('classifier.width', config.classifier.width, int)
  for part in ('classifier', 'generator'):
    for key in ('checkpoint_every', 'checkpoint_seconds'):
      value = config[part].get(key, 0)
      if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise MedaugError(f'config.{part}.{key} must be >= 0 (0: off), got {value!r}.')
  if config.classifier.optimizer not in ('sgd', 'adam'):
    raise MedaugError("config.classifier.optimizer must be 'sgd' or 'adam', "
                      f'got {config.classifier.optimizer!r}.')
  for part in ('classifier', 'generator'):
    dtype = config[part].get('dtype', 'float32')
    if dtype not in COMPUTE_DTYPES:
      raise MedaugError(f"config.{part}.dtype must be 'float32' or 'bfloat16', got {dtype!r}.")
  unknown = [p for p in config.method.partition('@')[0].split('+')
             if p not in config_lib.methods()]
  if unknown:
    raise MedaugError(f'unknown method {unknown[0]!r} in config.method; choose from: '
                      + ', '.join(config_lib.methods()) + " (combined with '+')")
  generator = generators.of_method(config.method)
  if generator:
    generators.get(generator).check(config.generator)
    if config.generator.num_per_class < 0:
      raise MedaugError('config.generator.num_per_class must be >= 0.')
    if config.generator.ratio < 0:
      raise MedaugError(f'config.generator.ratio must be > 0 (or 0: use num_per_class), '
                        f'got {config.generator.ratio!r}.')
  quality.check(quality.names_of(config.quality))
  transforms.check(config.classifier.augment, config.classifier.augment_params)
  if config.data.subset:
    positive('data.train_per_class', config.data.train_per_class, int)
    positive('data.val_ratio', config.data.val_ratio)
  if str(config.vmap_seeds).lower() not in ('auto', 'true', 'false', 'generator'):
    raise MedaugError("config.vmap_seeds must be 'auto', 'true', 'false' or 'generator', "
                      f'got {config.vmap_seeds!r}.')
  if config.dataset.lower() not in data.known_datasets():
    raise MedaugError(f'unknown dataset {config.dataset!r}; choose one of: '
                      + ', '.join(data.known_datasets()))


def _env():
  devices = jax.devices()
  return {'jax': jax.__version__, 'backend': jax.default_backend(),
          'devices': [str(d) for d in devices], 'device_count': len(devices),
          'device_kind': devices[0].device_kind, 'python': platform.python_version(),
          'machine': f'{platform.machine()}, {os.cpu_count()} cpus'}


def classifier_phase(config, datasets, train_splits, seed_keys, group_dir, mesh, log,
                     num_seeds):
  """Trains the ResNet-18 on each seed's (augmented) training split and
  evaluates val and test every epoch. Returns the fit result."""
  cfg = config.classifier
  ds = datasets[0]
  n = len(train_splits[0])
  obj = classifier.Classifier(cfg, ds.num_classes, ds.multi_label,
                              math.ceil(n / cfg.batch_size))
  pick = (lambda xs: np.stack(xs)) if num_seeds else (lambda xs: xs[0])
  images = replicate(jnp.asarray(pick([s.images for s in train_splits])), mesh)
  labels = replicate(jnp.asarray(pick([s.labels for s in train_splits])), mesh)
  # Jitted: run op by op, a ResNet-18's init compiled ~150 small programs
  # (20 s on a 2-core CPU, most of a GPU cell's first-seed start-up).
  init = jit_init(obj.init)
  states = [init(rngs.stream(k, rngs.CLASSIFIER_INIT), s.images[:1], s.labels[:1])
            for k, s in zip(seed_keys, train_splits)]
  state = replicate(stack_trees(states) if num_seeds else states[0], mesh)
  ev = classifier.Evaluator(obj, mesh, cfg.eval_batch_size, num_seeds)
  val_and_test = ev.put(pick([d.val.images for d in datasets]),
                       pick([d.test.images for d in datasets]))
  best = None if num_seeds else Checkpoints(
      os.path.join(group_dir, 'checkpoints', 'classifier_best'), max_to_keep=1,
      asynchronous=background_writes(mesh))
  # The best epoch's network so far, kept on the device and written with each
  # resume checkpoint (so both describe the same point of the run): writing
  # it at every new best cost more than the GPU's whole epoch. Its variables
  # as model.apply takes them, without the optimiser's moments (two thirds
  # of a TrainState's bytes, of no use to a user of the network).
  unsaved_best = []

  def save_best():
    if unsaved_best:
      epoch, state, val_auc = unsaved_best.pop()
      best.save(epoch, state, {'epoch': epoch, 'val_auc': val_auc})

  def evaluate(state, epoch, history):
    vs, ts = ev.scores(state, val_and_test)
    per_seed = []
    for s, d in enumerate(datasets):
      v = classifier.evaluate_scores(d.val.labels, vs[s] if num_seeds else vs, d.task)
      t = classifier.evaluate_scores(d.test.labels, ts[s] if num_seeds else ts, d.task)
      per_seed.append({'val_auc': v['auc'], 'val_acc': v['acc'], 'val_loss': v['loss'],
                       'test_auc': t['auc'], 'test_acc': t['acc']})
    if not num_seeds:
      rec = per_seed[0]
      if classifier.select(history + [dict(rec, epoch=epoch)])['selected']['epoch'] == epoch:
        variables = {'params': state.params, **state.model_state}
        unsaved_best[:] = [(epoch, jax.tree.map(jnp.copy, variables), rec['val_auc'])]
      return rec
    return {k: [p[k] for p in per_seed] for k in per_seed[0]}

  ckpt = Checkpoints(os.path.join(group_dir, 'checkpoints', 'classifier'),
                     asynchronous=background_writes(mesh))
  train_keys = [rngs.raw_stream(k, rngs.CLASSIFIER_TRAIN) for k in seed_keys]
  try:
    result = fit(obj, state, images, labels, phase='classifier', epochs=cfg.epochs,
                 batch_size=cfg.batch_size, rng=jnp.asarray(pick(train_keys)), mesh=mesh,
                 checkpoints=ckpt, checkpoint_every=cfg.checkpoint_every,
                 checkpoint_seconds=cfg.get('checkpoint_seconds', 0),
                 on_save=None if best is None else save_best, evaluate=evaluate,
                 log=log, num_seeds=num_seeds, print_every=cfg.print_every)
  finally:
    try:
      ckpt.close()
    finally:
      if best is not None:
        save_best()  # a best found after the last save of a failed run
        best.close()
  return result


def _concat(a, b):
  return data.Split(np.concatenate([a.images, b.images]), np.concatenate([a.labels, b.labels]))


def train_seeds(config, seeds, workdirs, group_dir, overwrite=False, generated_from=None,
                generator_only=False):
  """Runs `config` for each seed; more than one seed (with config.vmap_seeds)
  trains them all at once, vmapped. Returns [results per seed].

  generated_from: per seed, a folder whose finished generator phase is this
  run's own (same generator, data, seed and quality settings; e.g. a grid's
  'dcgan' cell for 'dcgan+classic'), copied instead of trained again; one
  that made more images per class (a larger synthetic-to-real ratio) gives
  its first ones of each class (phase.reuse_generated).
  generator_only: stop after the generator phase (returns None); a later
  run of the same seeds reads it back as the phase's cache.

  Each seed's workdir is locked for the whole run (workdir.locked): a second
  process on the same workdir stops with one line naming the first.
  """
  validate(config)
  configs = []
  for s in seeds:
    c = ml_collections.ConfigDict(config.to_dict())
    c.seed = int(s)
    configs.append(c)
  with contextlib.ExitStack() as held:
    for w in workdirs:
      held.enter_context(workdir_lib.locked(w))
    results = [workdir_lib.prepare(c, w, overwrite) for c, w in zip(configs, workdirs)]
    todo = [i for i, r in enumerate(results) if r is None]
    if len(todo) == 1:
      group_dir = workdirs[todo[0]]
    if todo:
      sources = generated_from or [None] * len(seeds)
      out = _run_group(config, [configs[i] for i in todo], [workdirs[i] for i in todo],
                       group_dir, generator_only, [sources[i] for i in todo])
      if generator_only:
        return None
      for i, r in zip(todo, out):
        results[i] = r
  return results


def _run_group(config, configs, workdirs, group_dir, generator_only=False, sources=None):
  """Both phases for the seeds of `configs` (vmapped when more than one);
  sources: train_seeds' generated_from."""
  t_start = time.perf_counter()
  num_seeds = len(configs) if len(configs) > 1 else None
  os.makedirs(group_dir, exist_ok=True)
  datasets = [data.load(c) for c in configs]
  if len({(len(d.train), len(d.val), len(d.test)) for d in datasets}) > 1:
    raise MedaugError('seeds drew subsets of different sizes; run them one by one '
                      '(--config.vmap_seeds=false).')
  mesh = make_mesh()
  tb_dirs = workdirs if config.get('tensorboard', True) else None
  with contextlib.closing(MetricsLog(os.path.join(group_dir, 'metrics.jsonl'),
                                     tb_dirs)) as log:
    keys = [jax.random.key(c.seed) for c in configs]
    train_splits = [d.train for d in datasets]
    gen_infos = [None] * len(configs)
    gen_s = 0.0
    generator = generators.of_method(config.method)
    if generator and (config.generator.num_per_class > 0 or config.generator.ratio > 0):
      t0 = time.perf_counter()
      for w, d, k, src in zip(workdirs, datasets, keys, sources or [None] * len(workdirs)):
        if src and not phase.finished(w):
          phase.reuse_generated(src, w, d, config, k)
      done = [phase.load_generated(w) for w in workdirs]
      if any(d is None for d in done):
        generated, infos, pictures = phase.generator_phase(config, datasets, keys, group_dir,
                                                           mesh, log, num_seeds)
        for s, (w, d, g, info) in enumerate(zip(workdirs, datasets, generated, infos)):
          phase.save_generated(w, d.train, g, d.class_names, info, pictures[s])
          log.image(s, f'generator/{generator}/samples', os.path.join(w, phase.SAMPLES),
                    config.generator.epochs)
          log.summary(s, 'quality', info['quality'], config.generator.epochs)
        done = list(zip(generated, infos))
      train_splits = [_concat(d.train, g) for d, (g, _) in zip(datasets, done)]
      gen_infos = [info for _, info in done]
      gen_s = time.perf_counter() - t0
    if generator_only:
      return None

    t0 = time.perf_counter()
    result = classifier_phase(config, datasets, train_splits, keys, group_dir, mesh, log,
                              num_seeds)
    cls_s = time.perf_counter() - t0
    out = []
    for s, (c, w, d, g) in enumerate(zip(configs, workdirs, datasets, gen_infos)):
      sel = classifier.select(result.history, s if num_seeds else None)
      res = {
          'dataset': c.dataset, 'method': c.method, 'seed': c.seed, 'task': d.task,
          'sizes': {**d.sizes(), 'train_real': len(d.train),
                    'train': len(train_splits[s]),
                    'generated': len(train_splits[s]) - len(d.train)},
          **sel,
          'generator': g,
          'timing': {'total_s': round(time.perf_counter() - t_start, 2),
                     'generator_s': round(gen_s, 2), 'classifier_s': round(cls_s, 2),
                     'train_s': round(result.train_s, 2),
                     'images_per_s': round(result.images_seen / max(result.train_s, 1e-9), 1),
                     'seeds_vmapped': num_seeds or 1},
          'env': _env(),
      }
      write_json(os.path.join(w, workdir_lib.RESULTS), res)
      out.append(res)
    return out


def train_and_evaluate(config, workdir, overwrite=False, generator_only=False):
  """The paper's experiment for config.seed; writes workdir/results.json.
  generator_only: stop after the generator phase (samples, quality measures)
  and return None; the same call without it goes on to the classifier."""
  if generator_only and not generators.of_method(config.method):
    raise MedaugError(f'--generator_only: method {config.method!r} has no generator.')
  results = train_seeds(config, [config.seed], [workdir], workdir, overwrite,
                        generator_only=generator_only)
  return None if generator_only else results[0]
