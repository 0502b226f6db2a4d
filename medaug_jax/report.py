"""The Table-2-shaped report of a grid (or any folder of runs).

  python -m medaug_jax.report runs/table2

Finds every results.json (and failed.json) under the folder and writes, in it:
  report.md                 one row per dataset x method: val-selected test
                            AUC/ACC mean +- std over seeds (n shown), the
                            test-selected figure the paper used, the paper's
                            Table 2 value, the paired (seed-matched)
                            difference to 'none' with its 95% t-interval and
                            a Holm-corrected mark, and a column per measure
                            of the generated images found in the results
                            (generator.quality)
  report.csv                the same numbers, unrounded
  plot_<dataset>.png        methods side by side, mean +- std, seeds as dots
  gallery_<dataset>.png     real-vs-generated sample grids, one per method
Missing and failed cells are marked, never averaged in.
"""
import csv
import glob
import io
import math
import os
import sys

import numpy as np

from medaug_jax.files import read_json, write_atomic
from medaug_jax.pictures import gallery, plot_dataset, plot_gain_against, plot_ratios

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
# The methods every other one is compared with (seed-matched), and the suffix
# of their columns: the paper's baseline, and classic augmentation.
BASELINES = {'none': '', 'classic': '_classic'}
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


def t_pvalue(t, df):
  """Two-sided p-value of a t statistic."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  return float(2 * stats.t.sf(abs(t), df))


def holm(pvalues):
  """Holm-Bonferroni adjusted p-values (nan stays nan, not counted)."""
  p = np.asarray(pvalues, np.float64)
  ok = np.flatnonzero(np.isfinite(p))
  out = np.full(p.shape, np.nan)
  order = ok[np.argsort(p[ok], kind='stable')]
  running = 0.0
  for rank, i in enumerate(order):
    running = max(running, min(1.0, (len(order) - rank) * p[i]))
    out[i] = running
  return out.tolist()


def paired_difference(a, b, level=0.95):
  """Seed-matched a - b: {seed: value} dicts -> mean, t-interval, p, n.

  The interval is mean +- t_{(1+level)/2, n-1} * sd / sqrt(n) over the seeds
  both have, and p the paired t-test's two-sided p-value; both need n >= 2
  (nan otherwise).
  """
  seeds = sorted(s for s in set(a) & set(b)
                 if a[s] is not None and b[s] is not None
                 and math.isfinite(a[s]) and math.isfinite(b[s]))
  d = np.asarray([a[s] - b[s] for s in seeds], np.float64)
  n = len(d)
  nan = float('nan')
  if n < 2:
    return {'mean': float(d.mean()) if n else nan, 'lo': nan, 'hi': nan, 'p': nan, 'n': n,
            'seeds': seeds}
  m, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(n)
  half = t_quantile(0.5 + level / 2, n - 1) * se
  p = t_pvalue(m / se, n - 1) if se > 0 else (1.0 if m == 0 else 0.0)
  return {'mean': m, 'lo': m - half, 'hi': m + half, 'p': p, 'n': n, 'seeds': seeds}


# -------------------------------------------------------------------- loading

def quality_of(results):
  """generator.quality of a run; runs made before it existed kept the same
  regression as generator.fidelity.conditional_accuracy."""
  gen = results.get('generator') or {}
  if 'quality' in gen:
    return gen['quality'] or {}
  if 'fidelity' in gen:
    return {'label_agreement': gen['fidelity']['conditional_accuracy']}
  return {}


def collect(root):
  """Every run under root: {'grid': grid.json or None, 'cells': {(dataset,
  method): {'runs': {seed: results}, 'dirs': {seed: workdir}, 'failed':
  failed.json or None, 'cell': cell.json or None}}}."""
  grid = read_json(os.path.join(root, 'grid.json'))
  cells = {}

  def cell(d, m):
    return cells.setdefault((d, m), {'runs': {}, 'dirs': {}, 'failed': None, 'cell': None})

  for path in sorted(glob.glob(os.path.join(root, '**', 'results.json'), recursive=True)):
    r = read_json(path)
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
      r = read_json(path)
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
      for baseline, suffix in BASELINES.items():
        ref = per.get((d, baseline))
        for name in ('auc', 'acc'):
          base = ({s: r['selected'][f'test_{name}'] for s, r in ref.items()}
                  if m != baseline and ref else {})
          pd = paired_difference(row[f'_{name}'], base)
          key = f'{name}{suffix}'
          row[f'd_{key}'], row[f'd_{key}_lo'], row[f'd_{key}_hi'] = pd['mean'], pd['lo'], pd['hi']
          row[f'p_{key}'] = pd['p']
          row[f'n_paired{suffix}'] = pd['n']
      row['_quality'] = {s: quality_of(runs[s]) for s in seeds}
      qualities = list(row['_quality'].values())
      row['quality'] = {k: mean_std([q.get(k) for q in qualities])[0]
                        for k in dict.fromkeys(k for q in qualities for k, v in q.items()
                                               if isinstance(v, (int, float)))}
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
      row['warned_seeds'] = [s for s in seeds
                             if ((runs[s].get('generator') or {}).get('warnings'))]
      out.append(row)
  for d in datasets:
    drows = [r for r in out if r['dataset'] == d]
    for key in (f'{name}{suffix}' for suffix in BASELINES.values() for name in ('auc', 'acc')):
      for r, p in zip(drows, holm([r[f'p_{key}'] for r in drows])):
        r[f'p_{key}_holm'] = p
  return out


def ratio_points(drows):
  """{method: [(ratio, d_auc, lo, hi)]} of a dataset's '<method>@<ratio>' rows."""
  out = {}
  for r in drows:
    method, _, ratio = r['method'].partition('@')
    if ratio and math.isfinite(r['d_auc']):
      out.setdefault(method, []).append((float(ratio), r['d_auc'], r['d_auc_lo'], r['d_auc_hi']))
  return out


# Measures whose rank correlation with the gain the report states (where the
# results have them), and the two it plots the gain against.
PREDICTORS = ('kid', 'fd', 'precision', 'recall', 'density', 'coverage', 'memorisation',
              'dcr_ratio', 'cas_auc', 'label_agreement')
PLOTTED = ('kid', 'coverage')


def gain_points(drows):
  """[(method, seed, Δ AUC vs none, {measure: value})] of a dataset's runs
  that have a generator's measures and a seed-matched 'none' run."""
  none = next((r for r in drows if r['method'] == 'none'), None)
  if none is None:
    return []
  return [(r['method'], s, auc - none['_auc'][s], r['_quality'][s])
          for r in drows if r['method'] != 'none'
          for s, auc in r['_auc'].items()
          if s in none['_auc'] and r['_quality'].get(s)]


def rank_correlations(points):
  """{measure: (Spearman rho, n)} of Δ AUC with each measure over the runs."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  out = {}
  for key in PREDICTORS:
    pairs = [(q[key], d) for _, _, d, q in points
             if isinstance(q.get(key), (int, float)) and math.isfinite(q[key])]
    if len(pairs) >= 3 and len({p[0] for p in pairs}) > 1:
      rho = stats.spearmanr(*zip(*pairs)).statistic
      out[key] = (float(rho), len(pairs))
  return out


def quality_keys(table):
  """The measures of generated images found in the table, in order."""
  return list(dict.fromkeys(k for r in table for k in r['quality']))


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


def _diff(row, name, baseline='none'):
  suffix = BASELINES[baseline]
  key = f'{name}{suffix}'
  m, lo, hi = row[f'd_{key}'], row[f'd_{key}_lo'], row[f'd_{key}_hi']
  if row['method'] == baseline:
    return '(baseline)'
  if not math.isfinite(m):
    return '—'
  if not math.isfinite(lo):
    return f'{m:+.3f} (n={row[f"n_paired{suffix}"]}, no CI)'
  mark = ' *' if row[f'p_{key}_holm'] < 0.05 else ''
  return f'{m:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark}'


def _paper(row):
  if not math.isfinite(row['paper_auc']):
    return '—'
  return f'{row["paper_auc"]:.3f} / {row["paper_acc"]:.3f}'


def _status(row):
  return ' '.join(x for x in (_state(row), _warned(row)) if x)


def _warned(row):
  if not row['warned_seeds']:
    return ''
  return (f'generator warning, seeds {",".join(map(str, row["warned_seeds"]))} '
          '(see their results.json and samples.png)')


def _state(row):
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


def _quality_cell(row, key):
  v = row['quality'].get(key, float('nan'))
  ceiling = row['quality'].get(f'{key}_ceiling')
  return _f(v, 2) + (f' / {_f(ceiling, 2)}' if ceiling is not None else '')


def _shown_quality(table):
  """Quality keys that get a column; a key's _ceiling goes beside it, its
  _chance and _std and the reference network's scores go to report.csv."""
  return [k for k in quality_keys(table)
          if not k.endswith(('_ceiling', '_chance', '_std')) and not k.startswith('reference_')]


def _reference_note(table):
  """One sentence on the reference networks behind the feature measures."""
  seen = {}
  for r in table:
    auc = r['quality'].get('reference_test_auc')
    if auc is not None and math.isfinite(auc):
      seen[r['dataset']] = (auc, r['quality'].get('reference_below_floor'))
  if not seen:
    return []
  parts = [f'{d} {auc:.3f}' + (' (**below the floor: read its measures with care**)'
                               if low else '') for d, (auc, low) in seen.items()]
  return ['', 'KID, FD, precision/recall/density/coverage and memorisation are computed '
          "on the features of a reference ResNet-18 trained on each dataset's full "
          'official training split; its test AUC: ' + ', '.join(parts) + '. FD is biased '
          'upwards at these sample sizes (hundreds of images); KID is not.']


def _machine(env):
  return (f"{env.get('machine', '?')}; JAX {env.get('jax', '?')} on {env.get('backend', '?')} "
          f"({env.get('device_count', '?')} x {env.get('device_kind', '?')})")


def markdown(collected, table, plots, galleries, correlations=()):
  grid = collected['grid'] or {}
  qkeys = _shown_quality(table)
  # Classic augmentation is the second baseline where the table has it.
  vs_classic = any(r['method'] == 'classic' and r['n'] for r in table)
  qhead = [k.replace('_', ' ') + (' / ceiling' if any(f'{k}_ceiling' in r['quality']
                                                       for r in table) else '')
           for k in qkeys]
  # Cells of one grid may have run on different machines (resumed elsewhere).
  machines = {}
  for (_, method), c in collected['cells'].items():
    for r in c['runs'].values():
      if r.get('env'):
        machines.setdefault(_machine(r['env']), []).append(method)
  lines = ['# Does generative augmentation help? Results', '']
  if grid.get('profile'):
    lines.append(f"Profile: **{grid['profile']}**. {grid.get('description', '')}")
    lines.append('')
  if len(machines) == 1:
    lines.append(f'Machine: {next(iter(machines))}.')
  elif machines:
    lines.append('Machines: ' + '; '.join(
        f"{m} ({', '.join(dict.fromkeys(methods))})"
        for m, methods in sorted(machines.items(), key=lambda kv: -len(kv[1]))) + '.')
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
            'baseline (same seed = same data subset), mean and 95% t-interval '
            '(uncorrected); `*` marks a difference whose paired t-test stays below '
            "p = 0.05 after Holm's correction over the dataset's comparisons. "
            + ('*Δ vs classic*: the same against classic augmentation alone. '
               if vs_classic else '') +
            '*Label agreement*: the fraction of generated images that a pixel '
            'logistic regression fitted on the real training images gives the class '
            'they were generated for; the ceiling is its accuracy on the real '
            'validation images (for the AE, whose images reconstruct training images, '
            'the agreement is in-sample).', '',
            '| dataset | method | n | test AUC | test ACC | test-selected AUC / ACC '
            '| paper AUC / ACC | Δ AUC vs none [95% CI] | Δ ACC vs none [95% CI] | '
            + ('Δ AUC vs classic [95% CI] | Δ ACC vs classic [95% CI] | ' if vs_classic else '')
            + ''.join(f'{h} | ' for h in qhead) + 'wall | notes |',
            '|---|---|---|---|---|---|---|---|---|' + '---|' * (len(qkeys) + 2 * vs_classic)
            + '---|---|']
  for r in table:
    lines.append(
        f"| {r['dataset']} | {r['method']} | {r['n']}/{r['n_expected']} "
        f"| {_pm(r['auc_mean'], r['auc_std'])} | {_pm(r['acc_mean'], r['acc_std'])} "
        f"| {_f(r['best_auc_mean'])} / {_f(r['best_acc_mean'])} | {_paper(r)} "
        f"| {_diff(r, 'auc')} | {_diff(r, 'acc')} | "
        + (f"{_diff(r, 'auc', 'classic')} | {_diff(r, 'acc', 'classic')} | " if vs_classic else '')
        + ''.join(f'{_quality_cell(r, k)} | ' for k in qkeys)
        + f"{_wall(r['wall_s'])} | {_status(r)} |")
  lines += _reference_note(table)
  if any('@' in r['method'] for r in table):
    lines += ['', 'A method `m@r` adds r times as many synthetic images as there are real '
              'training images, the same number for every class. '
              'The classifier trains for a set number of epochs, so such a run takes about '
              '(1 + r) times the gradient steps of `none`: a gain with r can come from '
              'longer training as well as from the images.']
  predictors = [(d, c) for d, c in correlations if c]
  if predictors:
    lines += ['', '## Which measure of the generated images goes with a gain?', '',
              'Spearman rank correlation of the seed-matched Δ AUC vs none with each '
              'measure of the generated images, over the runs (methods x seeds) of a '
              'dataset; n runs. With a few dozen runs, |rho| below about 0.35 is within '
              'what chance gives; a correlation is not a cause.', '']
    for d, c in predictors:
      ranked = sorted(c.items(), key=lambda kv: -abs(kv[1][0]))
      lines.append(f'- **{d}**: ' + ', '.join(f'{k} {rho:+.2f} (n={n})'
                                              for k, (rho, n) in ranked) + '.')
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
              'd_auc_lo', 'd_auc_hi', 'p_auc', 'p_auc_holm', 'd_acc', 'd_acc_lo', 'd_acc_hi',
              'p_acc', 'p_acc_holm', 'n_paired', 'd_auc_classic', 'd_auc_classic_lo',
              'd_auc_classic_hi', 'p_auc_classic_holm', 'd_acc_classic', 'd_acc_classic_lo',
              'd_acc_classic_hi', 'p_acc_classic_holm', 'n_paired_classic', 'val_auc_mean', 'wall_s', 'seeds_failed',
              'seeds_missing', 'warned_seeds', 'error')


def write_csv(path, table):
  """report.csv: CSV_FIELDS, then one column per quality key."""
  qkeys = quality_keys(table)

  def cell(v):
    if isinstance(v, list):
      return ' '.join(map(str, v))
    return '' if isinstance(v, float) and not math.isfinite(v) else v

  out = io.StringIO()
  w = csv.writer(out)
  w.writerow(CSV_FIELDS + tuple(qkeys))
  for r in table:
    w.writerow([cell(r[k]) for k in CSV_FIELDS]
               + [cell(r['quality'].get(k, float('nan'))) for k in qkeys])
  write_atomic(path, out.getvalue())


# ----------------------------------------------------------------- the files

def write_report(root):
  """Writes report.md, report.csv, plots and galleries into root; returns the
  report.md path."""
  collected = collect(root)
  table = rows(collected)
  plots, galleries, correlations = [], [], []
  for d in dict.fromkeys(r['dataset'] for r in table):
    drows = [r for r in table if r['dataset'] == d]
    name = f'plot_{d}.png'
    if any(r['n'] for r in drows):
      plot_dataset(os.path.join(root, name), d, drows)
      plots.append((d, name))
    points = gain_points(drows)
    correlations.append((d, rank_correlations(points)))
    if any(k in q for _, _, _, q in points for k in PLOTTED):
      name = f'gain_{d}.png'
      plot_gain_against(os.path.join(root, name), d, points, PLOTTED)
      plots.append((f'{d}: gain against the measures', name))
    ratios = ratio_points(drows)
    if ratios:
      name = f'ratio_{d}.png'
      plot_ratios(os.path.join(root, name), d, ratios)
      plots.append((f'{d}: synthetic-to-real ratio', name))
    samples, links = [], []
    for r in drows:
      c = collected['cells'][(d, r['method'])]
      for s in r['seeds']:
        p = os.path.join(c['dirs'][s], 'samples.png')
        # 'dcgan+classic' shows the images of 'dcgan': one picture of them is enough.
        if (c['runs'][s].get('generator') or {}).get('reused_from'):
          break
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
  write_atomic(path, markdown(collected, table, plots, galleries, correlations))
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
