"""The report on hand-made results files with known answers."""
import csv
import json
import math
import os

import numpy as np
import pytest

from medaug_jax import report

# test AUC per seed (val-selected); ACC = AUC - 0.1; best test = AUC + 0.01.
NONE = {0: 0.80, 1: 0.82, 2: 0.84}
AE = {0: 0.83, 1: 0.86, 2: 0.86}  # differences to none: .03, .04, .02
CGAN = {0: 0.70, 1: 0.90}  # seed 2 failed


CPU = {'machine': 'x86_64, 2 cpus', 'jax': '0', 'backend': 'cpu', 'device_count': 1,
       'device_kind': 'cpu'}


def write_run(root, dataset, method, seed, auc, env=None):
  w = os.path.join(root, dataset, method, f'seed_{seed}')
  os.makedirs(w, exist_ok=True)
  res = {'dataset': dataset, 'method': method, 'seed': seed, 'task': 'binary-class',
         'sizes': {'train': 300, 'val': 34, 'test': 624, 'generated': 0},
         'selected': {'epoch': 3, 'val_auc': 0.9, 'val_acc': 0.8, 'test_auc': auc,
                      'test_acc': auc - 0.1},
         'best_test': {'auc': auc + 0.01, 'acc': auc - 0.09},
         'generator': None if method == 'none' else
         {'quality': {'label_agreement': 0.75, 'label_agreement_ceiling': 0.8,
                      'label_agreement_chance': 0.5}},
         'timing': {'total_s': 10.0, 'seeds_vmapped': 1},
         'env': env or CPU}
  with open(os.path.join(w, 'results.json'), 'w') as f:
    json.dump(res, f)


def write_failed(root, dataset, method, seeds, error):
  d = os.path.join(root, dataset, method)
  os.makedirs(d, exist_ok=True)
  with open(os.path.join(d, 'failed.json'), 'w') as f:
    json.dump({'dataset': dataset, 'method': method, 'error': error,
               'seeds_failed': seeds}, f)


@pytest.fixture
def runs(tmp_path):
  root = str(tmp_path)
  with open(os.path.join(root, 'grid.json'), 'w') as f:
    json.dump({'profile': 'test', 'datasets': ['pneumoniamnist', 'breastmnist'],
               'methods': ['none', 'ae', 'cvae', 'cgan'], 'seeds': [0, 1, 2]}, f)
  for s, v in NONE.items():
    write_run(root, 'pneumoniamnist', 'none', s, v)
  for s, v in AE.items():
    write_run(root, 'pneumoniamnist', 'ae', s, v)
  for s, v in CGAN.items():
    write_run(root, 'pneumoniamnist', 'cgan', s, v)
  write_failed(root, 'pneumoniamnist', 'cgan', [2], 'MedaugError: generator diverged')
  # cvae failed entirely; a stale results file of seed 0 must not be averaged in.
  write_run(root, 'pneumoniamnist', 'cvae', 0, 0.99)
  write_failed(root, 'pneumoniamnist', 'cvae', [0, 1, 2], 'MedaugError: boom')
  # breastmnist: only none seed 0 exists; the rest is missing.
  write_run(root, 'breastmnist', 'none', 0, 0.75)
  return root


def test_mean_std():
  m, s, n = report.mean_std([0.80, 0.82, 0.84])
  assert (round(m, 12), round(s, 12), n) == (0.82, 0.02, 3)
  m, s, n = report.mean_std([0.5, float('nan'), None])
  assert m == 0.5 and math.isnan(s) and n == 1


def test_paired_difference_t_interval():
  d = report.paired_difference(AE, NONE)
  # d = .03, .04, .02: mean .03, sd .01, t_{.975, 2} = 4.302653
  half = 4.302653 * 0.01 / math.sqrt(3)
  assert d['n'] == 3
  assert d['mean'] == pytest.approx(0.03, abs=1e-12)
  assert d['lo'] == pytest.approx(0.03 - half, abs=1e-6)
  assert d['hi'] == pytest.approx(0.03 + half, abs=1e-6)
  # Only seeds both have count; one pair gives a mean and no interval.
  one = report.paired_difference({0: 0.9, 5: 0.1}, {0: 0.8})
  assert one['n'] == 1 and one['mean'] == pytest.approx(0.1) and math.isnan(one['lo'])


def test_holm():
  assert report.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
  adjusted = report.holm([float('nan'), 0.02, 0.9])
  assert math.isnan(adjusted[0]) and adjusted[1:] == pytest.approx([0.04, 0.9])


def test_holm_marks_what_survives(tmp_path):
  root = str(tmp_path)
  for s in range(4):
    write_run(root, 'breastmnist', 'none', s, 0.80 + 0.01 * s)
    write_run(root, 'breastmnist', 'cvae', s, 0.90 + 0.01 * s + 0.001 * (s % 2))
    write_run(root, 'breastmnist', 'ae', s, 0.80 + 0.01 * s + 0.02 * (s % 2) - 0.01)
  rows = {r['method']: r for r in report.rows(report.collect(root))}
  assert rows['cvae']['p_auc_holm'] < 0.05 and rows['ae']['p_auc_holm'] > 0.05
  assert report._diff(rows['cvae'], 'auc').endswith(' *')
  assert not report._diff(rows['ae'], 'auc').endswith(' *')


def test_runs_from_before_quality_keep_their_label_agreement():
  assert report.quality_of({'generator': {'fidelity': {'conditional_accuracy': 0.6}}}) == \
      {'label_agreement': 0.6}
  assert report.quality_of({'generator': None}) == {}


def test_rows(runs):
  rows = {(r['dataset'], r['method']): r for r in report.rows(report.collect(runs))}
  assert list(rows) == [('pneumoniamnist', m) for m in ('none', 'ae', 'cvae', 'cgan')] + \
      [('breastmnist', m) for m in ('none', 'ae', 'cvae', 'cgan')]
  none = rows[('pneumoniamnist', 'none')]
  assert none['status'] == 'ok' and none['n'] == 3 and none['n_expected'] == 3
  assert none['auc_mean'] == pytest.approx(0.82) and none['auc_std'] == pytest.approx(0.02)
  assert none['acc_mean'] == pytest.approx(0.72)
  assert none['best_auc_mean'] == pytest.approx(0.83)
  assert none['best_acc_mean'] == pytest.approx(0.73)
  assert (none['paper_auc'], none['paper_acc']) == (0.942, 0.845)
  ae = rows[('pneumoniamnist', 'ae')]
  assert ae['d_auc'] == pytest.approx(0.03) and ae['d_acc'] == pytest.approx(0.03)
  half = 4.302653 * 0.01 / math.sqrt(3)
  assert ae['d_auc_lo'] == pytest.approx(0.03 - half, abs=1e-6)
  assert ae['quality'] == pytest.approx({'label_agreement': 0.75, 'label_agreement_ceiling': 0.8,
                                         'label_agreement_chance': 0.5})
  from scipy import stats
  assert ae['p_auc'] == pytest.approx(stats.ttest_rel(list(AE.values()), list(NONE.values())).pvalue)
  # Failed cell: marked, its stale result not averaged in.
  cvae = rows[('pneumoniamnist', 'cvae')]
  assert cvae['status'] == 'failed' and cvae['n'] == 0 and math.isnan(cvae['auc_mean'])
  assert math.isnan(cvae['d_auc'])
  # Partly failed cell: the failed seed is left out, the rest averaged.
  cgan = rows[('pneumoniamnist', 'cgan')]
  assert cgan['status'] == 'partly failed' and cgan['n'] == 2
  assert cgan['auc_mean'] == pytest.approx(0.80)
  assert cgan['auc_std'] == pytest.approx(np.std([0.7, 0.9], ddof=1))
  # paired with none on seeds 0, 1: d = -.10, +.08
  assert cgan['d_auc'] == pytest.approx(-0.01) and cgan['n_paired'] == 2
  half2 = 12.706205 * np.std([-0.1, 0.08], ddof=1) / math.sqrt(2)
  assert cgan['d_auc_hi'] == pytest.approx(-0.01 + half2, abs=1e-5)
  # Missing cells and seeds.
  assert rows[('breastmnist', 'ae')]['status'] == 'missing'
  b = rows[('breastmnist', 'none')]
  assert b['status'] == 'incomplete' and b['n'] == 1 and b['seeds_missing'] == [1, 2]
  assert math.isnan(b['auc_std'])


def test_write_report_files(runs):
  path = report.write_report(runs)
  with open(path) as f:
    md = f.read()
  line = {l.split('|')[1].strip() + '/' + l.split('|')[2].strip(): l
          for l in md.splitlines() if l.startswith('| pneumo') or l.startswith('| breast')}
  assert '0.820 ± 0.020' in line['pneumoniamnist/none']
  assert '3/3' in line['pneumoniamnist/none']
  assert '0.942 / 0.845' in line['pneumoniamnist/none']
  # The uncorrected interval excludes 0, but its p = .035 doubled by Holm's
  # correction (two comparisons with a p-value: ae, cgan) is not below .05.
  assert '+0.030 [+0.005, +0.055] |' in line['pneumoniamnist/ae']
  assert '0.75 / 0.80' in line['pneumoniamnist/ae']
  assert 'label agreement / ceiling' in md
  assert '**FAILED**: MedaugError: boom' in line['pneumoniamnist/cvae']
  assert '0.99' not in line['pneumoniamnist/cvae']
  assert '2/3' in line['pneumoniamnist/cgan'] and 'FAILED' in line['pneumoniamnist/cgan']
  assert '**MISSING**' in line['breastmnist/cvae']
  with open(os.path.join(runs, 'report.csv')) as f:
    table = {(r['dataset'], r['method']): r for r in csv.DictReader(f)}
  assert len(table) == 8
  assert float(table[('pneumoniamnist', 'ae')]['auc_mean']) == pytest.approx(0.85)
  assert table[('pneumoniamnist', 'cvae')]['status'] == 'failed'
  assert table[('pneumoniamnist', 'cvae')]['auc_mean'] == ''
  for d in ('pneumoniamnist', 'breastmnist'):
    assert os.path.getsize(os.path.join(runs, f'plot_{d}.png')) > 1000


def test_machines_of_a_grid_resumed_elsewhere(runs):
  with open(report.write_report(runs)) as f:
    assert 'Machine: x86_64, 2 cpus; JAX 0 on cpu (1 x cpu).' in f.read()
  write_run(runs, 'breastmnist', 'ae', 0, 0.8,
            env=dict(CPU, machine='x86_64, 16 cpus', backend='gpu', device_kind='H200'))
  with open(report.write_report(runs)) as f:
    md = f.read()
  assert ('Machines: x86_64, 2 cpus; JAX 0 on cpu (1 x cpu) (none, ae, cgan, cvae); '
          'x86_64, 16 cpus; JAX 0 on gpu (1 x H200) (ae).') in md


def test_gallery_from_samples(runs):
  from PIL import Image
  for m, color in (('ae', 'red'), ('cgan', 'blue'), ('ae+classic', 'green')):
    if m == 'ae+classic':  # the same images as ae's, copied by the grid
      write_run(runs, 'pneumoniamnist', m, 0, 0.8)
      path = os.path.join(runs, 'pneumoniamnist', m, 'seed_0', 'results.json')
      with open(path) as f:
        res = json.load(f)
      res['generator']['reused_from'] = os.path.join(runs, 'pneumoniamnist', 'ae', 'seed_0')
      with open(path, 'w') as f:
        json.dump(res, f)
    Image.new('RGB', (60, 30), color).save(
        os.path.join(runs, 'pneumoniamnist', m, 'seed_0', 'samples.png'))
  report.write_report(runs)
  g = Image.open(os.path.join(runs, 'gallery_pneumoniamnist.png'))
  assert g.width == 60 and g.height == 2 * (30 + 18)  # ae and cgan, not ae+classic again
  with open(os.path.join(runs, 'report.md')) as f:
    md = f.read()
  assert 'gallery_pneumoniamnist.png' in md
  assert '[ae](pneumoniamnist/ae/seed_0/samples.png)' in md


def test_cli(runs, capsys):
  report.main([runs])
  out = capsys.readouterr().out
  assert '| pneumoniamnist | none |' in out
  with pytest.raises(SystemExit):
    report.main([])


def test_classic_baseline_and_ratio_plot(tmp_path):
  root = str(tmp_path)
  for s in range(3):
    write_run(root, 'breastmnist', 'none', s, 0.80 + 0.01 * s)
    write_run(root, 'breastmnist', 'classic', s, 0.83 + 0.01 * s)
    write_run(root, 'breastmnist', 'cgan+classic', s, 0.84 + 0.01 * s + 0.001 * s * s)
    for ratio, gain in ((0.5, 0.0), (2, 0.02)):
      write_run(root, 'breastmnist', f'cgan@{ratio:g}', s, 0.80 + 0.01 * s + gain + 0.001 * s)
  rows = {r['method']: r for r in report.rows(report.collect(root))}
  both = rows['cgan+classic']
  assert both['d_auc'] == pytest.approx(0.04 + 0.005 / 3)
  assert both['d_auc_classic'] == pytest.approx(0.01 + 0.005 / 3)
  assert rows['classic']['d_auc'] == pytest.approx(0.03)
  assert report._diff(rows['classic'], 'auc', 'classic') == '(baseline)'
  assert report.ratio_points(list(rows.values())) == {'cgan': [
      (0.5, pytest.approx(0.001), pytest.approx(rows['cgan@0.5']['d_auc_lo']),
       pytest.approx(rows['cgan@0.5']['d_auc_hi'])),
      (2.0, pytest.approx(0.021), pytest.approx(rows['cgan@2']['d_auc_lo']),
       pytest.approx(rows['cgan@2']['d_auc_hi']))]}
  path = report.write_report(root)
  md = open(path).read()
  assert 'Δ AUC vs classic [95% CI]' in md and 'ratio_breastmnist.png' in md
  assert '(1 + r) times the gradient steps' in md
  assert os.path.getsize(os.path.join(root, 'ratio_breastmnist.png')) > 1000


def test_gain_against_measures(tmp_path):
  root = str(tmp_path)
  rs = np.random.default_rng(0)
  for s in range(4):
    write_run(root, 'breastmnist', 'none', s, 0.80 + 0.01 * s)
    for k, m in enumerate(('ae', 'cvae', 'cgan')):
      kid = 0.1 * (k + 1) + 0.01 * s
      write_run(root, 'breastmnist', m, s, 0.80 + 0.01 * s - kid / 10 + rs.normal() * 1e-4)
      path = os.path.join(root, 'breastmnist', m, f'seed_{s}', 'results.json')
      res = json.load(open(path))
      res['generator']['quality'].update(kid=kid, coverage=0.5)
      json.dump(res, open(path, 'w'))
  table = report.rows(report.collect(root))
  points = report.gain_points(table)
  assert len(points) == 12
  corr = report.rank_correlations(points)
  assert corr['kid'][0] == pytest.approx(-1.0) and corr['kid'][1] == 12
  assert 'coverage' not in corr  # constant: no ranks to correlate
  md = open(report.write_report(root)).read()
  assert '**breastmnist**: kid -1.00 (n=12)' in md
  assert os.path.getsize(os.path.join(root, 'gain_breastmnist.png')) > 1000
