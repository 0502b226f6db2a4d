"""The benchmark's JAX side on tiny widths and batch: it runs, and writes
bench.json / bench.md of the documented shape. (Speed itself is never tested.)"""
import json
import os

import pytest

from medaug_jax import bench, bench_torch

TINY = ['--batch=8', '--width=4', '--gen-width-div=16', '--repeats=1', '--gen-block=2',
        '--peak-size=128', '--channels=1']


def _run(tmp_path, *extra):
  out = tmp_path / 'bench'
  report = bench.main(TINY + [f'--out={out}', *extra])
  with open(out / 'bench.json') as f:
    saved = json.load(f)
  with open(out / 'bench.md') as f:
    md = f.read()
  return report, saved, md


def test_jax_side_writes_json_and_markdown(tmp_path):
  report, saved, md = _run(tmp_path, '--no-torch', '--models=resnet_train,resnet_eval,cgan',
                           '--no-epoch', '--baseline')
  assert saved['peak_gflops'] > 0
  assert [(c['model'], c['channels']) for c in saved['cases']] == [
      ('resnet_train', 1), ('resnet_eval', 1), ('cgan', 1)]
  for case in saved['cases']:
    rows = {r['impl']: r for r in case['rows']}
    assert 'jax' in rows and not any(k.startswith('torch') for k in rows)
    jax_row = rows['jax']
    assert jax_row['images_per_s'] > 0 and jax_row['compile_s'] > 0
    assert jax_row['first_call_s'] > 0 and len(jax_row['times_s']) == 1
    assert jax_row['flops_per_step'] > 0 and jax_row['gflops_per_s'] > 0
    assert 0 < jax_row['fraction_of_peak']
  train_rows = {r['impl'] for r in saved['cases'][0]['rows']}
  assert train_rows == {'jax', 'jax (lax.conv)'}
  # A ResNet train step does about 3x the FLOPs of its eval pass.
  ratio = saved['cases'][0]['rows'][0]['flops_per_step'] / saved['cases'][1]['rows'][0]['flops_per_step']
  assert 2 < ratio < 4.5
  assert saved['epochs'] == [] and 'Per-epoch wall time' not in md
  assert '| model | ch | JAX img/s |' in md and '| resnet_train | 1 |' in md
  assert 'jax (lax.conv)' in md
  assert saved['command'].startswith('python -m medaug_jax.bench')


def test_epoch_timing(tmp_path):
  _, saved, md = _run(tmp_path, '--no-torch', '--models=ae', '--epoch')
  (e,) = saved['epochs']
  assert e['model'] == 'ae' and e['steps'] == -(-bench.BREAST_TRAIN // 8)
  assert e['fit_epoch_s'] > 0 and e['scan_epoch_s'] > 0 and e['fit_images_per_s'] > 0
  assert 'Per-epoch wall time' in md and '| ae | 1 |' in md


def test_parse_args_rejects_unknown_model():
  with pytest.raises(SystemExit):
    bench.parse_args(['--models=resnet50'])
  a = bench.parse_args(['--quick'])
  assert a.repeats == 2 and not a.torch_compile and not a.epoch
  assert a.models == list(bench.MODELS) and a.channels == [1, 3]


@pytest.mark.skipif(not bench_torch.available(), reason='torch not installed (bench extra)')
def test_torch_side_eager(tmp_path):
  # One torch thread: OpenMP barriers on a busy 2-core CI box are slow.
  _, saved, md = _run(tmp_path, '--torch', '--no-torch-compile', '--no-epoch',
                      '--torch-threads=1', '--models=ae,cvae,cgan')
  for case in saved['cases']:
    rows = {r['impl']: r for r in case['rows']}
    assert set(rows) == {'jax', 'torch eager'}
    assert rows['torch eager']['images_per_s'] > 0
    # Torch rows borrow the JAX step's FLOPs (same model and batch).
    assert rows['torch eager']['flops_per_step'] == rows['jax']['flops_per_step']
  assert 'x |' in md  # the JAX / eager ratio column is filled


@pytest.mark.skipif(not bench_torch.available(), reason='torch not installed (bench extra)')
def test_torch_models_match_ours_in_size():
  """Same parameter counts as the Flax models: the same architectures."""
  import jax
  import jax.numpy as jnp
  import importlib
  from medaug_jax import generators, models
  count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
  for ch in (1, 3):
    flax_vars = models.resnet18(2, width=8).init(jax.random.key(0), jnp.zeros((1, 28, 28, ch)),
                                                  train=False)
    torch_model = bench_torch.resnet18(2, ch, width=8)
    n_torch = sum(p.numel() for p in torch_model.parameters())
    assert n_torch == count(flax_vars['params'])
  for name in ('ae', 'cvae', 'cgan'):
    cfg = importlib.import_module(f'configs.{name}').get_config().generator
    cfg.hidden = tuple(h // 8 for h in cfg.hidden)
    obj = generators.get(name)(cfg, 3, (28, 28, 1))
    state = obj.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1), jnp.uint8), jnp.zeros((2,), jnp.int32))
    task = bench_torch.GeneratorTask(name, cfg, 3, (28, 28, 1))
    mods = [getattr(task, m) for m in ('enc', 'dec', 'g', 'd') if hasattr(task, m)]
    assert sum(p.numel() for m in mods for p in m.parameters()) == count(state.params), name


def test_layer_benchmark_runs_and_formats():
  from medaug_jax import bench_layers
  rows = bench_layers.run(batch=2, repeats=1, use_torch=False,
                          layers=((8, 16, 16, 1), (8, 16, 32, 2)))
  assert [r['layer'] for r in rows] == ['8x8 16->16 s1', '8x8 16->32 s2']
  for r in rows:
    assert all(r[f'{n} {k}'] > 0 for n in ('lax', 'ours') for k in ('fwd', 'grad'))
  md = bench_layers.markdown(rows)
  assert md.splitlines()[0] == '| layer | lax fwd | lax fwd+bwd | ours fwd | ours fwd+bwd |'
  assert len(md.splitlines()) == 4
