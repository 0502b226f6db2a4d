"""The runner end to end: outputs, resume after kill -9, 1 vs 8 devices,
bad configs and workdirs."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, run_main, tiny_config
from medaug_jax import run
from medaug_jax import workdir as workdir_lib
from medaug_jax.errors import MedaugError

# conftest.tiny_config on the command line (the same compiled programs).
TINY = ['--config=configs/none.py', '--config.dataset=synthetic',
        '--config.data.train_per_class=24', '--config.classifier.width=1',
        '--config.classifier.batch_size=16', '--config.classifier.eval_batch_size=64',
        '--config.classifier.checkpoint_every=1']


def _start(args, env=None):
  """medaug_jax.main in a fresh process, not waited for (run_main waits)."""
  return subprocess.Popen([sys.executable, '-m', 'medaug_jax.main', *args], cwd=ROOT,
                          env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _metrics(results):
  return {k: results[k] for k in ('selected', 'best_test', 'last', 'sizes')}


def test_outputs_and_selection(tmp_path):
  cfg = tiny_config(**{'classifier.epochs': 3})
  res = run.train_and_evaluate(cfg, str(tmp_path))
  for f in ('config.json', 'metrics.jsonl', 'results.json'):
    assert os.path.exists(tmp_path / f)
  assert os.path.isdir(tmp_path / 'checkpoints' / 'classifier')
  assert os.path.isdir(tmp_path / 'checkpoints' / 'classifier_best')
  lines = [json.loads(l) for l in open(tmp_path / 'metrics.jsonl')]
  assert [l['epoch'] for l in lines] == [1, 2, 3]
  best = max(lines, key=lambda l: (l['val_auc'], -l['val_loss']))
  assert res['selected']['epoch'] == best['epoch']
  assert res['selected']['test_auc'] == best['test_auc']
  assert res['best_test']['acc'] == max(l['test_acc'] for l in lines)
  assert res['sizes'] == {'train': 48, 'train_real': 48, 'val': 6, 'test': 120, 'generated': 0}
  assert res['timing']['images_per_s'] > 0 and res['env']['device_count'] >= 1
  # A finished run is not trained again.
  again = run.train_and_evaluate(cfg, str(tmp_path))
  assert again == res


def test_resume_after_kill_equals_uninterrupted(tmp_path):
  args = TINY + ['--config.classifier.epochs=6']
  # The uninterrupted run goes on beside the killed one (2 cores: one
  # process's imports and compiles overlap the other's).
  ref = _start(args + [f'--workdir={tmp_path / "ref"}'])
  work = tmp_path / 'killed'
  proc = subprocess.Popen([sys.executable, '-m', 'medaug_jax.main', *args, f'--workdir={work}'],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  log = work / 'metrics.jsonl'
  deadline = time.time() + 300
  while time.time() < deadline:
    if log.exists() and sum(1 for _ in open(log)) >= 3:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not (work / 'results.json').exists(), 'killed too late to test resume'
  resumed = run_main(args + [f'--workdir={work}'])
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert 'resuming after epoch' in resumed.stdout
  _, ref_err = ref.communicate(timeout=600)
  assert ref.returncode == 0, ref_err[-2000:]
  a = json.load(open(tmp_path / 'ref' / 'results.json'))
  b = json.load(open(work / 'results.json'))
  assert _metrics(a) == _metrics(b)
  epochs = [json.loads(l)['epoch'] for l in open(work / 'metrics.jsonl')]
  assert epochs == [1, 2, 3, 4, 5, 6]


def test_one_vs_eight_devices(tmp_path):
  args = TINY + ['--config.classifier.epochs=2']
  outs, procs = {}, {}
  for n in (1, 8):  # side by side: on 2 cores one compiles while the other imports
    env = {'XLA_FLAGS': f'--xla_force_host_platform_device_count={n}'}
    procs[n] = _start(args + [f'--workdir={tmp_path / str(n)}'], env=env)
  for n, proc in procs.items():
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    outs[n] = json.load(open(tmp_path / str(n) / 'results.json'))
    assert outs[n]['env']['device_count'] == n
  log = lambda n: [json.loads(l) for l in open(tmp_path / str(n) / 'metrics.jsonl')]
  for a, b in zip(log(1), log(8)):
    # The loss is continuous in the float noise of another reduction order;
    # AUC/ACC may flip a near-tied pair (1/3600 of test AUC here), no more.
    assert a['loss'] == pytest.approx(b['loss'], rel=1e-4)
    for k in ('val_auc', 'test_auc', 'val_acc', 'test_acc'):
      assert a[k] == pytest.approx(b[k], abs=2e-3), k


@pytest.mark.parametrize('override,match', [
    ({'classifier.epochs': 0}, 'classifier.epochs must be a positive'),
    ({'classifier.batch_size': -4}, 'classifier.batch_size must be a positive'),
    ({'classifier.lr': 0.0}, 'classifier.lr must be a positive'),
    ({'classifier.optimizer': 'lbfgs'}, 'optimizer'),
    ({'dataset': 'nosuchmnist'}, 'unknown dataset'),
    ({'method': 'nosuchgan'}, 'unknown method'),
    ({'method': 'cgan+cvae'}, 'combines generators'),
    ({'classifier.augment': 'heavy'}, 'unknown config.classifier.augment'),
    ({'classifier.augment_params.crop_pad': -2}, r'augment_params.crop_pad must be in \[0, 14\]'),
    ({'classifier.augment_params.flip': 1.5}, r'augment_params.flip must be in \[0.0, 1.0\]'),
    ({'quality.metrics': ('label_agreement', 'nosuchmetric')}, 'unknown quality metric'),
])
def test_bad_config_values(tmp_path, override, match):
  with pytest.raises(MedaugError, match=match):
    run.train_and_evaluate(tiny_config(**override), str(tmp_path / 'w'))
  assert not (tmp_path / 'w').exists()  # nothing half-written


def test_workdir_of_other_config_is_refused(tmp_path):
  workdir_lib.prepare(tiny_config(), str(tmp_path))
  other = tiny_config(**{'classifier.lr': 0.5})
  with pytest.raises(MedaugError, match='different config'):
    workdir_lib.prepare(other, str(tmp_path))
  assert workdir_lib.prepare(other, str(tmp_path), overwrite=True) is None
  assert json.load(open(tmp_path / 'config.json'))['classifier']['lr'] == 0.5


def test_workdir_from_before_a_key_was_added_holds_the_same_experiment(tmp_path):
  config = tiny_config('dcgan')
  old = json.loads(config.to_json_best_effort())
  for key in workdir_lib.ADDED_KEYS:
    section, name = key.split('.')
    old[section].pop(name)
  (tmp_path / 'config.json').write_text(json.dumps(old))
  assert workdir_lib.holds(config, str(tmp_path))
  config.generator.dtype = 'bfloat16'  # a value older runs did not compute with
  assert not workdir_lib.holds(config, str(tmp_path))


def test_main_prints_one_line_error(tmp_path):
  r = run_main(TINY + ['--config.classifier.epochs=0', f'--workdir={tmp_path / "w"}'])
  assert r.returncode != 0
  errors = [l for l in r.stderr.splitlines() if l.startswith('error:')]
  assert len(errors) == 1 and 'classifier.epochs' in errors[0]
  assert 'Traceback' not in r.stderr


def test_masked_last_batch_counts_every_image():
  import jax
  from medaug_jax.trainer import epoch_batches
  idx, mask = epoch_batches(jax.random.key(0), 50, 16)
  assert idx.shape == (4, 16) and int(mask.sum()) == 50
  assert sorted(np.asarray(idx)[np.asarray(mask)].tolist()) == list(range(50))


def test_generator_only_then_the_classifier(tmp_path):
  """--generator_only stops after the samples and measures; the same run
  without it reads that phase back and trains only the classifier."""
  w = str(tmp_path / 'w')
  config = tiny_config('cvae')
  assert run.train_and_evaluate(config, w, generator_only=True) is None
  assert os.path.exists(os.path.join(w, 'generator.json'))
  assert os.path.exists(os.path.join(w, 'samples.png'))
  assert not os.path.exists(os.path.join(w, 'results.json'))
  results = run.train_and_evaluate(config, w)
  assert results['sizes']['generated'] == 2 * config.generator.num_per_class
  with open(os.path.join(w, 'metrics.jsonl')) as f:
    phases = [json.loads(l)['phase'] for l in f]
  assert phases == ['generator:cvae'] * 3 + ['classifier'] * 2
  with pytest.raises(MedaugError, match="generator_only: method 'none' has no generator"):
    run.train_and_evaluate(tiny_config(), str(tmp_path / 'n'), generator_only=True)


def test_entry_points_keep_compiled_programs_on_disk(tmp_path):
  import jax  # pylint: disable=g-import-not-at-top
  from medaug_jax import cli  # pylint: disable=g-import-not-at-top
  assert cli.compile_cache({'MEDAUG_JAX_XLA_CACHE': 'off'}) is None
  # A cache folder chosen through JAX's own variable is JAX's to use.
  assert cli.compile_cache({'JAX_COMPILATION_CACHE_DIR': str(tmp_path)}) is None
  saved = jax.config.jax_compilation_cache_dir
  try:
    home = cli.compile_cache({'XDG_CACHE_HOME': str(tmp_path)})
    assert home == str(tmp_path / 'medaug_jax' / 'xla')
    assert cli.compile_cache({'MEDAUG_JAX_XLA_CACHE': str(tmp_path / 'c')}) == str(tmp_path / 'c')
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / 'c')
  finally:
    jax.config.update('jax_compilation_cache_dir', saved)


def test_last_batch_rows_rule():
  from medaug_jax.trainer import SHORT_TAIL_MIN_STEPS, last_batch_rows, make_mesh
  import jax
  one, eight = make_mesh(jax.devices()[:1]), make_mesh(np.array(jax.devices()[:1] * 8))
  # BreastMNIST's 546 at batch 128: a 34-row last step over a paper-length run,
  assert last_batch_rows(546, 128, 100, one) == 34
  # rounded up to the device count,
  assert last_batch_rows(546, 128, 100, eight) == 40
  # padded where the short step's compilation would cost more than it saves.
  assert last_batch_rows(546, 128, 1, one) == 0
  assert last_batch_rows(512, 128, 100, one) == 0
  # The boundary: the run's padded rows (94 an epoch) reach that many full steps.
  enough = -(-SHORT_TAIL_MIN_STEPS * 128 // 94)
  assert last_batch_rows(546, 128, enough, one) == 34
  assert last_batch_rows(546, 128, enough - 1, one) == 0
  assert last_batch_rows(546, 128, 1, one, 'short') == 34
  assert last_batch_rows(546, 128, 100, one, 'padded') == 0
  with pytest.raises(MedaugError, match='last_batch'):
    last_batch_rows(546, 128, 100, one, 'drop')


def test_short_last_batch_trains_like_the_padded_one():
  """The masked padded rows change nothing: a short last step (its own
  compiled shape) gives the padded step's weights and metrics."""
  import jax
  import jax.numpy as jnp
  from medaug_jax import classifier, trainer
  cfg = tiny_config().classifier
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (40, 28, 28, 1), np.uint8)
  labels = rng.integers(0, 2, 40).astype(np.int32)
  obj = classifier.Classifier(cfg, 2, False, 3)
  mesh = trainer.make_mesh()
  out = {}
  for mode in ('padded', 'short'):
    state = jax.jit(obj.init)(jax.random.key(1), images[:1], labels[:1])
    fit = trainer.fit(obj, state, jnp.asarray(images), jnp.asarray(labels), phase='t',
                      epochs=2, batch_size=16, rng=jax.random.key_data(jax.random.key(2)),
                      mesh=mesh, print_every=0, last_batch=mode)
    out[mode] = fit
  flat = lambda f: np.concatenate([np.ravel(x) for x in jax.tree.leaves(f.state.params)])
  np.testing.assert_allclose(flat(out['short']), flat(out['padded']), rtol=1e-4, atol=1e-6)
  for a, b in zip(out['padded'].history, out['short'].history):
    assert a['loss'] == pytest.approx(b['loss'], rel=1e-4)
    assert a['train_acc'] == pytest.approx(b['train_acc'], abs=1e-6)


def test_val_and_test_scored_in_one_pass():
  import jax
  from medaug_jax import classifier, trainer
  obj = classifier.Classifier(tiny_config().classifier, 3, False, 1)
  state = jax.jit(obj.init)(jax.random.key(0), np.zeros((1, 28, 28, 1), np.uint8), None)
  rng = np.random.default_rng(0)
  val, test = (rng.integers(0, 256, (n, 28, 28, 1), np.uint8) for n in (13, 30))
  ev = classifier.Evaluator(obj, trainer.make_mesh(), batch_size=16)
  both = ev.put(val, test)
  assert both[0].shape[:2] == (3, 15)  # 43 images in 3 even batches, not 2 x 16 + 16
  v, t = ev.scores(state, both)
  (v1,), (t1,) = ev.scores(state, ev.put(val)), ev.scores(state, ev.put(test))
  assert v.shape == (13, 3) and t.shape == (30, 3)
  np.testing.assert_allclose(v, v1, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(t, t1, rtol=1e-5, atol=1e-6)
