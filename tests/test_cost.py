"""The cost model adds up what it says it does, from the rates it is given."""
import json
import os

import pytest

from configs import grid as grid_config
from medaug_jax.bench import cost

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATES = {'resnet_train': 1000.0, 'resnet_eval': 5000.0, 'cgan': 2000.0}


def test_rates_come_from_the_jax_rows_of_a_bench_file():
  rates = cost.rates_of([os.path.join(ROOT, 'results', 'h100_wide', 'bench', 'bench.json')],
                        ['cgan=5'])
  assert rates['dcgan'] == pytest.approx(36963.77, abs=0.01)  # not torch's 7,632
  assert rates['cgan'] == 5.0


def test_projection_of_breastmnist_none_and_cgan():
  g = grid_config.get_config()
  g.datasets, g.methods, g.seeds = ('breastmnist',), ('none', 'cgan'), (0, 1)
  rows, total = cost.project(g, RATES, overhead=0.5)
  none, cgan = rows
  assert none['sizes'] == (546, 78, 156)  # BreastMNIST keeps its official splits
  assert none['classifier_s'] == pytest.approx(100 * (546 / 1000 + 234 / 5000 + 0.5))
  # 150 generated images per class join the training set; the cGAN trains 1000 epochs.
  assert cgan['classifier_s'] == pytest.approx(100 * (846 / 1000 + 234 / 5000 + 0.5))
  assert cgan['generator_s'] == pytest.approx(1000 * 546 / 2000)
  assert total == pytest.approx(2 * (none['run_s'] + cgan['run_s']))
  # The paper's subset rule for the others: 150 per class, val = train / 9.
  g.datasets, g.methods = ('dermamnist',), ('none',)
  assert cost.project(g, RATES, 0.0)[0][0]['sizes'] == (1050, 117, 2005)


def test_overhead_is_epoch_time_less_modelled_compute(tmp_path):
  run = tmp_path / 'breastmnist' / 'none' / 'seed_0'
  run.mkdir(parents=True)
  (run / 'results.json').write_text(json.dumps(
      {'sizes': {'train': 500, 'val': 100, 'test': 400}}))
  compute = 500 / 1000 + 500 / 5000
  lines = [{'phase': 'classifier', 'epoch': 1, 'epoch_s': 99.0}]  # compiles: left out
  lines += [{'phase': 'classifier', 'epoch': e, 'epoch_s': compute + x}
            for e, x in ((2, 0.1), (3, 0.2), (4, 0.4))]
  lines += [{'phase': 'generator:cgan', 'epoch': 2, 'epoch_s': 50.0}]
  (run / 'metrics.jsonl').write_text('\n'.join(map(json.dumps, lines)) + '\n')
  assert cost.measured_overhead([str(tmp_path)], RATES) == pytest.approx(0.2)
  assert cost.measured_overhead([str(tmp_path / 'empty')], RATES) is None
