"""The benchmark's JAX side on tiny widths and batch: it runs, and writes
bench.json / bench.md of the documented shape. (Speed itself is never tested.)
With torch installed (the bench extra), the PyTorch twins are checked too: the
same sizes as our models, the ResNet the same logits and the convolutional
generators' decoders the same images and diffusion's UNet the same velocity on
the same weights."""
import json
import os
import pickle
import subprocess
import sys

from absl import app
import pytest

from medaug_jax.bench import throughput, torch_twins, worker
from medaug_jax.ops import onednn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(batch=8, width=4, gen_width_div=16, repeats=1, gen_block=2, peak_size=128,
            channels=[1])
needs_torch = pytest.mark.skipif(not torch_twins.available(),
                                 reason='torch not installed (bench extra)')


def _read(out):
  with open(out / 'bench.json') as f:
    saved = json.load(f)
  with open(out / 'bench.md') as f:
    md = f.read()
  return saved, md


def _run(tmp_path, **extra):
  out = tmp_path / 'bench'
  report = throughput.run(**TINY, out=str(out), **extra)
  return (report, *_read(out))


def test_jax_side_writes_json_and_markdown(tmp_path):
  report, saved, md = _run(tmp_path, torch=False, models=['resnet_train', 'resnet_eval', 'cgan'],
                           epoch=False, baseline=True)
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
  # Where oneDNN's convolutions run, the step without them is timed beside.
  without = {'jax (no oneDNN)'} if onednn.available() else set()
  assert train_rows == {'jax', 'jax (lax.conv)', 'jax + classic augmentation'} | without
  # A ResNet train step does about 3x the FLOPs of its eval pass.
  ratio = saved['cases'][0]['rows'][0]['flops_per_step'] / saved['cases'][1]['rows'][0]['flops_per_step']
  assert 2 < ratio < 4.5
  assert saved['epochs'] == [] and 'Per-epoch wall time' not in md
  assert '| model | ch | JAX img/s |' in md and '| resnet_train | 1 |' in md
  assert 'jax (lax.conv)' in md
  assert saved['command'].startswith('python -m medaug_jax.bench')
  assert report['args']['models'] == ['resnet_train', 'resnet_eval', 'cgan']


def test_epoch_timing(tmp_path):
  _, saved, md = _run(tmp_path, torch=False, models=['ae'], epoch=True)
  (e,) = saved['epochs']
  assert e['model'] == 'ae' and e['steps'] == -(-throughput.BREAST_TRAIN // 8)
  assert e['fit_epoch_s'] > 0 and e['scan_epoch_s'] > 0 and e['fit_images_per_s'] > 0
  assert 'Per-epoch wall time' in md and '| ae | 1 |' in md


def test_options_reject_unknown_model_and_fill_defaults():
  with pytest.raises(app.UsageError):
    throughput.options(models=['resnet50'])
  with pytest.raises(TypeError):
    throughput.options(gen_width=2)
  a = throughput.options(quick=True)
  assert a.repeats == 2 and not a.torch_compile and not a.epoch
  assert a.models == list(throughput.MODELS) and a.channels == [1, 3]


def test_generator_set_changes_the_generators_that_have_the_key():
  o = throughput.options(generator_set=['spectral_norm=False', 'loss=ns', 'width=8'])
  cfg = throughput._generator_config('dcgan', o)
  assert cfg.spectral_norm is False and cfg.loss == 'ns' and cfg.width == 8
  assert 'spectral_norm' not in throughput._generator_config('cvae', o)
  with pytest.raises(app.UsageError, match='key=value'):
    throughput._generator_config('dcgan', throughput.options(generator_set=['loss']))


def test_models_are_the_resnets_and_every_generator():
  from medaug_jax import generators
  assert throughput.MODELS == ('resnet_train', 'resnet_eval', *generators.available())


def test_command_line(tmp_path):
  """python -m medaug_jax.bench (make bench, launch/bench.sh) with absl flags."""
  out = tmp_path / 'cli'
  flags = ['--quick', '--notorch', '--models=ae', '--channels=1', '--batch=8',
           '--gen_width_div=16', '--gen_block=2', '--repeats=1', '--peak_size=128']
  proc = subprocess.run([sys.executable, '-m', 'medaug_jax.bench', f'--out={out}', *flags],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  saved, md = _read(out)
  assert [(c['model'], c['channels']) for c in saved['cases']] == [('ae', 1)]
  assert saved['args']['repeats'] == 1 and not saved['args']['epoch']
  assert saved['command'].startswith('python -m medaug_jax.bench --out=')
  assert '--notorch' in saved['command'] and '| ae | 1 |' in md


def _pairs(n):
  return [(i, lambda a, i=i: (i, a, os.getpid())) for i in range(n)]


def test_worker_runs_calls_in_a_process_of_its_own():
  with worker.Remote() as remote:
    pid = remote.call('os:getpid')
    assert pid != os.getpid()
    made = remote.make('test_bench:_pairs', 2)
    assert [meta for meta, _ in made] == [0, 1]
    assert made[1][1]('x') == (1, 'x', pid)  # the function kept there, run there
    with pytest.raises(worker.RemoteError, match='AttributeError'):
      remote.call('os:no_such_function')
    assert remote.call('os:getpid') == pid  # an error in a call leaves the worker up
    with pytest.raises(worker.RemoteError, match='died \\(exit code 3\\)'):
      remote.call('os:_exit', 3)
  # A script read from stdin cannot be re-imported by the spawned worker.
  script = 'from medaug_jax.bench import worker\nworker.Remote().call("os:getpid")\n'
  done = subprocess.run([sys.executable, '-'], input=script, capture_output=True, text=True,
                        cwd=ROOT, check=False)
  assert done.returncode != 0 and 'not a script read from stdin' in done.stderr, done.stderr
  assert worker.timed(lambda: 0.25) == 0.25  # a function's own figure
  assert 0 < worker.timed(lambda: None) < 1  # else measured here
  with worker.InProcess() as local:
    assert local.call('os:getpid') == os.getpid()
    assert local.make('test_bench:_pairs', 1)[0][1]('y') == (0, 'y', os.getpid())


@needs_torch
def test_torch_side_answers_without_torch_objects():
  # Unpickling a torch object (torch.__version__ is one) imports torch in the
  # bench's parent, and with it torch's OpenMP runtime before oneDNN's.
  answer = pickle.dumps(torch_twins.setup(1, False))
  done = subprocess.run([sys.executable, '-c', 'import pickle, sys; '
                         'pickle.loads(sys.stdin.buffer.read()); print("torch" in sys.modules)'],
                        input=answer, capture_output=True, check=True, timeout=120)
  assert done.stdout.decode().strip() == 'False'


@needs_torch
def test_torch_side_eager(tmp_path):
  # One torch thread: OpenMP barriers on a busy 2-core CI box are slow.
  models = ['ae', 'cvae', 'cgan', 'dcgan', 'cvae_conv']
  _, saved, md = _run(tmp_path, torch=True, torch_compile=False, epoch=False,
                      torch_threads=1, models=models, without_onednn=False)
  assert [c['model'] for c in saved['cases']] == models
  for case in saved['cases']:
    rows = {r['impl']: r for r in case['rows']}
    assert set(rows) == {'jax', 'torch eager'}
    assert rows['torch eager']['images_per_s'] > 0
    # Torch rows borrow the JAX step's FLOPs (same model and batch).
    assert rows['torch eager']['flops_per_step'] == rows['jax']['flops_per_step']
  assert 'x |' in md  # the JAX / eager ratio column is filled


@needs_torch
def test_generator_without_twin_gets_no_torch_columns(tmp_path, monkeypatch):
  # In this process, where the monkeypatch holds.
  monkeypatch.delitem(torch_twins.TWINS, 'ae')
  _, saved, md = _run(tmp_path, torch=True, torch_process=False, torch_compile=False,
                      epoch=False, torch_threads=1, models=['ae'], without_onednn=False)
  (case,) = saved['cases']
  assert [r['impl'] for r in case['rows']] == ['jax']
  assert '| ae | 1 |' in md


@needs_torch
def test_torch_models_match_ours_in_size():
  """Same parameter counts as the Flax models: the same architectures."""
  import jax
  import jax.numpy as jnp
  from medaug_jax import generators
  from medaug_jax.models import resnet
  count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
  for ch in (1, 3):
    flax_vars = resnet.resnet18(2, width=8).init(jax.random.key(0), jnp.zeros((1, 28, 28, ch)),
                                                 train=False)
    torch_model = torch_twins.resnet18(2, ch, width=8)
    n_torch = sum(p.numel() for p in torch_model.parameters())
    assert n_torch == count(flax_vars['params'])
  assert set(torch_twins.TWINS) <= set(generators.available())
  assert {'dcgan', 'cvae_conv', 'diffusion'} <= set(torch_twins.TWINS)
  for name in torch_twins.TWINS:
    # The hidden widths (MLPs) or the base width (convolutional) / 8.
    cfg = throughput._generator_config(name, throughput.options(gen_width_div=8))
    obj = generators.get(name)(cfg, 3, (28, 28, 3))
    state = obj.init(jax.random.key(0), jnp.zeros((2, 28, 28, 3), jnp.uint8), jnp.zeros((2,), jnp.int32))
    twin = torch_twins.generator_twin(name, cfg, 3, (28, 28, 3))
    assert sum(p.numel() for p in twin.nets.parameters()) == count(state.params), name
  assert torch_twins.generator_twin('no_such_generator', None, 3, (28, 28, 1)) is None


@needs_torch
@pytest.mark.parametrize('channels', [1, 3])
def test_torch_resnet_gives_our_logits_on_our_weights(channels):
  import jax
  import numpy as np
  import torch
  from medaug_jax.models import resnet
  rs = np.random.RandomState(channels)
  x = rs.standard_normal((16, 28, 28, channels)).astype(np.float32)
  model = resnet.resnet18(3, width=8)

  def randomize(path, v):
    # BatchNorm affines and running statistics off init's 1, 0, 0, 1, so
    # that the eval pass tests that they land in the right layers.
    name = path[-1].key
    if name in ('scale', 'var'):
      return rs.uniform(0.5, 1.5, v.shape).astype(np.float32)
    if name in ('bias', 'mean'):
      return 0.2 * rs.standard_normal(v.shape).astype(np.float32)
    return v

  variables = jax.tree_util.tree_map_with_path(
      randomize, model.init(jax.random.key(0), x, train=False))
  twin = torch_twins.resnet18(3, channels, width=8)
  torch_twins.load_flax_resnet(twin, variables)
  x_nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
  for train in (False, True):  # running averages, then the batch's statistics
    twin.train(train)
    with torch.no_grad():
      want = twin(x_nchw).numpy()
    got = model.apply(variables, x, train=train, mutable=['batch_stats'] if train else False)
    got = np.asarray(got[0] if train else got)
    assert np.abs(got - want).max() < 1e-4, train  # logits of size ~1; seen: 2e-6


@needs_torch
@pytest.mark.parametrize('name', ['cvae_conv', 'dcgan'])
def test_torch_decoders_give_our_images_on_our_weights(name):
  """The decoder of cvae_conv and the generator of dcgan: the same images
  for the same (z, onehot(y)) on the same weights, which checks the
  upsampling convolutions' padding and kernel layout, and the 7x7 reshape."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  import torch
  from medaug_jax.generators import cvae_conv, dcgan
  rs = np.random.RandomState(0)
  k, latent, width, channels = 3, 8, 4, 3
  z = rs.standard_normal((5, latent)).astype(np.float32)
  c = np.eye(k, dtype=np.float32)[[0, 1, 2, 0, 1]]
  if name == 'cvae_conv':
    model = cvae_conv.ConvCVAE(width, latent, channels)
    params = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, channels)), c[:1],
                        jax.random.key(1))['params']
    layers = ('from_latent', 'dec_0', 'dec_1')
    ours = lambda p: model.apply({'params': p}, z, c, method=cvae_conv.ConvCVAE.decode)
    net = 'dec'
  else:
    model = dcgan.Generator(width, channels)
    params = model.init(jax.random.key(0), z[:1], c[:1])['params']
    layers = ('Dense_0', 'GroupNorm_0', 'Conv_0', 'GroupNorm_1', 'Conv_1', 'GroupNorm_2',
              'Conv_2')
    ours = lambda p: model.apply({'params': p}, z, c)
    net = 'g'
  # Off init's zero biases and unit scales, so that they too must land right.
  params = jax.tree.map(lambda v: v + 0.1 * rs.standard_normal(v.shape).astype(np.float32),
                        params)
  cfg = throughput._generator_config(name, throughput.options())
  cfg.width, cfg.latent = width, latent
  twin = torch_twins.generator_twin(name, cfg, k, (28, 28, channels))
  torch_twins.load_flax_layers(twin.nets[net], [params[n] for n in layers])
  with torch.no_grad():
    got = twin.nets[net](torch.from_numpy(np.concatenate([z, c], -1)))
  got = got.permute(0, 2, 3, 1).numpy()
  if name == 'dcgan':
    got = (got + 1) / 2  # G's tanh -> [0, 1], as the train step does
  want = np.asarray(ours(params))
  assert got.shape == want.shape == (5, 28, 28, channels)
  assert np.abs(got - want).max() < 1e-4  # outputs of size ~1; seen: 2e-7 and 5e-7


@needs_torch
def test_torch_unet_gives_our_velocity_on_our_weights():
  """diffusion's UNet at width 4 with all three levels, two blocks each and
  attention at 7x7: the same velocity for the same (noisy images, times,
  labels, the null class among them) on the same weights, which checks the
  layer order, the stride-2 'SAME' padding, the skip concatenations, the
  time embedding and the attention's projections; a twin of another shape
  refuses the weights."""
  import jax
  import numpy as np
  import torch
  from medaug_jax.generators import diffusion
  rs = np.random.RandomState(0)
  k, channels = 3, 3
  x = rs.standard_normal((5, 28, 28, channels)).astype(np.float32)
  t = rs.uniform(size=5).astype(np.float32)
  y = np.array([0, 1, 2, k, 1], np.int32)  # k: the null class
  cfg = throughput._generator_config('diffusion', throughput.options())
  cfg.width, cfg.num_blocks, cfg.norm_groups = 4, 2, 2
  model = diffusion.UNet(cfg.width, tuple(cfg.channel_mult), cfg.num_blocks, cfg.attention,
                         cfg.norm_groups, k, channels)
  assert cfg.attention and len(cfg.channel_mult) == 3
  params = model.init(jax.random.key(0), x[:1], t[:1], y[:1])['params']
  # Off init's zeros (output layers, biases) and unit scales, so that every
  # parameter must land in the right place.
  params = jax.tree.map(lambda v: v + 0.1 * rs.standard_normal(v.shape).astype(np.float32),
                        params)
  layers = torch_twins.flax_layers(model, {'params': params}, x, t, y)
  twin = torch_twins.generator_twin('diffusion', cfg, k, (28, 28, channels))
  torch_twins.load_flax_layers(twin.nets['unet'], layers)
  with torch.no_grad():
    got = twin.nets['unet'](torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
                            torch.from_numpy(t), torch.from_numpy(y).long())
  got = got.permute(0, 2, 3, 1).numpy()
  want = np.asarray(model.apply({'params': params}, x, t, y))
  assert got.shape == want.shape == (5, 28, 28, channels)
  assert np.abs(got - want).max() < 1e-5  # outputs up to ~1.6; seen: 1.3e-6
  cfg.attention = False
  other = torch_twins.generator_twin('diffusion', cfg, k, (28, 28, channels))
  with pytest.raises(ValueError, match='Flax layers'):
    torch_twins.load_flax_layers(other.nets['unet'], layers)


@needs_torch
def test_torch_diff_augment_is_ours():
  """Translation: a shift by up to 4 pixels with zeros shifted in; cutout: a
  14x14 square, possibly over the edge; color: per image, whatever the channel count."""
  import torch
  torch.manual_seed(0)
  n = 64
  x = torch.arange(1.0, 28 * 28 + 1).reshape(1, 1, 28, 28).repeat(n, 1, 1, 1)
  shifted = torch_twins._translation(x)
  for img in shifted[:, 0]:
    rows, cols = torch.nonzero(img, as_tuple=True)
    # Shifted down (right), the first rows (columns) are zeros; up (left), the last.
    dy = int(rows.min()) if rows.min() > 0 else int(rows.max()) - 27
    dx = int(cols.min()) if cols.min() > 0 else int(cols.max()) - 27
    assert abs(dy) <= 4 and abs(dx) <= 4
    assert torch.equal(img, torch.roll(x[0, 0], (dy, dx), (0, 1)) * (img != 0))
    assert (img != 0).sum() == (28 - abs(dy)) * (28 - abs(dx))
  zeros = (torch_twins._cutout(torch.ones(4 * n, 3, 28, 28)) == 0).sum((1, 2, 3)) / 3
  assert zeros.min() >= 7 * 7 and zeros.max() == 14 * 14
  colored = torch_twins._diff_augment('color,translation,cutout')(torch.rand(n, 3, 28, 28))
  assert colored.shape == (n, 3, 28, 28) and torch.isfinite(colored).all()


def test_layer_benchmark_runs_and_formats():
  from medaug_jax.bench import layers
  rows = layers.run(batch=2, repeats=1, use_torch=False,
                    layers=((8, 16, 16, 1), (8, 16, 32, 2), (8, 3, 16, 1)))
  assert [r['layer'] for r in rows] == ['8x8 16->16 s1', '8x8 16->32 s2', '8x8 3->16 s1']
  for r in rows:
    assert all(r[f'{n} {k}'] > 0 for n in ('lax', 'ours', 'im2col') for k in ('fwd', 'grad'))
  # Winograd F(2x2) and F(4x4) are timed where they apply: stride 1, 16 inputs or more.
  for n in ('winograd', 'winograd_f4'):
    assert rows[0][f'{n} grad'] > 0 and f'{n} fwd' not in rows[1] and f'{n} fwd' not in rows[2]
  assert set(layers.LAYER_SETS) == {'resnet', 'thin'}
  md = layers.markdown(rows)
  dnnl = 'onednn fwd | onednn fwd+bwd | ' if onednn.available() else ''
  assert md.splitlines()[0] == ('| layer | lax fwd | lax fwd+bwd | ours fwd | ours fwd+bwd | '
                                f'{dnnl}im2col fwd | im2col fwd+bwd | winograd fwd | '
                                'winograd fwd+bwd | winograd_f4 fwd | winograd_f4 fwd+bwd |')
  assert len(md.splitlines()) == 5 and md.splitlines()[3].endswith('| - | - | - | - |')
  # --impls picks the columns.
  rows = layers.run(batch=2, repeats=1, use_torch=False, layers=((4, 16, 16, 1),),
                    impls=('im2col', 'lax'))
  assert [c for c in rows[0] if c.endswith(' fwd')] == ['lax fwd', 'im2col fwd']


def test_profile_sums_thread_time_by_op_kind():
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from medaug_jax.bench import profile
  events = [{'ph': 'X', 'name': 'ynn_fusion.3', 'dur': 5.0},
            {'ph': 'X', 'name': 'ynn_fusion', 'dur': 1.0},
            {'ph': 'X', 'name': 'add_bitcast_fusion.12', 'dur': 2.0},
            {'ph': 'X', 'name': 'ThunkExecutor::Execute', 'dur': 100.0},
            {'ph': 'X', 'name': '$api.py:2479 block_until_ready', 'dur': 100.0},
            {'ph': 'i', 'name': 'dot.1'}]
  assert profile.op_kinds(events) == {'ynn_fusion': (6.0, 2), 'add_bitcast_fusion': (2.0, 1)}
  f = jax.jit(lambda x: jnp.tanh(x @ x) + 1.0)
  x = jnp.ones((256, 256))
  wall, kinds = profile.profile(lambda calls: [f(x).block_until_ready() for _ in range(calls)])
  assert wall > 0 and kinds and all(us > 0 and n > 0 for us, n in kinds.values())
  hlo = '\n'.join([
      '  %ffi_call.7 = f32[2]{0} custom-call(%a), custom_call_target="medaug_x_v1", '
      'metadata={op_name="jit(step)/jvp(ResNet)/Conv_0/ffi_call"}',
      '  %select_fusion.2 = f32[2]{0} fusion(%b), kind=kLoop, metadata={op_name='
      '"jit(step)/transpose(jvp(ResNet))/BasicBlock_1/_MaskedBatchNorm_0/bn/select_n"}',
      '  ROOT %add.3 = f32[2]{0} add(%c, %d), metadata={op_name="jit(step)/add"}',
      '  %copy.1 = f32[2]{0} copy(%e)'])
  labels = profile.op_labels(hlo)
  assert labels == {'ffi_call.7': 'medaug_x_v1', 'select_fusion.2': '_MaskedBatchNorm (backward)',
                    'add.3': 'other'}
  assert profile.op_kinds(events + [{'ph': 'X', 'name': 'select_fusion.2', 'dur': 4.0}],
                          {'ynn_fusion.3': 'Conv (forward)', **labels}) == {
                              'Conv (forward)': (5.0, 1), 'ynn_fusion': (1.0, 1),
                              'add_bitcast_fusion': (2.0, 1),
                              '_MaskedBatchNorm (backward)': (4.0, 1)}
  # A strided slice stands in for a conv: the output shape, no arithmetic.
  y = profile._strided_slice_conv(jnp.ones((2, 8, 8, 16)), jnp.ones((3, 3, 16, 40)), (2, 2))
  assert y.shape == (2, 4, 4, 40)


@needs_torch
@pytest.mark.parametrize('interleave', [True, False])
def test_end_to_end_race_runs_both_sides_and_writes_the_ratio(tmp_path, capfd, interleave):
  """Our baseline run and the official script's loop, 2 epochs at width 4 on
  the synthetic set: both sides run and the JSON holds their times."""
  from medaug_jax.bench import end_to_end
  out = tmp_path / 'e2e'
  report = end_to_end.run(epochs=2, dataset='synthetic', out=str(out), torch_threads=1, width=4,
                          interleave=interleave)
  with open(out / 'end_to_end.json') as f:
    saved = json.load(f)
  printed = capfd.readouterr().out  # the torch process's lines too
  torch_first = printed.index('[torch] epoch 1/2')
  ours_second = printed.index('[classifier] epoch 2/2')
  assert (torch_first < ours_second) == interleave
  assert saved['interleaved'] == interleave
  assert ('--nointerleave' in saved['command']) == (not interleave)
  assert saved['ours_s'] > 0 and saved['torch_s'] > 0
  assert saved['ratio'] == pytest.approx(saved['torch_s'] / saved['ours_s'])
  assert 0 < saved['torch_s_without_train_eval'] < saved['torch_s']
  assert saved['epochs'] == 2 and saved['width'] == 4 and saved['dataset'] == 'synthetic'
  assert len(saved['ours']['epoch_s']) == len(saved['torch']['epoch_s']) == 2
  assert set(saved['machine']['flags']) == {'avx2', 'avx512', 'amx'}
  assert saved['machine']['cpu'] and saved['versions']['torch'] and saved['date']
  assert 'not train' in saved['notes']
  assert saved['command'].startswith('python -m medaug_jax.bench.end_to_end --epochs=2')
  # The same splits on both sides (both take data.load of the same config).
  with open(out / 'ours' / 'results.json') as f:
    sizes = json.load(f)['sizes']
  assert {k: sizes[k] for k in ('train', 'val', 'test')} == saved['torch']['sizes']
  with open(out / 'end_to_end.md') as f:
    md = f.read()
  assert md.startswith(end_to_end.HEADER) and report['markdown'] in md
  # Ours ran the official recipe.
  with open(out / 'ours' / 'config.json') as f:
    c = json.load(f)['classifier']
  assert (c['optimizer'], c['lr'], list(c['lr_milestones']), c['batch_size']) == (
      'adam', 1e-3, [0.5, 0.75], 128)
