"""The Table-2-shaped report of a grid (or any folder of runs).

  python -m medaug_jax.report runs/table2

Finds every results.json (and failed.json) under the folder and writes, in it:
  report.md                 one row per dataset x method: val-selected test
                            AUC/ACC mean +- std over seeds (n shown), the
                            test-selected figure the paper used, the paper's
                            Table 2 value, and the paired (seed-matched)
                            difference to 'none' with its 95% t-interval
  report.csv                the same numbers, unrounded
  plot_<dataset>.png        methods side by side, mean +- std, seeds as dots
  gallery_<dataset>.png     real-vs-generated sample grids, one per method
Missing and failed cells are marked, never averaged in.
"""
import csv
import glob
import json
import math
import os
import sys

import numpy as np

# The paper's Table 2 (test AUC, ACC); None = not reported. Single runs.
PAPER_TABLE2 = {
    'pathmnist': {'none': (.936, .740), 'ae': (.924, .708), 'cvae': (.887, .614), 'cgan': None},
    'dermamnist': {'none': (.843, .698), 'ae': (.832, .682), 'cvae': (.820, .686), 'cgan': None},
    'octmnist': {'none': (.791, .501), 'ae': (.833, .564), 'cvae': (.813, .543),
                 'cgan': (.803, .557)},
    'pneumoniamnist': {'none': (.942, .845), 'ae': (.949, .842), 'cvae': (.942, .859),
                       'cgan': (.948, .856)},
    'breastmnist': {'none': (.872, .807), 'ae': (.885, .833), 'cvae': (.901, .864),
                    'cgan': (.850, .796)},
    'organamnist': {'none': (.971, .781), 'ae': (.978, .819), 'cvae': (.981, .810),
                    'cgan': (.972, .783)},
    'organcmnist': {'none': (.976, .824), 'ae': (.982, .844), 'cvae': (.982, .842),
                    'cgan': (.979, .845)},
    'organsmnist': {'none': (.940, .641), 'ae': (.939, .659), 'cvae': (.928, .644),
                    'cgan': (.931, .652)},
}
METHOD_ORDER = ('none', 'ae', 'cvae', 'cgan')
DATASET_ORDER = tuple(PAPER_TABLE2)


def paper_value(dataset, method):
  return PAPER_TABLE2.get(dataset, {}).get(method)


# ----------------------------------------------------------------- statistics

def mean_std(values):
  """(mean, sample std (ddof=1; nan for n < 2), n) of the finite values."""
  v = np.asarray([x for x in values if x is not None and math.isfinite(x)], np.float64)
  if not len(v):
    return float('nan'), float('nan'), 0
  return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float('nan'), len(v)


def t_quantile(p, df):
  from scipy import stats  # pylint: disable=g-import-not-at-top
  return float(stats.t.ppf(p, df))


def paired_difference(a, b, level=0.95):
  """Seed-matched a - b: {seed: value} dicts -> mean, t-interval, n.

  The interval is mean +- t_{(1+level)/2, n-1} * sd / sqrt(n) over the seeds
  both have; it needs n >= 2 (lo/hi are nan otherwise).
  """
  seeds = sorted(s for s in set(a) & set(b)
                 if a[s] is not None and b[s] is not None
                 and math.isfinite(a[s]) and math.isfinite(b[s]))
  d = np.asarray([a[s] - b[s] for s in seeds], np.float64)
  n = len(d)
  if n == 0:
    return {'mean': float('nan'), 'lo': float('nan'), 'hi': float('nan'), 'n': 0,
            'seeds': []}
  m = float(d.mean())
  if n < 2:
    return {'mean': m, 'lo': float('nan'), 'hi': float('nan'), 'n': 1, 'seeds': seeds}
  half = t_quantile(0.5 + level / 2, n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
  return {'mean': m, 'lo': m - half, 'hi': m + half, 'n': n, 'seeds': seeds}


# -------------------------------------------------------------------- loading

def _load(path):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError):
    return None


def collect(root):
  """Every run under root: {'grid': grid.json or None, 'cells': {(dataset,
  method): {'runs': {seed: results}, 'dirs': {seed: workdir}, 'failed':
  failed.json or None, 'cell': cell.json or None}}}."""
  grid = _load(os.path.join(root, 'grid.json'))
  cells = {}

  def cell(d, m):
    return cells.setdefault((d, m), {'runs': {}, 'dirs': {}, 'failed': None, 'cell': None})

  for path in sorted(glob.glob(os.path.join(root, '**', 'results.json'), recursive=True)):
    r = _load(path)
    if not r or 'dataset' not in r or 'selected' not in r:
      continue
    c = cell(r['dataset'].lower(), r['method'])
    if r['seed'] in c['runs']:
      print(f'warning: two results for {r["dataset"]}/{r["method"]} seed {r["seed"]}; '
            f'using {c["dirs"][r["seed"]]}', file=sys.stderr)
      continue
    c['runs'][r['seed']] = r
    c['dirs'][r['seed']] = os.path.dirname(path)
  for name in ('failed.json', 'cell.json'):
    for path in sorted(glob.glob(os.path.join(root, '**', name), recursive=True)):
      r = _load(path)
      if r and 'dataset' in r and 'method' in r:
        cell(r['dataset'].lower(), r['method'])[name.split('.')[0]] = r
  if grid:
    for d in grid.get('datasets', []):
      for m in grid.get('methods', []):
        cell(d.lower(), m)
  return {'grid': grid, 'cells': cells}


def _order(values, preferred):
  return sorted(values, key=lambda v: (preferred.index(v) if v in preferred
                                       else len(preferred), v))


# ----------------------------------------------------------------------- rows

def rows(collected):
  """One dict per (dataset, method) with every number of the report."""
  grid, cells = collected['grid'], collected['cells']
  expected = [int(s) for s in grid['seeds']] if grid else None
  datasets = _order({d for d, _ in cells}, list(grid['datasets']) if grid else DATASET_ORDER)
  methods = _order({m for _, m in cells}, list(grid['methods']) if grid else METHOD_ORDER)
  per = {}
  for key, c in cells.items():
    failed = c['failed'] or {}
    bad = {int(s) for s in failed.get('seeds_failed', [])}
    per[key] = {s: r for s, r in c['runs'].items() if int(s) not in bad}
  out = []
  for d in datasets:
    for m in methods:
      if (d, m) not in cells:
        continue
      c = cells[(d, m)]
      runs = per[(d, m)]
      seeds = sorted(runs)
      failed = c['failed'] or {}
      n_exp = len(expected) if expected else len(set(seeds) | set(
          int(s) for s in failed.get('seeds_failed', [])))
      sel = lambda k: {s: runs[s]['selected'][k] for s in seeds}
      best = lambda k: {s: runs[s]['best_test'][k] for s in seeds}
      row = {'dataset': d, 'method': m, 'n': len(seeds), 'n_expected': n_exp,
             'seeds': seeds}
      for name, vals in (('auc', sel('test_auc')), ('acc', sel('test_acc')),
                         ('best_auc', best('auc')), ('best_acc', best('acc')),
                         ('val_auc', sel('val_auc'))):
        row[f'{name}_mean'], row[f'{name}_std'], _ = mean_std(list(vals.values()))
        row[f'_{name}'] = vals
      p = paper_value(d, m)
      row['paper_auc'], row['paper_acc'] = p if p else (float('nan'), float('nan'))
      none = per.get((d, 'none'))
      for name in ('auc', 'acc'):
        if m != 'none' and none:
          base = {s: r['selected'][f'test_{name}'] for s, r in none.items()}
          pd = paired_difference(row[f'_{name}'], base)
        else:
          pd = {'mean': float('nan'), 'lo': float('nan'), 'hi': float('nan'), 'n': 0}
        row[f'd_{name}'], row[f'd_{name}_lo'], row[f'd_{name}_hi'] = pd['mean'], pd['lo'], pd['hi']
        row['n_paired'] = pd['n']
      fid = [runs[s]['generator']['fidelity']['conditional_accuracy'] for s in seeds
             if (runs[s].get('generator') or {}).get('fidelity')]
      row['fidelity'], _, _ = mean_std(fid)
      row['wall_s'] = _cell_wall(c, runs)
      missing = [s for s in (expected or []) if s not in runs
                 and s not in {int(x) for x in failed.get('seeds_failed', [])}]
      if failed and not seeds:
        row['status'] = 'failed'
      elif failed:
        row['status'] = 'partly failed'
      elif not seeds:
        row['status'] = 'missing'
      elif missing:
        row['status'] = 'incomplete'
      else:
        row['status'] = 'ok'
      row['error'] = failed.get('error', '')
      row['seeds_failed'] = sorted(int(s) for s in failed.get('seeds_failed', []))
      row['seeds_missing'] = missing
      out.append(row)
  return out


def _cell_wall(c, runs):
  if c.get('cell') and c['cell'].get('wall_s'):
    return float(c['cell']['wall_s'])
  t = [r['timing'] for r in runs.values() if r.get('timing')]
  if not t:
    return float('nan')
  # Vmapped seeds share one wall time; sequential ones add up.
  if any(x.get('seeds_vmapped', 1) > 1 for x in t):
    return float(max(x['total_s'] for x in t))
  return float(sum(x['total_s'] for x in t))


# ----------------------------------------------------------------- formatting

def _f(x, digits=3):
  return '—' if x is None or not math.isfinite(x) else f'{x:.{digits}f}'


def _pm(mean, std):
  if not math.isfinite(mean):
    return '—'
  return f'{mean:.3f} ± {std:.3f}' if math.isfinite(std) else f'{mean:.3f}'


def _diff(row, name):
  m, lo, hi = row[f'd_{name}'], row[f'd_{name}_lo'], row[f'd_{name}_hi']
  if row['method'] == 'none':
    return '(baseline)'
  if not math.isfinite(m):
    return '—'
  if not math.isfinite(lo):
    return f'{m:+.3f} (n={row["n_paired"]}, no CI)'
  mark = ' *' if lo > 0 or hi < 0 else ''
  return f'{m:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark}'


def _paper(row):
  if not math.isfinite(row['paper_auc']):
    return '—'
  return f'{row["paper_auc"]:.3f} / {row["paper_acc"]:.3f}'


def _status(row):
  s = row['status']
  if s == 'ok':
    return ''
  if s == 'failed':
    return f'**FAILED**: {row["error"]}'
  if s == 'partly failed':
    return (f'**seeds {",".join(map(str, row["seeds_failed"]))} FAILED** (not averaged '
            f'in): {row["error"]}')
  if s == 'missing':
    return '**MISSING** (not run yet)'
  return f'seeds {",".join(map(str, row["seeds_missing"]))} missing'


def _wall(s):
  if not math.isfinite(s):
    return '—'
  s = int(round(s))
  return f'{s // 3600}h{s // 60 % 60:02d}m' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


def markdown(collected, table, plots, galleries):
  grid = collected['grid'] or {}
  envs = [r['env'] for c in collected['cells'].values() for r in c['runs'].values()
          if r.get('env')]
  lines = ['# Does generative augmentation help? Results', '']
  if grid.get('profile'):
    lines.append(f"Profile: **{grid['profile']}**. {grid.get('description', '')}")
    lines.append('')
  if envs:
    e = envs[0]
    lines.append(f"Machine: {e.get('machine', '?')}; JAX {e.get('jax', '?')} on "
                 f"{e.get('backend', '?')} ({e.get('device_count', '?')} x "
                 f"{e.get('device_kind', '?')}).")
  walls = [r['wall_s'] for r in table if math.isfinite(r['wall_s'])]
  if walls:
    lines.append(f'Compute time of the cells: {_wall(sum(walls))} in all'
                 + (f"; the last grid invocation took {_wall(grid['wall_s'])}."
                    if grid.get('wall_s') else '.'))
  n_ok = sum(r['status'] == 'ok' for r in table)
  lines += [f'Cells complete: {n_ok} of {len(table)}.', '',
            'AUC / ACC: test metrics at the epoch with the best validation AUC, '
            'mean ± sample std over seeds (n = seeds averaged of those planned). '
            "*Test-selected* is the paper's own figure: the best test value over all "
            'epochs (optimistic). *Paper* is its Table 2 (single runs). '
            '*Δ vs none*: the seed-matched difference to the no-augmentation '
            'baseline (same seed = same data subset), mean and 95% t-interval; '
            '`*` marks an interval that excludes 0. *Fidelity*: accuracy with which a '
            'pixel logistic regression fitted on the real training images recovers '
            'the class each generated image was asked for.', '',
            '| dataset | method | n | test AUC | test ACC | test-selected AUC / ACC '
            '| paper AUC / ACC | Δ AUC vs none [95% CI] | Δ ACC vs none [95% CI] '
            '| fidelity | wall | notes |',
            '|---|---|---|---|---|---|---|---|---|---|---|---|']
  for r in table:
    lines.append(
        f"| {r['dataset']} | {r['method']} | {r['n']}/{r['n_expected']} "
        f"| {_pm(r['auc_mean'], r['auc_std'])} | {_pm(r['acc_mean'], r['acc_std'])} "
        f"| {_f(r['best_auc_mean'])} / {_f(r['best_acc_mean'])} | {_paper(r)} "
        f"| {_diff(r, 'auc')} | {_diff(r, 'acc')} | {_f(r['fidelity'], 2)} "
        f"| {_wall(r['wall_s'])} | {_status(r)} |")
  if plots:
    lines += ['', '## Plots', '']
    lines += [f'![{d}]({p})' for d, p in plots]
  if galleries:
    lines += ['', '## Generated samples', '',
              'Each grid: one row per class, real training images left, generated '
              'right (the first finished seed of each method).', '']
    for d, p, links in galleries:
      lines.append(f'### {d}')
      lines.append('')
      lines.append(f'![{d} samples]({p})')
      lines.append('')
      lines.append(' · '.join(f'[{m}]({link})' for m, link in links))
      lines.append('')
  return '\n'.join(lines) + '\n'


CSV_FIELDS = ('dataset', 'method', 'status', 'n', 'n_expected', 'seeds', 'auc_mean',
              'auc_std', 'acc_mean', 'acc_std', 'best_auc_mean', 'best_auc_std',
              'best_acc_mean', 'best_acc_std', 'paper_auc', 'paper_acc', 'd_auc',
              'd_auc_lo', 'd_auc_hi', 'd_acc', 'd_acc_lo', 'd_acc_hi', 'n_paired',
              'val_auc_mean', 'fidelity', 'wall_s', 'seeds_failed', 'seeds_missing',
              'error')


def write_csv(path, table):
  with open(path + '.tmp', 'w', newline='') as f:
    w = csv.DictWriter(f, CSV_FIELDS, extrasaction='ignore')
    w.writeheader()
    for r in table:
      w.writerow({k: (' '.join(map(str, r[k])) if isinstance(r[k], list)
                      else '' if isinstance(r[k], float) and not math.isfinite(r[k])
                      else r[k]) for k in CSV_FIELDS})
  os.replace(path + '.tmp', path)


# ---------------------------------------------------------------- pictures

def plot_dataset(path, dataset, drows):
  """Methods side by side: mean ± std bars, seeds as dots, paper as diamonds."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
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
    ax.set_xticklabels([f"{r['method']}\n(n={r['n']})" for r in drows])
    ax.set_ylim(bottom, 1.0)
    ax.set_xlim(-0.6, len(drows) - 0.4)
    ax.set_ylabel(label)
    ax.grid(axis='y', alpha=0.3)
  handles, labels = axes[0].get_legend_handles_labels()
  fig.legend(handles, labels, fontsize=7, loc='lower center', ncol=4, frameon=False)
  fig.suptitle(dataset)
  fig.tight_layout(rect=(0, 0.07, 1, 1))
  fig.savefig(path, dpi=110)
  plt.close(fig)


def gallery(path, dataset, samples):
  """Stacks one samples.png per method under a title: [(method, png path)]."""
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
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
  canvas.save(path)


def write_report(root):
  """Writes report.md, report.csv, plots and galleries into root; returns the
  report.md path."""
  collected = collect(root)
  table = rows(collected)
  plots, galleries = [], []
  for d in dict.fromkeys(r['dataset'] for r in table):
    drows = [r for r in table if r['dataset'] == d]
    name = f'plot_{d}.png'
    if any(r['n'] for r in drows):
      plot_dataset(os.path.join(root, name), d, drows)
      plots.append((d, name))
    samples, links = [], []
    for r in drows:
      c = collected['cells'][(d, r['method'])]
      for s in r['seeds']:
        p = os.path.join(c['dirs'][s], 'samples.png')
        if os.path.exists(p):
          samples.append((f"{r['method']} (seed {s})", p))
          links.append((r['method'], os.path.relpath(p, root)))
          break
    if samples:
      name = f'gallery_{d}.png'
      gallery(os.path.join(root, name), d, samples)
      galleries.append((d, name, links))
  write_csv(os.path.join(root, 'report.csv'), table)
  path = os.path.join(root, 'report.md')
  with open(path + '.tmp', 'w') as f:
    f.write(markdown(collected, table, plots, galleries))
  os.replace(path + '.tmp', path)
  return path


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  if len(argv) != 1 or argv[0].startswith('-'):
    sys.exit('usage: python -m medaug_jax.report RUNS_DIR   (e.g. runs/table2)')
  root = argv[0]
  if not os.path.isdir(root):
    sys.exit(f'error: {root} is not a directory')
  path = write_report(root)
  with open(path) as f:
    text = f.read()
  # The table itself on the terminal; the pictures are in the folder.
  print(text.split('\n## ')[0])
  print(f'Written: {path}, {os.path.join(root, "report.csv")} and the PNGs beside them.')


if __name__ == '__main__':
  main()
