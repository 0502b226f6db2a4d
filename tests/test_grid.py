"""The grid runner: resume skips finished cells, a failing cell is recorded and
the rest go on, vmapped seeds equal seeds run one by one."""
import json
import os

import jax
import numpy as np
import pytest

from configs import grid as grid_config
from medaug_jax import data, grid, report, run
from medaug_jax.generators import phase

SEEDS = (0, 1)


def tiny_grid(methods=('ae', 'none', 'cvae'), vmap=True):
  """Synthetic data, width-1 ResNet, 2 epochs; the AE diverges (lr = inf)."""
  g = grid_config.get_config()
  g.profile = 'test'
  g.datasets = ('synthetic',)
  g.methods = methods
  g.seeds = SEEDS
  b = g.base
  b.vmap_seeds = 'true' if vmap else 'false'
  # conftest.tiny_config's data and classifier sizes: a seed-by-seed cell's
  # ResNet programs (48 real or 48 + 16 generated images) are then the same
  # XLA programs as the single runs', compiled once for the whole suite.
  b.data.train_per_class = 24
  b.classifier.width = 1
  b.classifier.epochs = 2
  b.classifier.batch_size = 16
  b.classifier.eval_batch_size = 64
  b.classifier.checkpoint_every = 1
  b.classifier.print_every = 0
  b.generator.num_per_class = 8
  b.generator.print_every = 0
  b.generator.batch_size = 32
  b.quality.reference.update(width=1, epochs=2)
  for m in ('ae', 'cvae', 'cgan'):
    g.generators[m].epochs = 2
    g.generators[m].hidden = (32, 16) if m != 'ae' else (32, 16, 16, 8)
    g.generators[m].latent = 4
  g.generators.ae.lr = float('inf')  # non-finite losses -> MedaugError
  return g


@pytest.fixture(scope='module')
def first_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('grid'))
  g = tiny_grid()
  statuses = grid.run_grid(g, workdir)
  return g, workdir, statuses


def _results(workdir, method, seed):
  with open(os.path.join(workdir, 'synthetic', method, f'seed_{seed}', 'results.json')) as f:
    return json.load(f)


def test_failing_cell_is_recorded_and_the_rest_run(first_run):
  _, workdir, statuses = first_run
  by_method = {s['method']: s for s in statuses}
  # The failing cell came first; the later cells still ran.
  assert [s['method'] for s in statuses] == ['ae', 'none', 'cvae']
  assert by_method['ae']['state'] == 'failed'
  assert by_method['ae']['seeds_failed'] == list(SEEDS)
  assert by_method['none']['state'] == 'done'
  assert by_method['cvae']['state'] == 'done'
  with open(os.path.join(workdir, 'synthetic', 'ae', 'failed.json')) as f:
    failed = json.load(f)
  assert 'diverged' in failed['error'] and '\n' not in failed['error']
  for s in SEEDS:
    assert not os.path.exists(os.path.join(workdir, 'synthetic', 'ae', f'seed_{s}',
                                           'results.json'))
    assert _results(workdir, 'none', s)['seed'] == s
  # The report marks the failed cell and does not average it in.
  report.write_report(workdir)
  rows = {r['method']: r for r in report.rows(report.collect(workdir))}
  assert rows['ae']['status'] == 'failed' and rows['ae']['n'] == 0
  assert np.isnan(rows['ae']['auc_mean'])
  assert rows['none']['status'] == 'ok' and rows['none']['n'] == len(SEEDS)
  with open(os.path.join(workdir, 'report.md')) as f:
    md = f.read()
  assert '**FAILED**' in md and 'diverged' in md


def test_vmapped_cell_leaves_per_seed_logs_and_no_checkpoints(first_run):
  _, workdir, _ = first_run
  cdir = os.path.join(workdir, 'synthetic', 'cvae')
  assert not [n for n in os.listdir(cdir) if n.startswith('_vmap_')]
  for s in SEEDS:
    w = os.path.join(cdir, f'seed_{s}')
    with open(os.path.join(w, 'metrics.jsonl')) as f:
      lines = [json.loads(l) for l in f]
    cls = [l for l in lines if l['phase'] == 'classifier']
    assert len(cls) == 2 and all(isinstance(l['test_auc'], float) for l in cls)
    assert os.path.exists(os.path.join(w, 'samples.png'))
    assert _results(workdir, 'cvae', s)['timing']['seeds_vmapped'] == len(SEEDS)


def test_restart_skips_finished_cells(first_run, monkeypatch):
  g, workdir, _ = first_run
  calls = []
  real = run.train_seeds

  def spy(config, seeds, workdirs, group_dir, overwrite=False, **kwargs):
    calls.append((config.method, list(seeds)))
    return real(config, seeds, workdirs, group_dir, overwrite, **kwargs)

  monkeypatch.setattr(run, 'train_seeds', spy)
  before = {s: os.path.getmtime(os.path.join(workdir, 'synthetic', 'none', f'seed_{s}',
                                             'results.json')) for s in SEEDS}
  # Not retrying the failed cell: nothing may train at all.
  g2 = tiny_grid()
  g2.retry_failed = False
  statuses = grid.run_grid(g2, workdir)
  assert calls == []
  assert {s['method']: s['state'] for s in statuses} == {
      'ae': 'failed', 'none': 'skipped', 'cvae': 'skipped'}
  # An unfinished seed (as after a kill) is the only thing that trains again.
  os.remove(os.path.join(workdir, 'synthetic', 'none', 'seed_1', 'results.json'))
  g3 = tiny_grid(methods=('none', 'cvae'))
  statuses = grid.run_grid(g3, workdir)
  assert calls == [('none', [1])]
  assert {s['method']: s['state'] for s in statuses} == {'none': 'done', 'cvae': 'skipped'}
  after = os.path.getmtime(os.path.join(workdir, 'synthetic', 'none', 'seed_0',
                                        'results.json'))
  assert after == before[0]


def test_vmapped_seeds_equal_sequential_seeds(first_run, tmp_path):
  """The vmapped cvae cell (generator and classifier vmapped over 2 seeds)
  gives the same metrics as the two seeds trained one by one."""
  _, workdir, _ = first_run
  seq = tiny_grid(methods=('cvae',), vmap=False)
  statuses = grid.run_grid(seq, str(tmp_path))
  assert statuses[0]['state'] == 'done' and statuses[0]['mode'] == 'sequential'
  for s in SEEDS:
    v = _results(workdir, 'cvae', s)
    q = _results(str(tmp_path), 'cvae', s)
    assert q['timing']['seeds_vmapped'] == 1
    assert v['sizes'] == q['sizes']
    assert v['selected']['epoch'] == q['selected']['epoch']
    for k in ('val_auc', 'val_acc', 'test_auc', 'test_acc'):
      np.testing.assert_allclose(v['selected'][k], q['selected'][k], atol=2e-3, err_msg=k)
    for k in ('auc', 'acc'):
      np.testing.assert_allclose(v['best_test'][k], q['best_test'][k], atol=2e-3)
    np.testing.assert_allclose(v['generator']['final']['loss'],
                               q['generator']['final']['loss'], rtol=1e-3)
    # Per-epoch losses of both phases, from the per-seed metrics logs.
    logs = []
    for root in (workdir, str(tmp_path)):
      with open(os.path.join(root, 'synthetic', 'cvae', f'seed_{s}', 'metrics.jsonl')) as f:
        logs.append([json.loads(l) for l in f])
    assert [(r['phase'], r['epoch']) for r in logs[0]] == \
        [(r['phase'], r['epoch']) for r in logs[1]]
    for a, b in zip(*logs):
      np.testing.assert_allclose(a['loss'], b['loss'], rtol=1e-3, err_msg=a['phase'])
  # The two seeds really are different runs.
  assert _results(workdir, 'cvae', 0)['generator']['final'] != \
      _results(workdir, 'cvae', 1)['generator']['final']


def test_cell_config_layers_method_generator_over_base():
  g = grid_config.get_config()
  g.base.generator.num_per_class = 7
  g.generators.cgan.epochs = 3
  c = grid.cell_config(g, 'breastmnist', 'cgan')
  assert (c.method, c.dataset, c.generator.epochs, c.generator.num_per_class) == \
      ('cgan', 'breastmnist', 3, 7)
  assert c.generator.lr == 1e-4 and c.generator.b1 == 0.5
  assert grid.cell_config(g, 'breastmnist', 'ae').generator.epochs == 300
  assert len(grid.cells(g)) == 32 and grid.seeds_of(g) == [0, 1, 2, 3, 4]
  # A method named only on the command line still gets its own settings from
  # its config file, not the base generator's.
  g.methods = ('none', 'cgan')
  del g.generators['cgan']
  c = grid.cell_config(g, 'breastmnist', 'cgan')
  assert (c.generator.epochs, c.generator.lr, c.generator.hidden) == (1000, 1e-4, (256, 512, 1024))
  assert grid.cell_config(g, 'breastmnist', 'none').method == 'none'


def test_comma_lists_from_the_command_line():
  g = grid_config.get_config()
  g.methods, g.datasets, g.seeds = ('none,cgan',), ('breastmnist, retinamnist',), (0,)
  assert grid.cells(g) == [('breastmnist', 'none'), ('breastmnist', 'cgan'),
                           ('retinamnist', 'none'), ('retinamnist', 'cgan')]
  assert grid.seeds_of(g) == [0]


def test_unknown_method_is_one_line():
  g = grid_config.get_config()
  with pytest.raises(grid.MedaugError, match="unknown method 'nosuchgan'.*choose one of.*cgan"):
    grid.cell_config(g, 'breastmnist', 'nosuchgan')


def test_generator_mode_vmaps_generators_and_siblings_share_them(first_run, tmp_path):
  """vmap_seeds='generator' (the GPU default): the cvae cell's generators
  train vmapped and give the vmapped run's images; cvae+classic then copies
  them instead of training its own, and only its classifier differs."""
  _, workdir, _ = first_run
  g = tiny_grid(methods=('cvae', 'cvae+classic', 'none'))
  g.base.vmap_seeds = 'generator'
  assert grid.siblings(g, 'synthetic', 'cvae+classic') == ['cvae']
  assert grid.siblings(g, 'synthetic', 'none') == []
  statuses = grid.run_grid(g, str(tmp_path))
  assert [s['mode'] for s in statuses] == ['vmap-generator', 'vmap-generator', 'sequential']
  for s in SEEDS:
    own = _results(str(tmp_path), 'cvae', s)
    assert own['timing']['seeds_vmapped'] == 1  # the classifier ran seed by seed
    np.testing.assert_allclose(own['generator']['final']['loss'],
                               _results(workdir, 'cvae', s)['generator']['final']['loss'],
                               rtol=1e-3)
    combined = _results(str(tmp_path), 'cvae+classic', s)
    assert combined['generator']['reused_from'] == os.path.abspath(
        os.path.join(tmp_path, 'synthetic', 'cvae', f'seed_{s}'))
    with np.load(os.path.join(tmp_path, 'synthetic', 'cvae', f'seed_{s}', 'generated.npz')) as a, \
         np.load(os.path.join(tmp_path, 'synthetic', 'cvae+classic', f'seed_{s}',
                              'generated.npz')) as b:
      np.testing.assert_array_equal(a['images'], b['images'])
    # Each seed's log has its generator epochs once, then its classifier's.
    with open(os.path.join(tmp_path, 'synthetic', 'cvae', f'seed_{s}', 'metrics.jsonl')) as f:
      phases = [json.loads(l)['phase'] for l in f]
    assert phases == ['generator:cvae'] * 2 + ['classifier'] * 2
  # A cell whose generator-making sibling is held by another worker waits.
  assert not grid._waits_for_sibling(g, str(tmp_path), 'synthetic', 'cvae+classic')
  # Results are committed without generated.npz: such a folder is no
  # finished phase, neither for a sibling to copy nor to read back.
  own = os.path.join(tmp_path, 'synthetic', 'cvae', f'seed_{SEEDS[0]}')
  assert grid.generated_elsewhere(g, str(tmp_path), 'synthetic', 'cvae+classic', SEEDS[0]) == own
  os.remove(os.path.join(own, phase.GENERATED))
  assert grid.generated_elsewhere(g, str(tmp_path), 'synthetic', 'cvae+classic', SEEDS[0]) is None
  assert phase.load_generated(own) is None and not phase.finished(own)


def test_ratio_sweep_trains_each_generator_once(tmp_path):
  """A ratio sweep's cells share one trained generator per seed: the largest
  ratio trains it and samples, the smaller ones take its first images of
  each class and measure them again. Vmapped seeds (as on TPU) take them too."""
  g = tiny_grid(methods=('cvae',))
  g.ratios = (0.5, 1)
  assert grid.cells(g) == [('synthetic', 'cvae@1'), ('synthetic', 'cvae@0.5')]
  assert grid.siblings(g, 'synthetic', 'cvae@0.5') == ['cvae@1']
  assert grid.siblings(g, 'synthetic', 'cvae@1') == []
  assert [s['mode'] for s in grid.run_grid(g, str(tmp_path))] == ['vmap', 'vmap']
  big, small = (os.path.join(tmp_path, 'synthetic', m, 'seed_0') for m in ('cvae@1', 'cvae@0.5'))
  res_big, res_small = _results(str(tmp_path), 'cvae@1', 0), _results(str(tmp_path), 'cvae@0.5', 0)
  # 48 real images in 2 classes: 24 and 12 generated per class.
  assert (res_big['sizes']['generated'], res_small['sizes']['generated']) == (48, 24)
  info = res_small['generator']
  assert info['reused_from'] == os.path.abspath(big) and info['subset_of'] == [24, 24]
  assert info['final'] == res_big['generator']['final']
  assert info['quality'].keys() == res_big['generator']['quality'].keys()
  assert info['quality'] != res_big['generator']['quality']  # measured on its own images
  with open(os.path.join(small, 'metrics.jsonl')) as f:
    assert {json.loads(l)['phase'] for l in f} == {'classifier'}
  with np.load(os.path.join(big, phase.GENERATED)) as a, \
       np.load(os.path.join(small, phase.GENERATED)) as b:
    want = phase.first_per_class(data.Split(a['images'], a['labels']), 2, 12)
    np.testing.assert_array_equal(b['images'], want.images)
    np.testing.assert_array_equal(b['labels'], np.repeat([0, 1], 12))
  # A source with fewer images per class than a run asks for is not used.
  config = grid._seed_config(grid.cell_config(g, 'synthetic', 'cvae@1'), 0)
  assert not phase.reuse_generated(small, str(tmp_path / 'other'), data.load(config), config,
                                   jax.random.key(0))
