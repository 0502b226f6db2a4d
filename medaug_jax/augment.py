"""The generator phase: train, sample, quantise, judge and picture new images."""
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw
from sklearn.linear_model import LogisticRegression

from medaug_jax import generators
from medaug_jax.checkpoint import Checkpoints, write_json
from medaug_jax.data import Split
from medaug_jax.errors import MedaugError
from medaug_jax.trainer import fit, replicate, stack_trees


def quantise(images):
  """Float pixels in [0, 1] -> uint8, exactly as real images are stored."""
  return np.round(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def requested_labels(num_classes, per_class):
  return np.repeat(np.arange(num_classes, dtype=np.int32), per_class)


def fidelity(real, generated, num_classes):
  """Conditional fidelity: a pixel logistic regression fitted on the real
  training images labels the generated ones; the accuracy with which it
  recovers the class each was asked for (chance = 1/num_classes). Its
  accuracy on the real images is reported beside it as the ceiling."""
  flat = lambda s: s.images.reshape(len(s), -1).astype(np.float32) / 255.0
  clf = LogisticRegression(max_iter=500, C=0.1)
  clf.fit(flat(real), real.labels)
  return {'conditional_accuracy': float(clf.score(flat(generated), generated.labels)),
          'real_train_accuracy': float(clf.score(flat(real), real.labels)),
          'chance': 1.0 / num_classes}


def sample_grid(path, real, generated, class_names, per_row=8, scale=3):
  """One row per class: real images on the left, generated on the right."""
  rng = np.random.default_rng(0)
  h, w, c = real.images.shape[1:]
  label_w, gap = 120, 12
  cell = h * scale
  width = label_w + 2 * per_row * cell + gap
  canvas = Image.new('RGB', (width, 20 + len(class_names) * (cell + 4)), 'white')
  draw = ImageDraw.Draw(canvas)
  draw.text((label_w, 4), 'real', fill='black')
  draw.text((label_w + per_row * cell + gap, 4), 'generated', fill='black')
  for row, name in enumerate(class_names):
    y0 = 20 + row * (cell + 4)
    draw.text((4, y0 + cell // 2 - 6), f'{row}: {str(name)[:16]}', fill='black')
    for j, split in enumerate((real, generated)):
      rows = np.flatnonzero(split.labels == row)
      pick = rng.choice(rows, min(per_row, len(rows)), replace=False) if len(rows) else []
      for k, i in enumerate(pick):
        img = split.images[i] if c == 3 else np.repeat(split.images[i], 3, -1)
        tile = Image.fromarray(img).resize((cell, cell), Image.NEAREST)
        canvas.paste(tile, (label_w + j * (per_row * cell + gap) + k * cell, y0))
  tmp = path + '.tmp.png'
  canvas.save(tmp)
  os.replace(tmp, path)


def generator_phase(config, datasets, seed_keys_, group_dir, mesh, log, num_seeds):
  """Trains one generator per seed on its training split only and returns
  ([generated Split per seed], [info dict per seed])."""
  cfg = config.generator
  ds = datasets[0]
  if ds.multi_label:
    raise MedaugError(f'{ds.name} is multi-label; the conditional generators '
                      'need one class per image.')
  obj = generators.get(config.method)(cfg, ds.num_classes, ds.train.images.shape[1:])
  init_keys = [jax.random.fold_in(k, 11) for k in seed_keys_]
  train_keys = [jax.random.key_data(jax.random.fold_in(k, 12)) for k in seed_keys_]
  pick = (lambda xs: jnp.stack(xs)) if num_seeds else (lambda xs: xs[0])
  images = replicate(pick([jnp.asarray(d.train.images) for d in datasets]), mesh)
  labels = replicate(pick([jnp.asarray(d.train.labels) for d in datasets]), mesh)
  states = [obj.init(k, d.train.images[:1], d.train.labels[:1])
            for k, d in zip(init_keys, datasets)]
  state = replicate(stack_trees(states) if num_seeds else states[0], mesh)
  ckpt = Checkpoints(os.path.join(group_dir, 'checkpoints', 'generator'))
  t0 = time.perf_counter()
  result = fit(obj, state, images, labels, phase=f'generator:{config.method}',
               epochs=cfg.epochs, batch_size=cfg.batch_size, rng=pick(train_keys),
               mesh=mesh, checkpoints=ckpt, checkpoint_every=cfg.checkpoint_every,
               log=log, num_seeds=num_seeds, print_every=cfg.print_every)
  ckpt.close()
  gen_s = time.perf_counter() - t0
  want = requested_labels(ds.num_classes, cfg.num_per_class)
  generated, infos = [], []
  for s, (d, k) in enumerate(zip(datasets, seed_keys_)):
    st = jax.tree.map(lambda a, s=s: a[s], result.state) if num_seeds else result.state
    imgs = quantise(obj.sample(st, jax.random.fold_in(k, 13), want, d.train.images, d.train.labels))
    split = Split(imgs, want.copy())
    generated.append(split)
    last = result.history[-1]
    final = {k2: (v[s] if num_seeds else v) for k2, v in last.items()
             if k2 not in ('phase', 'epoch', 'epoch_s')}
    infos.append({'name': config.method, 'epochs': cfg.epochs, 'final': final,
                  'train_s': round(result.train_s, 3), 'wall_s': round(gen_s, 3),
                  'fidelity': fidelity(d.train, split, d.num_classes)})
  return generated, infos


def save_generated(workdir, real, generated, class_names, info):
  """generated.npz, the real-vs-generated grid and generator.json."""
  tmp = os.path.join(workdir, 'generated.tmp.npz')
  np.savez_compressed(tmp, images=generated.images, labels=generated.labels)
  os.replace(tmp, os.path.join(workdir, 'generated.npz'))
  sample_grid(os.path.join(workdir, 'samples.png'), real, generated, class_names)
  write_json(os.path.join(workdir, 'generator.json'), info)


def load_generated(workdir):
  """The generated split and info of a finished generator phase, or None."""
  path = os.path.join(workdir, 'generator.json')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    info = json.load(f)
  with np.load(os.path.join(workdir, 'generated.npz')) as z:
    return Split(z['images'], z['labels']), info
