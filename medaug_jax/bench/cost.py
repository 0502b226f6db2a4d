"""Cost model: how long a grid would take, projected from measured rates.

  python -m medaug_jax.bench.cost --config=configs/grid.py --bench=runs/bench/bench.json \
      --runs=results/h100_single_runs

A run costs, per classifier epoch, its training images at the benchmark's
ResNet train-step rate, its val and test images at the eval-pass rate, and a
fixed per-epoch overhead (the epoch's host work: metrics, AUC, logs), which
is measured from finished runs' metrics.jsonl as the median epoch time less
the first two terms; plus, for a generator method, its generator's epochs of
training images at that generator's step rate. Dataset sizes come from
medmnist's INFO and the paper's subset rule (data.paper_subset: 150 training
images per class, val = train / 9, the official test set), so datasets that
are not on this machine are projected too, assuming every class has 150
images to give (DermaMNIST's rarest do not: a slight overestimate there).
Compilation, the quality measures and sampling are not in the model. A
projection, and labelled as one: it says nothing about concurrency.
"""
import glob
import json
import math
import os
import statistics

from absl import app, flags

from medaug_jax import data, generators, grid as grid_lib
from medaug_jax.generators import phase

FLAGS = flags.FLAGS
# --config (the grid config to project, overridable as --config.seeds=0,1) is
# medaug_jax.grid's own flag.
flags.DEFINE_list('bench', [], 'bench.json files whose JAX img/s rates are used (later ones win).')
flags.DEFINE_list('rates', [], 'Rates that override the files, as model=img/s '
                  '(e.g. resnet_train=28737,resnet_eval=135752,cgan=272995).')
flags.DEFINE_list('runs', [], 'Folders of finished runs whose classifier epochs give the '
                  'per-epoch overhead.')
flags.DEFINE_float('overhead', None, 'Per-epoch overhead in seconds (instead of --runs).')


def rates_of(bench_files, overrides=()):
  """{model: img/s} of the JAX rows of grey images, then the overrides."""
  rates = {}
  for path in bench_files:
    with open(path) as f:
      for case in json.load(f).get('cases', []):
        for row in case['rows']:
          if case['channels'] == 1 and row['impl'] == 'jax' and row.get('images_per_s'):
            rates[case['model']] = row['images_per_s']
  for item in overrides:
    model, _, value = item.partition('=')
    rates[model.strip()] = float(value)
  return rates


def sizes(config):
  """(train, val, test, classes) of a run's dataset under its subset rule,
  from medmnist's INFO (no data file needed)."""
  info = data.medmnist_info()[config.dataset]
  n, classes = info['n_samples'], len(info['label'])
  if not config.data.subset or config.dataset in data.KEEP_OFFICIAL_SPLITS:
    return n['train'], n['val'], n['test'], classes
  train = config.data.train_per_class * classes
  return train, math.ceil(train / config.data.val_ratio), n['test'], classes


def epoch_seconds(n_train, n_eval, rates, overhead):
  return n_train / rates['resnet_train'] + n_eval / rates['resnet_eval'] + overhead


def measured_overhead(folders, rates):
  """Median over finished runs' classifier epochs (after the first, which
  compiles) of the epoch time less its modelled compute; None without runs."""
  extra = []
  for folder in folders:
    for path in glob.glob(os.path.join(folder, '**', 'results.json'), recursive=True):
      log = os.path.join(os.path.dirname(path), 'metrics.jsonl')
      if not os.path.exists(log):
        continue
      with open(path) as f:
        s = json.load(f)['sizes']
      compute = epoch_seconds(s['train'], s['val'] + s['test'], rates, 0.0)
      with open(log) as f:
        extra += [r['epoch_s'] - compute for r in map(json.loads, f)
                  if r.get('phase') == 'classifier' and r.get('epoch', 0) > 1]
  return statistics.median(extra) if extra else None


def project(grid, rates, overhead):
  """([{dataset, method, sizes, generator_s, classifier_s, run_s}] for one
  seed of every cell, the grid's serial total over its seeds in seconds)."""
  rows = []
  for dataset, method in grid_lib.cells(grid):
    config = grid_lib.cell_config(grid, dataset, method)
    n_train, n_val, n_test, num_classes = sizes(config)
    name = generators.of_method(method)
    generated, gen_s = 0, 0.0
    if name:
      if name not in rates:
        raise app.UsageError(f'no rate for generator {name!r}: add it with --rates or --bench')
      generated = num_classes * phase.per_class(config.generator, n_train, num_classes)
      gen_s = config.generator.epochs * n_train / rates[name]
    cls_s = config.classifier.epochs * epoch_seconds(n_train + generated, n_val + n_test,
                                                     rates, overhead)
    rows.append({'dataset': dataset, 'method': method, 'sizes': (n_train, n_val, n_test),
                 'generator_s': gen_s, 'classifier_s': cls_s, 'run_s': gen_s + cls_s})
  return rows, sum(r['run_s'] for r in rows) * len(grid_lib.seeds_of(grid))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  rates = rates_of(FLAGS.bench, FLAGS.rates)
  missing = [m for m in ('resnet_train', 'resnet_eval') if m not in rates]
  if missing:
    raise app.UsageError(f'no rate for {missing}: give --bench or --rates')
  overhead = FLAGS.overhead
  if overhead is None:
    overhead = measured_overhead(FLAGS.runs, rates) or 0.0
  if FLAGS.config is None:
    raise app.UsageError('give the grid to project: --config=configs/grid.py')
  rows, total = project(FLAGS.config, rates, overhead)
  print(f'PROJECTION, not a measurement: per-epoch overhead {overhead:.3f} s; img/s: '
        + ', '.join(f'{k} {v:,.0f}' for k, v in sorted(rates.items())))
  print('| dataset | method | train / val / test | generator s | classifier s | run s |')
  print('|---|---|---|---|---|---|')
  for r in rows:
    print(f"| {r['dataset']} | {r['method']} | {' / '.join(map(str, r['sizes']))} | "
          f"{r['generator_s']:.1f} | {r['classifier_s']:.1f} | {r['run_s']:.1f} |")
  print(f'One process, cells and seeds in turn ({len(grid_lib.seeds_of(FLAGS.config))} seeds): '
        f'{total / 60:.1f} min (no compilation, quality measures or sampling)')


if __name__ == '__main__':
  app.run(main)
