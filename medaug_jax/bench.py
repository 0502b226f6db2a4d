"""Step-throughput benchmark: our JAX steps against PyTorch on the same machine.

  python -m medaug_jax.bench --out=runs/bench            # full table (< 10 min on 2 CPU cores)
  python -m medaug_jax.bench --quick --no-torch          # JAX only, fewer repeats

For the ResNet-18 train step, the ResNet-18 eval pass and one train step of each
generator (ae, cvae, cgan) it measures images/s of our JAX code (the trainer's
real jitted step: on-device batch gather, donated state) and of the identical
PyTorch model, eager and `torch.compile` (medaug_jax/bench_torch.py), at batch
128, 28x28, grey and colour. Implementations are timed interleaved (A B C A B
C ...) after a warm-up call, and the median over repeats is reported; compile /
first-call time is reported separately. FLOPs per step come from XLA's cost
analysis (for the ResNet, of the step traced with plain lax convolutions, the
same work for every implementation), so achieved GFLOP/s and the fraction of the
machine's measured peak (a large float32 matmul, timed in the same run) are
shown. Per-epoch wall time of the real pipeline (`trainer.fit` on a synthetic
set of BreastMNIST's size, 546 images) is measured too, and, for the small
generators, an epoch fused into one `lax.scan`.

Writes <out>/bench.json and <out>/bench.md. torch is optional
(`pip install .[bench]`); without it the PyTorch columns are left empty.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import time

# Models the benchmark knows, in table order.
MODELS = ('resnet_train', 'resnet_eval', 'ae', 'cvae', 'cgan')
GENERATORS = ('ae', 'cvae', 'cgan')
BREAST_TRAIN = 546  # BreastMNIST's official train split


def parse_args(argv=None):
  p = argparse.ArgumentParser(
      prog='python -m medaug_jax.bench',
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', default='runs/bench', help='folder for bench.json and bench.md')
  p.add_argument('--quick', action='store_true',
                 help='fewer repeats, no torch.compile, no epoch timing')
  p.add_argument('--models', default=','.join(MODELS),
                 help='comma-separated subset of ' + ','.join(MODELS))
  p.add_argument('--channels', default='1,3', help='comma-separated: 1 (grey), 3 (colour)')
  p.add_argument('--repeats', type=int, default=None, help='timed repeats per implementation '
                 '(default 3; --quick 2)')
  p.add_argument('--batch', type=int, default=128)
  p.add_argument('--width', type=int, default=None,
                 help='ResNet base width (default: the classifier config, 64)')
  p.add_argument('--gen-width-div', type=int, default=1,
                 help='divide the generators\' hidden widths by this (tests use it)')
  p.add_argument('--dtype', default=None, choices=('float32', 'bfloat16'),
                 help='classifier compute dtype (default: the config, float32)')
  p.add_argument('--num-seeds', type=int, default=0,
                 help='also time the JAX steps with this many seeds vmapped (0: off)')
  p.add_argument('--baseline', action='store_true',
                 help='also time the ResNet train step with plain lax convolutions '
                 '(before the CPU kernel-gradient change in models.py)')
  p.add_argument('--torch', default=None, action=argparse.BooleanOptionalAction,
                 help='PyTorch columns (default: when torch is importable)')
  p.add_argument('--torch-threads', type=int, default=0,
                 help='torch.set_num_threads (0: torch\'s default, one per core)')
  p.add_argument('--torch-compile', default=None, action=argparse.BooleanOptionalAction,
                 help='the torch.compile column (default: on, off with --quick)')
  p.add_argument('--epoch', default=None, action=argparse.BooleanOptionalAction,
                 help='per-epoch wall time of trainer.fit (default: on, off with --quick)')
  p.add_argument('--gen-block', type=int, default=20,
                 help='generator steps timed per repeat (they take milliseconds)')
  p.add_argument('--resnet-block', type=int, default=1,
                 help='ResNet steps (or eval passes) timed per repeat; raise on GPUs')
  p.add_argument('--peak-size', type=int, default=2048, help='matmul size for the peak')
  p.add_argument('--platform', default=None, help='JAX platform (cpu, gpu); default: JAX\'s')
  a = p.parse_args(argv)
  a.models = [m for m in a.models.split(',') if m]
  bad = [m for m in a.models if m not in MODELS]
  if bad:
    p.error(f'unknown model(s) {bad}; choose from {",".join(MODELS)}')
  a.channels = [int(c) for c in a.channels.split(',') if c]
  if any(c not in (1, 3) for c in a.channels):
    p.error('--channels takes 1 and/or 3')
  if a.repeats is None:
    a.repeats = 2 if a.quick else 3
  if a.torch_compile is None:
    a.torch_compile = not a.quick
  if a.epoch is None:
    a.epoch = not a.quick
  return a


# --------------------------------------------------------------------------- #
# Timing helpers
# --------------------------------------------------------------------------- #

class Impl:
  """One implementation of one case: `first()` is the warm-up (timed apart),
  `block()` one timed unit of `images` images."""

  def __init__(self, name, first, block, images, steps=1, compile_s=None, flops=None):
    self.name, self._first, self._block, self.images = name, first, block, images
    self.steps = steps  # compiled calls (steps) per block; flops is per call
    self.compile_s, self.flops = compile_s, flops
    self.first_s = None
    self.times = []

  def first(self):
    t = time.perf_counter()
    self._first()
    self.first_s = time.perf_counter() - t

  def block(self):
    t = time.perf_counter()
    self._block()
    self.times.append(time.perf_counter() - t)


def interleave(impls, repeats):
  for impl in impls:
    impl.first()
  for _ in range(repeats):
    for impl in impls:
      impl.block()


def _flops(lowered, compiled):
  """FLOPs of one call from XLA's cost analysis: of the lowered HLO first (on
  GPUs the compiled module hides convolutions in cuDNN calls it counts as 0),
  else of the compiled one."""
  for obj in (lowered, compiled):
    try:
      ca = obj.cost_analysis()
    except Exception:  # pylint: disable=broad-except
      continue
    if isinstance(ca, (list, tuple)):
      ca = ca[0] if ca else {}
    f = (ca or {}).get('flops')
    if f and f > 0:
      return float(f)
  return None


# --------------------------------------------------------------------------- #
# JAX side
# --------------------------------------------------------------------------- #

def _jax_data(n, channels, num_classes, seed=0):
  import numpy as np  # pylint: disable=g-import-not-at-top
  rs = np.random.RandomState(seed)
  images = rs.randint(0, 256, (n, 28, 28, channels)).astype(np.uint8)
  labels = rs.randint(0, num_classes, (n,)).astype(np.int32)
  return images, labels


def _objective(model, channels, args, num_classes=2, steps_per_epoch=5):
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  if model.startswith('resnet'):
    from medaug_jax.classifier import Classifier  # pylint: disable=g-import-not-at-top
    cfg = config.classifier
    if args.width:
      cfg.width = args.width
    if args.dtype:
      cfg.dtype = args.dtype
    return Classifier(cfg, num_classes, False, steps_per_epoch)
  import importlib  # pylint: disable=g-import-not-at-top
  from medaug_jax import generators  # pylint: disable=g-import-not-at-top
  cfg = importlib.import_module(f'configs.{model}').get_config().generator
  if args.gen_width_div > 1:
    cfg.hidden = tuple(max(1, h // args.gen_width_div) for h in cfg.hidden)
  return generators.get(model)(cfg, num_classes, (28, 28, channels))


@contextlib.contextmanager
def _lax_convolutions():
  """Trace the ResNet with lax.conv_general_dilated as it is (without the CPU
  paths of models.conv_general_dilated)."""
  from jax import lax  # pylint: disable=g-import-not-at-top
  from medaug_jax import models  # pylint: disable=g-import-not-at-top
  saved = models.conv_general_dilated
  models.conv_general_dilated = lax.conv_general_dilated
  try:
    yield
  finally:
    models.conv_general_dilated = saved


def _model_flops(fn, *args):
  """The ResNet's FLOPs counted on its lax convolutions, so that every
  implementation is credited the same work (the im2col matmuls also count
  the zero padding)."""
  import jax  # pylint: disable=g-import-not-at-top
  with _lax_convolutions():
    return _flops(jax.jit(lambda *a: fn(*a)).lower(*args), None)


def jax_impl(model, channels, args, num_seeds=None, plain_conv=False):
  """The trainer's jitted step (or the classifier's jitted eval pass).

  plain_conv: trace the ResNet with lax.conv_general_dilated as it is (the
  state before models.conv_general_dilated's CPU paths).
  """
  if plain_conv:
    with _lax_convolutions():
      impl = jax_impl(model, channels, args, num_seeds)
    impl.name = 'jax (lax.conv)'
    return impl
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from medaug_jax import trainer  # pylint: disable=g-import-not-at-top

  b = args.batch
  obj = _objective(model, channels, args)
  mesh = trainer.make_mesh(jax.devices()[:1])
  n = 4 * b  # a few batches on the device, as an epoch would have
  images, labels = _jax_data(n, channels, 2)
  state = obj.init(jax.random.key(0), images[:b], labels[:b])
  name = 'jax' if not num_seeds else f'jax x{num_seeds} seeds'

  if model == 'resnet_eval':
    x = jax.device_put(images[:b])
    fn = jax.jit(obj.probabilities)
    t = time.perf_counter()
    lowered = fn.lower(state, x)
    compiled = lowered.compile()
    compile_s = time.perf_counter() - t
    def run(k):
      for _ in range(k):
        y = compiled(state, x)
      y.block_until_ready()
    k = args.resnet_block
    return Impl(name, lambda: run(1), lambda: run(k), k * b, k, compile_s,
                _model_flops(obj.probabilities, state, x))

  steps = -(-n // b)
  idx, mask = trainer.epoch_batches(jax.random.key(1), n, b)
  key = jax.random.key_data(jax.random.key(2))
  images, labels = jnp.asarray(images), jnp.asarray(labels)
  if num_seeds:
    stack = lambda x: jnp.stack([x] * num_seeds)
    state = trainer.stack_trees([state] * num_seeds)
    images, labels, idx, mask = map(stack, (images, labels, idx, mask))
    key = jax.random.key_data(jax.random.split(jax.random.key(2), num_seeds))
  if num_seeds:
    key_arg = jax.vmap(jax.random.wrap_key_data)(key)
  else:
    key_arg = jax.random.wrap_key_data(key)
  step = trainer.make_train_step(obj, mesh, num_seeds)
  t = time.perf_counter()
  lowered = step.lower(state, images, labels, idx, mask, 0, key_arg)
  compiled = lowered.compile()
  compile_s = time.perf_counter() - t
  block_steps = args.resnet_block if model.startswith('resnet') else args.gen_block
  box = {'state': state, 'i': 0}

  def run(k):
    s = box['state']
    for _ in range(k):
      s, m = compiled(s, images, labels, idx, mask, box['i'] % steps, key_arg)
      box['i'] += 1
    jax.block_until_ready(m)
    box['state'] = s

  args_ = (state, images, labels, idx, mask, 0, key_arg)
  flops = (_model_flops(trainer.make_train_step(obj, mesh, num_seeds), *args_)
           if model.startswith('resnet') else _flops(lowered, compiled))
  return Impl(name, lambda: run(1), lambda: run(block_steps),
              block_steps * b * (num_seeds or 1), block_steps, compile_s, flops)


def jax_epochs(model, channels, args, epochs=3):
  """Per-epoch wall time of trainer.fit on a BreastMNIST-sized set (first
  epoch: compile; the median of the rest is reported), and for generators an
  epoch as one jitted lax.scan over its steps."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from medaug_jax import trainer  # pylint: disable=g-import-not-at-top

  b, n = args.batch, BREAST_TRAIN
  steps = -(-n // b)
  obj = _objective(model, channels, args, steps_per_epoch=steps)
  images, labels = _jax_data(n, channels, 2)
  state = obj.init(jax.random.key(0), images[:b], labels[:b])
  mesh = trainer.make_mesh(jax.devices()[:1])
  # Placed as train.py places them.
  state, images, labels = (trainer.replicate(x, mesh) for x in
                           (state, jnp.asarray(images), jnp.asarray(labels)))
  rng = jax.random.key_data(jax.random.key(3))
  t = time.perf_counter()
  result = trainer.fit(obj, state, images, labels, phase=model, epochs=epochs,
                       batch_size=b, rng=rng, mesh=mesh, print_every=0)
  total = time.perf_counter() - t
  per = [r['epoch_s'] for r in result.history]
  out = {'model': model, 'channels': channels, 'images': n, 'steps': steps,
         'fit_first_epoch_s': per[0], 'fit_epoch_s': statistics.median(per[1:]),
         'fit_total_s': total, 'epochs': epochs}
  if model in GENERATORS:
    out.update(_scan_epoch(obj, result.state, images, labels, n, b, epochs))
  out['fit_images_per_s'] = n / out['fit_epoch_s']
  return out


def _scan_epoch(obj, state, images, labels, n, b, epochs):
  import jax  # pylint: disable=g-import-not-at-top
  from medaug_jax import trainer  # pylint: disable=g-import-not-at-top

  def epoch(state, key):
    shuffle_key, step_key = jax.random.split(key)
    idx, mask = trainer.epoch_batches(shuffle_key, n, b)

    def body(s, i):
      s, m = obj.train_step(s, images[idx[i]], labels[idx[i]], mask[i],
                            jax.random.fold_in(step_key, i))
      return s, m
    return jax.lax.scan(body, state, jax.numpy.arange(idx.shape[0]))

  f = jax.jit(epoch, donate_argnums=0)
  key = jax.random.key(4)
  times = []
  for e in range(epochs):
    t = time.perf_counter()
    state, m = f(state, jax.random.fold_in(key, e))
    jax.block_until_ready(m)
    times.append(time.perf_counter() - t)
  return {'scan_first_epoch_s': times[0], 'scan_epoch_s': statistics.median(times[1:])}


def jax_peak(size, repeats=5):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
  f = jax.jit(lambda x, y: x @ y)
  f(a, a).block_until_ready()
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    f(a, a).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return 2 * size ** 3 / best / 1e9


# --------------------------------------------------------------------------- #
# PyTorch side
# --------------------------------------------------------------------------- #

def torch_impls(model, channels, args, device, compiled_too):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from medaug_jax import bench_torch  # pylint: disable=g-import-not-at-top

  b = args.batch
  n = 4 * b
  images_np, labels_np = _jax_data(n, channels, 2)
  images = torch.from_numpy(images_np).to(device)
  labels = torch.from_numpy(labels_np).long().to(device)
  rs = np.random.RandomState(1)
  batches = [torch.from_numpy(rs.permutation(n)[:b]).to(device) for _ in range(4)]
  sync = torch.cuda.synchronize if device != 'cpu' else (lambda: None)
  impls = []
  for compiled in ([False, True] if compiled_too else [False]):
    name = 'torch.compile' if compiled else 'torch eager'
    torch.manual_seed(0)
    if model.startswith('resnet'):
      task = bench_torch.ResNetTask(2, channels, width=args.width or 64, device=device)
      if model == 'resnet_eval':
        fn = task.eval_fn(compiled)
        x = images[:b]

        def run_eval(k, fn=fn, x=x):
          for _ in range(k):
            y = fn(x)
          float(y[0, 0])
          sync()
        k = args.resnet_block
        impls.append(Impl(name, lambda r=run_eval: r(1), lambda r=run_eval, k=k: r(k), k * b, k))
        continue
      step = task.compile_train() if compiled else task.train_fn()
      block_steps = args.resnet_block
    else:
      import importlib  # pylint: disable=g-import-not-at-top
      cfg = importlib.import_module(f'configs.{model}').get_config().generator
      if args.gen_width_div > 1:
        cfg.hidden = tuple(max(1, h // args.gen_width_div) for h in cfg.hidden)
      task = bench_torch.GeneratorTask(model, cfg, 2, (28, 28, channels), device=device)
      step = task.train_fn(compiled)
      block_steps = args.gen_block

    def run(k, step=step):
      for i in range(k):
        out = step(images, labels, batches[i % len(batches)])
      float((out[0] if isinstance(out, tuple) else out).detach())  # waits for the result
      sync()

    impls.append(Impl(name, lambda run=run: run(1), lambda run=run, k=block_steps: run(k),
                      block_steps * b, block_steps))
  return impls


def torch_peak(size, device, repeats=5):
  import torch  # pylint: disable=g-import-not-at-top
  a = torch.randn(size, size, device=device)
  sync = torch.cuda.synchronize if device != 'cpu' else (lambda: None)
  (a @ a).sum().item()
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    a @ a
    sync()
    best = min(best, time.perf_counter() - t)
  return 2 * size ** 3 / best / 1e9


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #

def _machine():
  info = {'platform': platform.platform(), 'python': platform.python_version(),
          'cpu_count': os.cpu_count(), 'processor': platform.processor()}
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          info['cpu'] = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  try:
    info['loadavg_start'] = os.getloadavg()
  except OSError:
    pass
  return info


def _fmt(v, spec='.1f'):
  return '-' if v is None else format(v, spec)


def summarize(impls, peak_gflops):
  """Impl objects -> JSON rows with medians and derived figures. Torch rows
  borrow the FLOPs of the JAX step (the same model and batch)."""
  rows = []
  jax_flops = next((i.flops for i in impls if i.name == 'jax'), None)
  for i in impls:
    med = statistics.median(i.times)
    flops = i.flops if i.flops is not None else jax_flops
    row = {'impl': i.name, 'images_per_s': i.images / med, 'median_s': med,
           'times_s': i.times, 'images_per_block': i.images, 'steps_per_block': i.steps,
           'first_call_s': i.first_s, 'compile_s': i.compile_s}
    if flops:
      row['flops_per_step'] = flops
      row['gflops_per_s'] = flops * i.steps / med / 1e9
      row['fraction_of_peak'] = row['gflops_per_s'] / peak_gflops if peak_gflops else None
    rows.append(row)
  return rows


def markdown(report):
  lines = []
  m, v = report['machine'], report['versions']
  lines.append(f"Machine: {m.get('cpu', m.get('processor'))}, {m['cpu_count']} CPUs; "
               f"JAX devices: {report['jax_devices']}.")
  lines.append(f"Versions: jax {v['jax']}, jaxlib {v['jaxlib']}, flax {v['flax']}, "
               f"torch {v.get('torch') or '-'}; XLA_FLAGS=`{report['xla_flags'] or ''}`.")
  lines.append(f"Batch {report['args']['batch']}, 28x28; median of "
               f"{report['args']['repeats']} interleaved repeats after a warm-up; "
               f"peak (best {report['args']['peak_size']}^2 float32 matmul): "
               f"{report['peak_gflops']:.1f} GFLOP/s.")
  lines.append('')
  lines.append('| model | ch | JAX img/s | torch eager img/s | torch.compile img/s '
               '| JAX / eager | JAX / compile | GFLOP/step | JAX GFLOP/s | JAX % peak '
               '| JAX compile s | torch.compile 1st call s |')
  lines.append('|---|---|---|---|---|---|---|---|---|---|---|---|')
  for case in report['cases']:
    r = {row['impl']: row for row in case['rows']}
    j, e, c = r.get('jax'), r.get('torch eager'), r.get('torch.compile')
    ratio = lambda a, b: f"{a['images_per_s'] / b['images_per_s']:.2f}x" if a and b else '-'
    ips = lambda x: _fmt(x['images_per_s'] if x else None)
    gf = j.get('flops_per_step') if j else None
    lines.append(
        f"| {case['model']} | {case['channels']} | {ips(j)} | {ips(e)} | {ips(c)} "
        f"| {ratio(j, e)} | {ratio(j, c)} | {_fmt(gf / 1e9 if gf else None, '.2f')} "
        f"| {_fmt(j.get('gflops_per_s') if j else None)} "
        f"| {_fmt(100 * j['fraction_of_peak'] if j and j.get('fraction_of_peak') else None)} "
        f"| {_fmt(j['compile_s'] if j else None, '.1f')} "
        f"| {_fmt(c['first_call_s'] if c else None, '.1f')} |")
  extra = [(case, row) for case in report['cases'] for row in case['rows']
           if row['impl'] not in ('jax', 'torch eager', 'torch.compile')]
  if extra:
    lines += ['', 'Other JAX variants (vmapped seeds: images/s over all seeds):', '',
              '| model | ch | variant | img/s | vs jax | vs torch eager | vs torch.compile |',
              '|---|---|---|---|---|---|---|']
    for case, row in extra:
      r = {x['impl']: x for x in case['rows']}
      rel = lambda k: (f"{row['images_per_s'] / r[k]['images_per_s']:.2f}x" if k in r else '-')
      lines.append(f"| {case['model']} | {case['channels']} | {row['impl']} "
                   f"| {row['images_per_s']:.1f} | {rel('jax')} | {rel('torch eager')} "
                   f"| {rel('torch.compile')} |")
  if report['epochs']:
    lines += ['', f"Per-epoch wall time, trainer.fit on {BREAST_TRAIN} images "
              '(BreastMNIST train size; median of the epochs after the first):', '',
              '| model | ch | steps | fit epoch s | fit img/s | fit 1st epoch s '
              '| scanned epoch s | scanned 1st epoch s |',
              '|---|---|---|---|---|---|---|---|']
    for e in report['epochs']:
      lines.append(f"| {e['model']} | {e['channels']} | {e['steps']} | {e['fit_epoch_s']:.3f} "
                   f"| {e['fit_images_per_s']:.0f} | {e['fit_first_epoch_s']:.2f} "
                   f"| {_fmt(e.get('scan_epoch_s'), '.3f')} "
                   f"| {_fmt(e.get('scan_first_epoch_s'), '.2f')} |")
  lines += ['', f"Command: `{report['command']}`; total {report['total_s']:.0f} s.", '']
  return '\n'.join(lines)


def main(argv=None):
  args = parse_args(argv)
  t_start = time.perf_counter()
  if args.platform:
    os.environ['JAX_PLATFORMS'] = args.platform
  import jax  # pylint: disable=g-import-not-at-top
  import flax  # pylint: disable=g-import-not-at-top
  from medaug_jax import bench_torch  # pylint: disable=g-import-not-at-top

  use_torch = bench_torch.available() if args.torch is None else args.torch
  if use_torch and not bench_torch.available():
    raise SystemExit('--torch asked for, but torch is not importable: '
                     'pip install .[bench]  (torch==2.13.0 is the local CPU wheel)')
  backend = jax.default_backend()
  device = 'cpu'
  versions = {'jax': jax.__version__, 'jaxlib': jax.lib.__version__ if hasattr(jax.lib, '__version__')
              else _jaxlib_version(), 'flax': flax.__version__}
  if use_torch:
    import torch  # pylint: disable=g-import-not-at-top
    if args.torch_threads:
      torch.set_num_threads(args.torch_threads)
    versions['torch'] = torch.__version__
    versions['torch_threads'] = torch.get_num_threads()
    if backend == 'gpu' and torch.cuda.is_available():
      device = 'cuda'
  report = {'args': vars(args), 'command': 'python -m medaug_jax.bench ' + ' '.join(
      sys.argv[1:] if argv is None else argv),
            'date': datetime.datetime.now().isoformat(timespec='seconds'),
            'machine': _machine(), 'versions': versions,
            'jax_devices': ', '.join(sorted({d.device_kind for d in jax.devices()})),
            'xla_flags': os.environ.get('XLA_FLAGS', ''), 'cases': [], 'epochs': []}

  peak = jax_peak(args.peak_size)
  report['peak_gflops_jax'] = peak
  if use_torch:
    report['peak_gflops_torch'] = torch_peak(args.peak_size, device)
    peak = max(peak, report['peak_gflops_torch'])
  report['peak_gflops'] = peak
  print(f'peak matmul: {peak:.1f} GFLOP/s', flush=True)

  for model in args.models:
    for ch in args.channels:
      impls = [jax_impl(model, ch, args)]
      if args.baseline and model == 'resnet_train':
        impls.append(jax_impl(model, ch, args, plain_conv=True))
      if args.num_seeds:
        impls.append(jax_impl(model, ch, args, num_seeds=args.num_seeds))
      if use_torch:
        impls += torch_impls(model, ch, args, device, args.torch_compile)
      interleave(impls, args.repeats)
      rows = summarize(impls, peak)
      report['cases'].append({'model': model, 'channels': ch, 'rows': rows})
      _write(report, args.out, time.perf_counter() - t_start)
      print(f'{model} ch={ch}: ' + ', '.join(
          f"{r['impl']} {r['images_per_s']:.1f} img/s (1st {r['first_call_s']:.1f}s)"
          for r in rows), flush=True)
  if args.epoch:
    for model in args.models:
      if model == 'resnet_eval':
        continue
      for ch in args.channels:
        e = jax_epochs(model, ch, args)
        report['epochs'].append(e)
        _write(report, args.out, time.perf_counter() - t_start)
        print(f"{model} ch={ch}: fit epoch {e['fit_epoch_s']:.3f}s"
              + (f", scanned {e['scan_epoch_s']:.3f}s" if 'scan_epoch_s' in e else ''),
              flush=True)
  md = _write(report, args.out, time.perf_counter() - t_start)
  print(md)
  return report


def _write(report, out, total_s):
  """(Re)writes bench.json and bench.md; called after every case, so a run
  cut short still leaves what it measured."""
  report['total_s'] = total_s
  try:
    report['machine']['loadavg_end'] = os.getloadavg()
  except OSError:
    pass
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'bench.json'), 'w') as f:
    json.dump(report, f, indent=1, default=str)
  md = markdown(report)
  with open(os.path.join(out, 'bench.md'), 'w') as f:
    f.write(md)
  return md


def _jaxlib_version():
  import jaxlib  # pylint: disable=g-import-not-at-top
  return getattr(jaxlib, '__version__', '?')


if __name__ == '__main__':
  main()
