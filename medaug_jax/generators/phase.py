"""The generator phase of a run: train -> sample -> quantise -> measure ->
save, and the saved result read back as the phase's cache."""
import glob
import logging
import math
import os
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np

from medaug_jax import generators, quality, rngs
from medaug_jax.checkpoint import Checkpoints, background_writes
from medaug_jax.data import Split
from medaug_jax.errors import MedaugError
from medaug_jax.files import read_json, save_npz, write_json
from medaug_jax.pictures import sample_grid
from medaug_jax.trainer import fit, jit_init, replicate, stack_trees

GENERATED = 'generated.npz'
INFO = 'generator.json'
SAMPLES = 'samples.png'


def quantise(images):
  """Float pixels in [0, 1] -> uint8, exactly as real images are stored."""
  return np.round(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def requested_labels(num_classes, per_class):
  return np.repeat(np.arange(num_classes, dtype=np.int32), per_class)


def per_class(cfg, num_real, num_classes):
  """Images to generate per class: generator.num_per_class, or with
  generator.ratio > 0 that ratio of the real per-class count."""
  return int(round(cfg.ratio * num_real / num_classes)) if cfg.ratio > 0 else cfg.num_per_class


def collapse_warning(history, s=None):
  """A warning when D ranked real above generated images in (nearly) every
  pair over the last tenth of training, a sign that G collapsed or fell
  behind (seed s of a vmapped history); None otherwise or without 'd_acc'."""
  accs = [r['d_acc'] if s is None else r['d_acc'][s] for r in history if 'd_acc' in r]
  if not accs:
    return None
  tail = accs[-max(1, math.ceil(len(accs) / 10)):]
  if min(tail) < 0.99:
    return None
  return (f'discriminator accuracy at least {min(tail):.3f} over the last {len(tail)} '
          'epochs: the generator may have collapsed (look at samples.png)')


def chance_warning(measured, n):
  """A warning when the label agreement of n generated images cannot be told
  from chance (1/classes) by a one-sided binomial test at the 1% level: the
  images do not carry their class, whatever D's accuracy said (a GAN whose G
  draws noise need not let D win). None otherwise or without the measure."""
  agree, chance = measured.get('label_agreement'), measured.get('label_agreement_chance')
  if agree is None or chance is None or not n:
    return None
  from scipy import stats  # pylint: disable=g-import-not-at-top
  p = stats.binomtest(int(round(agree * n)), n, chance, alternative='greater').pvalue
  if p < 0.01:
    return None
  return (f'label agreement {agree:.2f} against {chance:.2f} by chance (one-sided binomial '
          f'p = {p:.2f} over {n} images): the generated images do not carry their class '
          '(look at samples.png)')


def _per_seed(tree, s, num_seeds):
  return jax.tree.map(lambda a: a[s], tree) if num_seeds else tree


def generator_phase(config, datasets, seed_keys, group_dir, mesh, log, num_seeds):
  """Trains one generator per seed on its training split only and returns
  ([generated Split per seed], [info dict per seed], [pictures per seed]),
  pictures being (file name, draw(path)) pairs of the quality measures."""
  cfg = config.generator
  ds = datasets[0]
  if ds.multi_label:
    raise MedaugError(f'{ds.name} is multi-label; the conditional generators '
                      'need one class per image.')
  name = generators.of_method(config.method)
  obj = generators.get(name)(cfg, ds.num_classes, ds.train.images.shape[1:])
  pick = (lambda xs: jnp.stack(xs)) if num_seeds else (lambda xs: xs[0])
  images = replicate(pick([jnp.asarray(d.train.images) for d in datasets]), mesh)
  labels = replicate(pick([jnp.asarray(d.train.labels) for d in datasets]), mesh)
  init = jit_init(obj.init)
  states = [init(rngs.stream(k, rngs.GENERATOR_INIT), d.train.images[:1],
                 d.train.labels[:1]) for k, d in zip(seed_keys, datasets)]
  state = replicate(stack_trees(states) if num_seeds else states[0], mesh)
  ckpt = Checkpoints(os.path.join(group_dir, 'checkpoints', 'generator'),
                     asynchronous=background_writes(mesh))
  t0 = time.perf_counter()
  try:
    result = fit(obj, state, images, labels, phase=f'generator:{name}',
                 epochs=cfg.epochs, batch_size=cfg.batch_size,
                 rng=pick([rngs.raw_stream(k, rngs.GENERATOR_TRAIN) for k in seed_keys]),
                 mesh=mesh, checkpoints=ckpt, checkpoint_every=cfg.checkpoint_every,
                 checkpoint_seconds=cfg.get('checkpoint_seconds', 0),
                 log=log, num_seeds=num_seeds, print_every=cfg.print_every)
  finally:
    ckpt.close()  # waits for the last save (an interrupted run's resume point)
  gen_s = time.perf_counter() - t0
  want = requested_labels(ds.num_classes, per_class(cfg, len(ds.train), ds.num_classes))
  generated, infos, pictures = [], [], []
  last = result.history[-1]
  for s, (d, k) in enumerate(zip(datasets, seed_keys)):
    made = obj.sample(_per_seed(result.state, s, num_seeds),
                      rngs.stream(k, rngs.GENERATOR_SAMPLE), want, d.train.images,
                      d.train.labels)
    split = Split(quantise(made), want.copy())
    generated.append(split)
    final = {key: (v[s] if num_seeds else v) for key, v in last.items()
             if key not in ('phase', 'epoch', 'epoch_s')}
    measured, quality_s, drawn = measure(d, split, config, k)
    pictures.append(drawn)
    warnings = [w for w in (collapse_warning(result.history, s if num_seeds else None),
                            chance_warning(measured, len(split.labels))) if w]
    for warning in warnings:
      logging.warning('generator %s: %s', name, warning)
    infos.append({'name': name, 'epochs': cfg.epochs, 'final': final,
                  'train_s': round(result.train_s, 3), 'wall_s': round(gen_s, 3),
                  'quality': measured, 'quality_s': round(quality_s, 3),
                  'warnings': warnings})
  return generated, infos, pictures


def measure(ds, generated, config, key):
  """(quality measures, seconds, pictures) of generated images against ds's
  training split."""
  t0 = time.perf_counter()
  ctx = quality.Context(ds, generated, config, key)
  measured = quality.compute(quality.names_of(config.quality), ctx)
  return measured, time.perf_counter() - t0, ctx.pictures


def save_generated(workdir, real, generated, class_names, info, pictures=()):
  """generated.npz, the real-vs-generated grid, the measures' pictures and
  generator.json (written last: its presence marks the phase as done)."""
  save_npz(os.path.join(workdir, GENERATED), images=generated.images, labels=generated.labels)
  sample_grid(os.path.join(workdir, SAMPLES), real, generated, class_names)
  for name, draw in pictures:
    draw(os.path.join(workdir, name))
  write_json(os.path.join(workdir, INFO), info)


def finished(workdir):
  """Whether workdir holds a finished generator phase: its generator.json and
  its images. A folder copied without generated.npz (results are committed
  without it, for size) has the phase to run again."""
  return (os.path.exists(os.path.join(workdir, INFO))
          and os.path.exists(os.path.join(workdir, GENERATED)))


def load_generated(workdir):
  """(generated Split, info) of a finished generator phase, or None."""
  if not finished(workdir):
    if os.path.exists(os.path.join(workdir, INFO)):
      logging.warning('%s has generator.json but not %s: the generator phase runs again',
                      workdir, GENERATED)
    return None
  info = read_json(os.path.join(workdir, INFO))
  with np.load(os.path.join(workdir, GENERATED)) as z:
    return Split(z['images'], z['labels']), info


def first_per_class(split, num_classes, n):
  """The first n images of each class, class by class. Generated images are
  independent draws, so these are a draw of n per class from the same
  generator."""
  idx = np.concatenate([np.flatnonzero(split.labels == c)[:n] for c in range(num_classes)])
  return Split(split.images[idx], split.labels[idx])


def reuse_generated(source, workdir, ds, config, key):
  """Gives workdir the finished generator phase of `source` (same generator,
  data and seed; it may have made more images per class, as a grid's larger
  synthetic-to-real ratio does): a copy, or its first images of each class
  with their quality measured again. False when `source` has fewer images of
  some class than this run asks for."""
  want = per_class(config.generator, len(ds.train), ds.num_classes)
  split, info = load_generated(source)
  have = np.bincount(split.labels, minlength=ds.num_classes)
  if (have == want).all():
    copy_generated(source, workdir)
    return True
  if (have < want).any():
    logging.warning('%s made %s images per class, fewer than the %d wanted: not reused',
                    source, have.tolist(), want)
    return False
  sub = first_per_class(split, ds.num_classes, want)
  measured, quality_s, drawn = measure(ds, sub, config, key)
  save_generated(workdir, ds.train, sub, ds.class_names,
                 dict(info, quality=measured, quality_s=round(quality_s, 3),
                      reused_from=os.path.abspath(source), subset_of=have.tolist()),
                 drawn)
  return True


def copy_generated(source, workdir):
  """Gives workdir the finished generator phase of `source` (its images,
  pictures and generator.json, marked with where they came from)."""
  os.makedirs(workdir, exist_ok=True)
  for path in [os.path.join(source, GENERATED)] + glob.glob(os.path.join(source, '*.png')):
    shutil.copyfile(path, os.path.join(workdir, os.path.basename(path)))
  info = read_json(os.path.join(source, INFO))
  write_json(os.path.join(workdir, INFO), dict(info, reused_from=os.path.abspath(source)))
