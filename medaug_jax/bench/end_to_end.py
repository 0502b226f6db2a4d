"""End-to-end race: our baseline run against the official MedMNIST script's loop.

  python -m medaug_jax.bench.end_to_end --epochs=100   # the paper budget, ~50 min on 2 CPU cores
  python -m medaug_jax.bench.end_to_end --epochs=3 --out=runs/end_to_end

Each in a process of its own (bench/worker.py: the two would share one
OpenMP runtime otherwise), on the same images (data.load of the same config)
and for the same number of epochs, by default an epoch each in turn (the
machine's speed drifts by 10-25% over the minutes of a race; --nointerleave
runs ours, then torch's):

  ours   medaug_jax.run.train_and_evaluate with configs/none.py set to the
         MedMNIST recipe: Adam lr 1e-3, lr x 0.1 at 50% and 75% of the
         epochs, batch 128. The whole run a user gets: data, compilation, the
         val and test evaluation after every epoch, checkpoints, metrics log,
         TensorBoard events, results.json.
  torch  a twin of the training loop of MedMNIST/experiments
         MedMNIST2D/train_and_eval_pytorch.py as published: the ResNet-18
         (28x28 form, torch_twins.resnet18), Adam lr 1e-3, MultiStepLR with
         milestones [0.5 * epochs, 0.75 * epochs] and gamma 0.1, a shuffled
         DataLoader of batch 128 that normalises image by image, cross-entropy,
         and after EVERY epoch an evaluation pass (batch 128, loss, AUC, ACC)
         over train, val and test.

Not the same work, said in the report: ours does not evaluate the training
split each epoch, the official script does; the torch side times that pass
apart, so the ratio without it is reported too. The twin's loader does the
arithmetic of ToTensor + Normalize per image but not the PIL round trip of
medmnist's dataset class, and writes no TensorBoard scalars, so its time is
at most the official script's. The entry point's malloc setting
(hostmem.keep_freed_memory) holds for both processes.

Interleaved, ours is timed without the torch epochs run between its own,
and torch by its set-up and its epochs.

Writes <out>/end_to_end.json and <out>/end_to_end.md (a table row).
From Python (tests): run(epochs=1, dataset='synthetic', width=4, out=...).
"""
import contextlib
import datetime
from importlib import metadata
import json
import os
import platform
import shutil
import statistics
import time

from absl import app, flags, logging

from medaug_jax import config_lib, data, hostmem, metrics
from medaug_jax.bench import torch_twins, worker

FLAGS = flags.FLAGS
BATCH = 128  # both the paper's and the official script's batch


def recipe(epochs, dataset='breastmnist', width=None, data_root=''):
  """configs/none.py with the official script's optimiser and schedule."""
  config = config_lib.method_config('none')
  config.dataset, config.data_root = dataset, data_root
  c = config.classifier
  c.optimizer, c.lr, c.lr_milestones, c.lr_decay = 'adam', 1e-3, (0.5, 0.75), 0.1
  c.batch_size, c.epochs = BATCH, epochs
  if width:
    c.width = width
  return config


# --------------------------------------------------------------------------- #
# Ours
# --------------------------------------------------------------------------- #

def run_ours(config, workdir, paused=()):
  """Wall time of train_and_evaluate(config, workdir), less the `paused`
  seconds (the interleaved race's torch epochs, appended while it runs),
  and its per-epoch times and last test figures from the run's metrics log."""
  from medaug_jax import run as run_lib  # pylint: disable=g-import-not-at-top
  # A finished workdir of the same config would be returned as it is, and a
  # half-finished one resumed: start from nothing.
  shutil.rmtree(workdir, ignore_errors=True)
  t = time.perf_counter()
  results = run_lib.train_and_evaluate(config, workdir)
  seconds = time.perf_counter() - t - sum(paused)
  history = _classifier_records(os.path.join(workdir, 'metrics.jsonl'))
  epoch_s = [r['epoch_s'] for r in history]
  # Set-up, compilation outside the first step, checkpoints and results:
  # a fixed cost that a short race weighs more than the paper's 100 epochs.
  return {'seconds': seconds, 'epoch_s': epoch_s, 'outside_epochs_s': seconds - sum(epoch_s),
          'train_s': results['timing']['train_s'],
          'last': {k: history[-1][k] for k in ('val_auc', 'test_auc', 'test_acc')}}


def _classifier_records(path):
  with open(path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return [r for r in records if r.get('phase') == 'classifier']


# --------------------------------------------------------------------------- #
# The official script's loop, in PyTorch
# --------------------------------------------------------------------------- #

def _loader(split, shuffle):
  """DataLoader(dataset, batch_size=128, shuffle) over a uint8 split whose
  items are made one at a time, as medmnist's dataset class makes them:
  ToTensor ([0, 1], CHW) then Normalize(mean=.5, std=.5), and the label as
  a (1,) array."""
  import torch  # pylint: disable=g-import-not-at-top

  class Split(torch.utils.data.Dataset):

    def __len__(self):
      return len(split)

    def __getitem__(self, i):
      x = torch.from_numpy(split.images[i]).permute(2, 0, 1).float().div(255)
      return (x - 0.5) / 0.5, split.labels[i:i + 1]

  return torch.utils.data.DataLoader(Split(), batch_size=BATCH, shuffle=shuffle)


def _train_epoch(model, loader, criterion, optimizer):
  """The official train(): loss.item() every step, which waits for it."""
  model.train()
  losses = []
  for inputs, targets in loader:
    optimizer.zero_grad()
    loss = criterion(model(inputs), targets.squeeze(1).long())
    losses.append(loss.item())
    loss.backward()
    optimizer.step()
  return sum(losses) / len(losses)


def _evaluate(model, loader, criterion, labels, task):
  """The official test(): loss, AUC and ACC of softmax scores."""
  import torch  # pylint: disable=g-import-not-at-top
  model.eval()
  losses, scores = [], []
  with torch.no_grad():
    for inputs, targets in loader:
      outputs = model(inputs)
      losses.append(criterion(outputs, targets.squeeze(1).long()).item())
      scores.append(torch.softmax(outputs, 1))
  scores = torch.cat(scores).numpy()
  return {'loss': sum(losses) / len(losses), 'auc': metrics.auc(labels, scores, task),
          'acc': metrics.acc(labels, scores, task)}


class OfficialLoop:
  """The official script's loop on data.load(config)'s splits, an epoch per
  call: its set-up (loading the splits included, as ours includes it) when
  made, then each epoch split into the training, the train-split evaluation
  and the val + test evaluation."""

  def __init__(self, config, width, seed=0):
    import torch  # pylint: disable=g-import-not-at-top
    t = time.perf_counter()
    torch.manual_seed(seed)
    self.ds = ds = data.load(config)
    if ds.multi_label:
      raise app.UsageError('the race covers single-label datasets (cross-entropy)')
    self.model = torch_twins.resnet18(ds.num_classes, ds.channels, width)
    self.epochs = epochs = config.classifier.epochs
    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
    # As published: float milestones, which MultiStepLR matches only where
    # 0.5 * epochs and 0.75 * epochs are whole numbers (100 epochs: 50 and 75).
    self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
        self.optimizer, milestones=[0.5 * epochs, 0.75 * epochs], gamma=0.1)
    self.criterion = torch.nn.CrossEntropyLoss()
    self.train_loader = _loader(ds.train, shuffle=True)
    self.at_eval = {name: (_loader(getattr(ds, name), shuffle=False), getattr(ds, name).labels)
                    for name in ('train', 'val', 'test')}
    self.epoch_s, self.train_eval_s, self.scores = [], [], None
    self.setup_s = time.perf_counter() - t

  def epoch(self):
    """One epoch as the script runs it; returns its seconds."""
    t0 = time.perf_counter()
    loss = _train_epoch(self.model, self.train_loader, self.criterion, self.optimizer)
    t1 = time.perf_counter()
    scores, eval_s = {}, {}
    for name, (loader, labels) in self.at_eval.items():  # train, val, test: the official order
      t_eval = time.perf_counter()
      scores[name] = _evaluate(self.model, loader, self.criterion, labels, self.ds.task)
      eval_s[name] = time.perf_counter() - t_eval
    # Timed apart to report the race without it too: ours has no such pass.
    self.train_eval_s.append(eval_s['train'])
    self.scheduler.step()
    self.epoch_s.append(time.perf_counter() - t0)
    self.scores = scores
    print(f'[torch] epoch {len(self.epoch_s)}/{self.epochs} loss {loss:.4f} '
          + ' '.join(f"{n}_auc {s['auc']:.3f} {n}_acc {s['acc']:.3f}" for n, s in scores.items())
          + f' ({self.epoch_s[-1]:.1f}s: train {t1 - t0:.1f}s, evaluation of train '
          f"{eval_s['train']:.1f}s, of val+test {eval_s['val'] + eval_s['test']:.1f}s)",
          flush=True)
    return self.epoch_s[-1]

  def summary(self, seconds=None):
    """The loop's figures; seconds: its wall time (default: set-up + epochs)."""
    if seconds is None:
      seconds = self.setup_s + sum(self.epoch_s)
    return {'seconds': seconds, 'epoch_s': self.epoch_s,
            'outside_epochs_s': seconds - sum(self.epoch_s), 'train_eval_s': self.train_eval_s,
            'sizes': self.ds.sizes(),
            'last': {'val_auc': self.scores['val']['auc'], 'test_auc': self.scores['test']['auc'],
                     'test_acc': self.scores['test']['acc']}}


def run_torch(config, width, seed=0):
  """Wall time of the official script's loop, its epochs one after another."""
  t = time.perf_counter()
  loop = OfficialLoop(config, width, seed)
  for _ in range(loop.epochs):
    loop.epoch()
  return loop.summary(time.perf_counter() - t)


def official_loop(config, width, seed=0):
  """On the PyTorch side, for the interleaved race: (set-up seconds, one
  epoch) and (None, the summary) of an OfficialLoop."""
  loop = OfficialLoop(config, width, seed)
  return [(loop.setup_s, loop.epoch), (None, loop.summary)]


@contextlib.contextmanager
def _after_each_epoch(phase, fn):
  """Calls fn() after each epoch record of `phase` a run logs (ours has no
  hook of its own between epochs: the benchmark wraps its metrics log)."""
  from medaug_jax import logs  # pylint: disable=g-import-not-at-top
  append = logs.MetricsLog.append

  def wrapped(self, record):
    append(self, record)
    if record.get('phase') == phase and 'epoch_s' in record:
      fn()
  logs.MetricsLog.append = wrapped
  try:
    yield
  finally:
    logs.MetricsLog.append = append


def _interleaved(torch_side, config, width, workdir):
  """Ours with one epoch of the official loop after each of ours, so that
  both meet the same machine, epoch by epoch: ours is timed without the
  pauses, torch by its set-up and epochs."""
  (setup_s, torch_epoch), (_, torch_summary) = torch_side.make(
      'medaug_jax.bench.end_to_end:official_loop', config, width, config.seed)
  paused = []

  def torch_turn():
    if len(paused) < config.classifier.epochs:
      t = time.perf_counter()
      torch_epoch()
      paused.append(time.perf_counter() - t)
  with _after_each_epoch('classifier', torch_turn):
    ours = run_ours(config, workdir, paused)
  while len(paused) < config.classifier.epochs:
    torch_turn()
  theirs = torch_summary()
  theirs['setup_s'] = setup_s
  return ours, theirs


# --------------------------------------------------------------------------- #
# The race and its report
# --------------------------------------------------------------------------- #

def run(epochs=100, dataset='breastmnist', out='runs/end_to_end', torch_threads=0, width=None,
        data_root='', interleave=True):
  """Ours and the torch twin for `epochs` epochs on `dataset`; returns the
  report (also written to <out>/end_to_end.json and <out>/end_to_end.md).

  interleave: an epoch of torch's after each of ours (else ours, then torch).
  width: the ResNet's base width (default: the classifier config's, 64).
  torch_threads: torch.set_num_threads (0: torch's default).
  """
  if not torch_twins.available():
    raise app.UsageError('the race needs torch: pip install .[bench]  '
                         '(torch==2.13.0 is the local CPU wheel)')
  with worker.Remote() as torch_side:
    return _race(torch_side, epochs, dataset, out, torch_threads, width, data_root, interleave)


def _race(torch_side, epochs, dataset, out, torch_threads, width, data_root, interleave):
  torch_versions, _ = torch_side.call('medaug_jax.bench.torch_twins:setup', torch_threads)
  config = recipe(epochs, dataset, width, data_root)
  width = config.classifier.width
  report = {'epochs': epochs, 'dataset': dataset, 'width': width, 'batch': BATCH,
            'interleaved': interleave,
            'command': command(epochs, dataset, out, torch_threads, width, data_root, interleave),
            'date': datetime.datetime.now().isoformat(timespec='seconds'),
            'machine': machine(), 'versions': {**versions(), **torch_versions},
            'notes': ('ours evaluates val and test after every epoch, not train; the official '
                      'script (torch) evaluates train too: ratio_without_train_eval leaves '
                      "that pass out of torch's time")}
  workdir = os.path.join(out, 'ours')
  if interleave:
    print(f'== ours (train_and_evaluate, configs/none.py, Adam) and the official loop in torch, '
          f'an epoch each in turn, {epochs} epochs ==', flush=True)
    ours, theirs = _interleaved(torch_side, config, width, workdir)
  else:
    print(f'== ours: train_and_evaluate, configs/none.py, Adam, {epochs} epochs ==', flush=True)
    ours = run_ours(config, workdir)
    print(f'== torch: the official loop, {epochs} epochs ==', flush=True)
    theirs = torch_side.call('medaug_jax.bench.end_to_end:run_torch', config, width, config.seed)
  with contextlib.suppress(OSError):
    report['machine']['loadavg_end'] = os.getloadavg()
  torch_s_no_train_eval = theirs['seconds'] - sum(theirs['train_eval_s'])
  report.update(
      ours_s=ours['seconds'], torch_s=theirs['seconds'], ratio=theirs['seconds'] / ours['seconds'],
      torch_s_without_train_eval=torch_s_no_train_eval,
      ratio_without_train_eval=torch_s_no_train_eval / ours['seconds'],
      ours=ours, torch=theirs)
  report['markdown'] = markdown(report)
  _write(report, out)
  print(f"ours {report['ours_s']:.1f}s, torch {report['torch_s']:.1f}s: torch / ours = "
        f"{report['ratio']:.2f}x ({report['ratio_without_train_eval']:.2f}x without torch's "
        'train-split evaluation, which ours does not do)', flush=True)
  print(report['markdown'], flush=True)
  return report


def command(epochs, dataset, out, torch_threads, width, data_root, interleave=True):
  words = ['python -m medaug_jax.bench.end_to_end', f'--epochs={epochs}', f'--out={out}']
  if not interleave:
    words.append('--nointerleave')
  if dataset != 'breastmnist':
    words.append(f'--dataset={dataset}')
  if torch_threads:
    words.append(f'--torch_threads={torch_threads}')
  if width != config_lib.default_config().classifier.width:
    words.append(f'--width={width}')
  if data_root:
    words.append(f'--data_root={data_root}')
  return ' '.join(words)


def machine():
  """The CPU and the vector units both frameworks' kernels may use."""
  info = {'platform': platform.platform(), 'cpu_count': os.cpu_count()}
  try:
    with open('/proc/cpuinfo') as f:
      lines = f.read().splitlines()
  except OSError:
    lines = []
  field = lambda key: next((l.split(':', 1)[1].strip() for l in lines if l.startswith(key)), '')
  cpu_flags = field('flags').split()
  info['cpu'] = field('model name') or platform.processor()
  info['flags'] = {'avx2': 'avx2' in cpu_flags,
                   'avx512': sorted(f for f in cpu_flags if f.startswith('avx512')),
                   'amx': sorted(f for f in cpu_flags if f.startswith('amx'))}
  with contextlib.suppress(OSError):
    info['loadavg_start'] = os.getloadavg()
  return info


def versions():
  out = {p: metadata.version(p) for p in ('jax', 'jaxlib', 'flax', 'numpy')}
  out.update(python=platform.python_version(), xla_flags=os.environ.get('XLA_FLAGS', ''))
  return out


def _steady(epoch_s):
  """The median epoch after the first (which compiles, on our side)."""
  return statistics.median(epoch_s[1:]) if len(epoch_s) > 1 else epoch_s[0]


HEADER = ('| date | CPU (cores, AVX-512, AMX) | load 1 min | dataset | width | epochs '
          '| ours s | torch s | torch / ours | without train eval '
          '| ours epoch s (1st) | torch epoch s (1st) |\n' + '|---' * 12 + '|')


def markdown(report):
  """One table row (under HEADER) of the race."""
  m, ours, theirs = report['machine'], report['ours'], report['torch']
  units = [u for u, on in (('AVX-512', m['flags']['avx512']), ('AMX', m['flags']['amx'])) if on]
  load = m.get('loadavg_start', (float('nan'),))[0], m.get('loadavg_end', (float('nan'),))[0]
  return (f"| {report['date'][:10]} | {m['cpu']} ({m['cpu_count']}, {', '.join(units) or '-'}) "
          f'| {load[0]:.1f} -> {load[1]:.1f} '
          f"| {report['dataset']} | {report['width']} | {report['epochs']} "
          f"| {report['ours_s']:.1f} | {report['torch_s']:.1f} | {report['ratio']:.2f}x "
          f"| {report['ratio_without_train_eval']:.2f}x "
          f"| {_steady(ours['epoch_s']):.2f} ({ours['epoch_s'][0]:.1f}) "
          f"| {_steady(theirs['epoch_s']):.2f} ({theirs['epoch_s'][0]:.1f}) |")


def _write(report, out):
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'end_to_end.json'), 'w') as f:
    json.dump(report, f, indent=1, default=str)
  with open(os.path.join(out, 'end_to_end.md'), 'w') as f:
    order = ('an epoch of each in turn' if report.get('interleaved')
             else 'ours, then torch')
    f.write(f"{HEADER}\n{report['markdown']}\n\n{report['notes']}. Run as {order}, each "
            f"side in a process of its own.\nCommand: `{report['command']}`\n")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  hostmem.keep_freed_memory()
  # orbax logs every checkpoint at INFO; keep the terminal for progress.
  logging.set_verbosity(logging.WARNING)
  run(FLAGS.epochs, FLAGS.dataset, FLAGS.out, FLAGS.torch_threads, FLAGS.width, FLAGS.data_root,
      FLAGS.interleave)


if __name__ == '__main__':
  # Defined here, not on import: the throughput benchmark, which tests import
  # beside run(), has flags of some of the same names.
  flags.DEFINE_integer('epochs', 100, 'Epochs of each side (the paper and the script: 100).')
  flags.DEFINE_string('dataset', 'breastmnist', 'A single-label MedMNIST 2D flag or synthetic.')
  flags.DEFINE_string('out', 'runs/end_to_end', 'Folder for end_to_end.json/.md and our workdir.')
  flags.DEFINE_integer('torch_threads', 0, "torch.set_num_threads (0: torch's default).")
  flags.DEFINE_integer('width', None, 'ResNet base width (default: the classifier config, 64).')
  flags.DEFINE_string('data_root', '', 'Folder of <dataset>.npz (default: $MEDMNIST_ROOT).')
  flags.DEFINE_bool('interleave', True, "An epoch of torch's after each of ours, so that both "
                    'meet the same machine (--nointerleave: ours, then torch).')
  app.run(main)
