"""Pictures people look at: real-vs-generated sample grids, per-dataset
plots of a results table, and galleries of sample grids."""
import math

import numpy as np
from PIL import Image, ImageDraw

from medaug_jax.files import atomic_path


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
  with atomic_path(path, suffix='.png') as tmp:
    canvas.save(tmp)


def plot_dataset(path, dataset, drows):
  """Methods side by side: mean ± std bars, seeds as dots, paper as diamonds."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  # Past a few methods, upright labels overlap: widen the figure and slant them.
  crowded = len(drows) > 6
  fig, axes = plt.subplots(1, 2, figsize=(max(9.0, 1.0 * len(drows)), 4.8 if crowded else 4.2))
  x = np.arange(len(drows))
  for ax, name, label in zip(axes, ('auc', 'acc'), ('test AUC', 'test ACC')):
    means = np.array([r[f'{name}_mean'] for r in drows])
    stds = np.nan_to_num(np.array([r[f'{name}_std'] for r in drows]))
    ok = np.isfinite(means)
    shown = [v for r in drows for v in list(r[f'_{name}'].values()) + [r[f'paper_{name}']]
             if v is not None and math.isfinite(v)]
    bottom = max(0.0, min([0.5] + [math.floor(v * 10) / 10 for v in shown]))
    ax.bar(x[ok], means[ok], width=0.6, yerr=stds[ok], capsize=5, color='#8fb3d9',
           edgecolor='#2b5d8a', label='ours: mean ± std (val-selected)')
    for i, r in enumerate(drows):
      vals = list(r[f'_{name}'].values())
      if vals:
        jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else [0.0]
        ax.scatter(i + np.asarray(jitter), vals, s=12, color='#1f3f5f', zorder=3,
                   label='seeds' if i == int(np.argmax(ok)) else None)
      if math.isfinite(r[f'best_{name}_mean']):
        ax.scatter([i + 0.3], [r[f'best_{name}_mean']], marker='x', color='grey',
                   zorder=3, label='test-selected mean' if i == int(np.argmax(ok)) else None)
      p = r[f'paper_{name}']
      if math.isfinite(p):
        ax.scatter([i], [p], marker='D', s=40, facecolor='none', edgecolor='#c0392b',
                   zorder=4, label="paper's Table 2" if i == 0 else None)
      if r['status'] in ('failed', 'missing'):
        ax.text(i, bottom + 0.02, r['status'].upper(), ha='center', va='bottom', color='#c0392b',
                rotation=90, fontsize=9)
      elif r['status'] != 'ok':
        ax.text(i - 0.38, bottom + 0.02, f"n={r['n']}/{r['n_expected']}", ha='center', va='bottom',
                color='#c0392b', rotation=90, fontsize=8)
    ax.set_xticks(x)
    sep = ' ' if crowded else '\n'
    ax.set_xticklabels([f"{r['method']}{sep}(n={r['n']})" for r in drows],
                       rotation=35 if crowded else 0, ha='right' if crowded else 'center',
                       fontsize=8 if crowded else None)
    ax.set_ylim(bottom, 1.0)
    ax.set_xlim(-0.6, len(drows) - 0.4)
    ax.set_ylabel(label)
    ax.grid(axis='y', alpha=0.3)
  handles, labels = axes[0].get_legend_handles_labels()
  fig.legend(handles, labels, fontsize=7, loc='lower center', ncol=4, frameon=False)
  fig.suptitle(dataset)
  fig.tight_layout(rect=(0, 0.07, 1, 1))
  with atomic_path(path, suffix='.png') as tmp:
    fig.savefig(tmp, dpi=110)
  plt.close(fig)


def gallery(path, dataset, samples):
  """Stacks one samples.png per method under a title: [(method, png path)]."""
  images = [(m, Image.open(p).convert('RGB')) for m, p in samples]
  width = max(im.width for _, im in images)
  title_h = 18
  canvas = Image.new('RGB', (width, sum(im.height + title_h for _, im in images)), 'white')
  draw = ImageDraw.Draw(canvas)
  y = 0
  for m, im in images:
    draw.text((4, y + 3), f'{dataset} - {m}', fill='black')
    canvas.paste(im, (0, y + title_h))
    y += im.height + title_h
  with atomic_path(path, suffix='.png') as tmp:
    canvas.save(tmp)


def plot_ratios(path, dataset, points):
  """Paired difference to 'none' against the synthetic-to-real ratio, one
  line per method: points = {method: [(ratio, mean, lo, hi)]}."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 4))
  for k, (method, pts) in enumerate(sorted(points.items())):
    pts = sorted(pts)
    x = np.array([p[0] for p in pts]) * (1 + 0.03 * (k - len(points) / 2))  # unhide overlaps
    mean = np.array([p[1] for p in pts])
    err = np.nan_to_num(np.array([[m - p[2] for m, p in zip(mean, pts)],
                                  [p[3] - m for m, p in zip(mean, pts)]]))
    ax.errorbar(x, mean, yerr=err, marker='o', capsize=4, label=method)
  ax.axhline(0.0, color='grey', lw=1)
  ax.set_xscale('log')
  ratios = sorted({p[0] for pts in points.values() for p in pts})
  ax.set_xticks(ratios, [f'{r:g}' for r in ratios])
  ax.minorticks_off()
  ax.set_xlabel('synthetic-to-real ratio (generated / real training images)')
  ax.set_ylabel('test AUC minus none (paired, 95% CI)')
  ax.set_title(dataset)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  with atomic_path(path, suffix='.png') as tmp:
    fig.savefig(tmp, dpi=110)
  plt.close(fig)


def image_pairs(path, top, bottom, captions, row_names, scale=3):
  """Two rows of images, column by column (e.g. a generated image over its
  nearest training image), each column captioned."""
  h, w = top[0].shape[:2]
  cell, label_w, text_h = h * scale, 90, 14
  canvas = Image.new('RGB', (label_w + len(top) * (cell + 4), 2 * cell + text_h + 8), 'white')
  draw = ImageDraw.Draw(canvas)
  for row, (name, images) in enumerate(zip(row_names, (top, bottom))):
    y = row * (cell + 4)
    draw.text((4, y + cell // 2 - 6), name, fill='black')
    for k, img in enumerate(images):
      img = img if img.shape[-1] == 3 else np.repeat(img, 3, -1)
      tile = Image.fromarray(img).resize((cell, cell), Image.NEAREST)
      canvas.paste(tile, (label_w + k * (cell + 4), y))
  for k, caption in enumerate(captions):
    draw.text((label_w + k * (cell + 4), 2 * cell + 8), caption, fill='black')
  with atomic_path(path, suffix='.png') as tmp:
    canvas.save(tmp)


def plot_gain_against(path, dataset, points, measures):
  """Δ AUC vs none against each measure, one panel each, a dot per run
  (method x seed), coloured by method: points = [(method, seed, gain, {measure: v})]."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, len(measures), figsize=(4.5 * len(measures), 4), squeeze=False)
  methods = sorted({p[0] for p in points})
  colours = plt.get_cmap('tab10')
  for ax, key in zip(axes[0], measures):
    for k, method in enumerate(methods):
      xy = [(q[key], g) for m, _, g, q in points if m == method and q.get(key) is not None]
      if xy:
        ax.scatter(*zip(*xy), color=colours(k % 10), label=method, s=22)
    ax.axhline(0.0, color='grey', lw=1)
    ax.set_xlabel(key)
    ax.set_ylabel('test AUC minus none (same seed)')
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=7)
  fig.suptitle(dataset)
  fig.tight_layout()
  with atomic_path(path, suffix='.png') as tmp:
    fig.savefig(tmp, dpi=110)
  plt.close(fig)
