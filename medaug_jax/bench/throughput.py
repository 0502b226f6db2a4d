"""Step-throughput benchmark: our JAX steps against PyTorch on the same machine.

  python -m medaug_jax.bench --out=runs/bench         # full table (< 10 min on 2 CPU cores)
  python -m medaug_jax.bench --quick --notorch        # JAX only, fewer repeats

For the ResNet-18 train step, the ResNet-18 eval pass and one train step of each
generator (medaug_jax.generators.available()) it measures images/s of our JAX
code (the trainer's real jitted step: on-device batch gather, donated state) and
of the identical PyTorch model, eager and `torch.compile` (torch_twins.py; a
generator without a twin gets no PyTorch columns), at batch 128, 28x28, grey and
colour. Implementations are timed interleaved (A B C A B C ...) after a warm-up
call, and the median over repeats is reported; compile / first-call time is
reported separately. FLOPs per step come from XLA's cost analysis (for the
ResNet, of the step traced with plain lax convolutions, the same work for every
implementation), so achieved GFLOP/s and the fraction of the machine's measured
peak (a large matmul in the run's dtype, timed in the same run) are shown. Per-epoch wall
time of the real pipeline (`trainer.fit` on a synthetic set of BreastMNIST's
size, 546 images) is measured too, and, for the generators, an epoch fused into
one `lax.scan`.

Writes <out>/bench.json and <out>/bench.md. torch is optional
(`pip install .[bench]`); without it the PyTorch columns are left empty.
In-process (tests): run(**flag values), e.g. run(models=['ae'], torch=False).
"""
import ast
import contextlib
import dataclasses
import datetime
from importlib import metadata
import json
import math
import os
import statistics
import time
import types
from typing import Callable, Optional

from absl import app, flags

from medaug_jax import config_lib, generators, hostmem
from medaug_jax.bench import machine, torch_twins, worker
from medaug_jax.ops import onednn

RESNETS = ('resnet_train', 'resnet_eval')
# Models the benchmark knows, in table order.
MODELS = RESNETS + tuple(generators.available())
BREAST_TRAIN = 546  # BreastMNIST's official train split
NUM_CLASSES = 2

FLAGS = flags.FLAGS
flags.DEFINE_string('out', 'runs/bench', 'Folder for bench.json and bench.md.')
flags.DEFINE_bool('quick', False, 'Fewer repeats, no torch.compile, no epoch timing.')
flags.DEFINE_list('models', list(MODELS), 'Subset of ' + ','.join(MODELS) + '.')
flags.DEFINE_list('channels', ['1', '3'], '1 (grey) and/or 3 (colour).')
flags.DEFINE_integer('repeats', None, 'Timed repeats per implementation (default 3; --quick 2).')
flags.DEFINE_integer('batch', 128, 'Batch size.')
flags.DEFINE_integer('width', None, 'ResNet base width (default: the classifier config).')
flags.DEFINE_integer('gen_width_div', 1, "Divide the generators' hidden widths by this "
                     '(tests use it).')
flags.DEFINE_enum('dtype', None, ['float32', 'bfloat16'],
                  'Compute dtype of the classifier and of the generators that have '
                  'one (default: the classifier config).')
flags.DEFINE_list('generator_set', [], 'key=value changes of the generator configs that have '
                  "the key, e.g. loss=ns,spectral_norm=False (typed as the config's "
                  'own value).')
flags.DEFINE_integer('num_seeds', 0, 'Also time the JAX steps with this many seeds vmapped '
                     '(0: off).')
flags.DEFINE_bool('baseline', False, 'Also time the ResNet train step with plain lax '
                  'convolutions (without medaug_jax.ops.conv_cpu).')
flags.DEFINE_bool('without_onednn', True, "Also time the JAX steps with conv_cpu's XLA-based "
                  "convolutions in place of oneDNN's (when oneDNN's are available).")
flags.DEFINE_bool('without_onednn_bn', False, "Also time the ResNet train step with XLA's batch "
                  "norm in place of oneDNN's (when oneDNN's is available).")
flags.DEFINE_bool('classic', True, "Also time the ResNet train step with the 'standard' "
                  'classic augmentation (medaug_jax/transforms.py) in it.')
flags.DEFINE_bool('torch', None, 'PyTorch columns (default: when torch is importable).')
flags.DEFINE_integer('torch_threads', 0, "torch.set_num_threads (0: torch's default).")
flags.DEFINE_bool('torch_process', True, 'Run the PyTorch side in a process of its own '
                  '(bench/worker.py: the two share an OpenMP runtime otherwise); '
                  '--notorch_process runs it in this one.')
flags.DEFINE_bool('torch_compile', None, 'The torch.compile column (default: on, off with '
                  '--quick).')
flags.DEFINE_bool('epoch', None, 'Per-epoch wall time of trainer.fit (default: on, off with '
                  '--quick).')
flags.DEFINE_integer('gen_block', 20, 'Generator steps timed per repeat (they take '
                     'milliseconds).')
flags.DEFINE_integer('resnet_block', 1, 'ResNet steps (or eval passes) timed per repeat; raise '
                     'on GPUs.')
flags.DEFINE_integer('peak_size', 2048, 'Matmul size for the peak.')
flags.DEFINE_string('platform', None, "JAX platform (cpu, gpu; default: JAX's). Command line "
                    'only: it must be set before JAX starts.')
_NAMES = tuple(f.name for f in FLAGS.get_flags_for_module(__name__))


def options(**values):
  """The settings a run uses: the flags' defaults overridden by `values`
  (flag names, lists for models and channels), defaults that depend on
  --quick or on the classifier config filled in."""
  unknown = set(values) - set(_NAMES)
  if unknown:
    raise TypeError(f'unknown options {sorted(unknown)}')
  o = types.SimpleNamespace(**{**{n: FLAGS[n].default for n in _NAMES}, **values})
  o.models, o.channels = list(o.models), [int(c) for c in o.channels]
  bad = [m for m in o.models if m not in MODELS]
  if bad:
    raise app.UsageError(f'unknown model(s) {bad}; choose from {",".join(MODELS)}')
  if not set(o.channels) <= {1, 3}:
    raise app.UsageError('--channels takes 1 and/or 3')
  o.repeats = o.repeats or (2 if o.quick else 3)
  o.torch_compile = not o.quick if o.torch_compile is None else o.torch_compile
  o.epoch = not o.quick if o.epoch is None else o.epoch
  classifier = config_lib.default_config().classifier
  o.width, o.dtype = o.width or classifier.width, o.dtype or classifier.dtype
  return o


def command(**values):
  """The command line that sets `values` (those off the flags' defaults)."""
  words = ['python -m medaug_jax.bench']
  for name in _NAMES:
    v = values.get(name, FLAGS[name].default)
    if v == FLAGS[name].default:
      continue
    if isinstance(v, bool):
      words.append(f"--{'' if v else 'no'}{name}")
    else:
      words.append(f"--{name}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}")
  return ' '.join(words)


def main(argv):
  """python -m medaug_jax.bench [flags]."""
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if FLAGS.platform:
    # Read by JAX when it starts, and by hostmem.
    os.environ['JAX_PLATFORMS'] = FLAGS.platform
  hostmem.keep_freed_memory()
  run(**{n: FLAGS[n].value for n in _NAMES})


# --------------------------------------------------------------------------- #
# Timing helpers
# --------------------------------------------------------------------------- #

@dataclasses.dataclass
class Impl:
  """One implementation of one case: run(calls) makes `calls` steps (or eval
  passes); a timed block is `steps` of them, `images` images in all."""
  name: str
  run: Callable[[int], None]
  steps: int
  images: int
  compile_s: Optional[float] = None
  flops: Optional[float] = None  # per step
  first_s: Optional[float] = None  # the warm-up call
  times: list = dataclasses.field(default_factory=list)  # per block
  hlo: str = ''  # the compiled program's HLO text (bench.profile --by=layer)


def interleave(impls, repeats):
  for impl in impls:
    impl.first_s = worker.timed(impl.run, 1)
  for _ in range(repeats):
    for impl in impls:
      impl.times.append(worker.timed(impl.run, impl.steps))


def _block_steps(model, o):
  return o.resnet_block if model in RESNETS else o.gen_block


def _flops(lowered, compiled=None):
  """FLOPs of one call from XLA's cost analysis: of the lowered HLO first (on
  GPUs the compiled module hides convolutions in cuDNN calls it counts as 0),
  else of the compiled one."""
  for obj in (lowered, compiled):
    try:
      ca = obj.cost_analysis()
    except Exception:  # pylint: disable=broad-except
      continue
    if isinstance(ca, (list, tuple)):  # older JAX: one dict per computation
      ca = ca[0] if ca else {}
    f = (ca or {}).get('flops')
    if f and f > 0:
      return float(f)
  return None


def _peak(matmul, size, repeats=5):
  """GFLOP/s of the best of `repeats` calls of matmul(), a size^2 float32
  matmul that waits for its result, after a warm-up call."""
  matmul()
  return 2 * size ** 3 / min(worker.timed(matmul) for _ in range(repeats)) / 1e9


# --------------------------------------------------------------------------- #
# JAX side
# --------------------------------------------------------------------------- #

def _data(n, channels, seed=0):
  import numpy as np  # pylint: disable=g-import-not-at-top
  rs = np.random.RandomState(seed)
  images = rs.randint(0, 256, (n, 28, 28, channels)).astype(np.uint8)
  labels = rs.randint(0, NUM_CLASSES, (n,)).astype(np.int32)
  return images, labels


def _generator_config(name, o):
  cfg = config_lib.method_config(name).generator
  if 'dtype' in cfg:
    cfg.dtype = o.dtype
  for item in o.generator_set:
    key, sep, value = item.partition('=')
    if not sep:
      raise app.UsageError(f'--generator_set takes key=value, got {item!r}')
    if key in cfg:
      try:
        value = ast.literal_eval(value)
      except (ValueError, SyntaxError):
        pass  # a bare string: loss=ns
      cfg[key] = value  # ml_collections checks the field's type
  if o.gen_width_div > 1:
    cfg.hidden = tuple(max(1, h // o.gen_width_div) for h in cfg.hidden)
    if 'width' in cfg:  # the convolutional generators' base width
      cfg.width = max(1, cfg.width // o.gen_width_div)
    if 'norm_groups' in cfg:  # GroupNorm groups must divide the narrower widths
      cfg.norm_groups = math.gcd(cfg.norm_groups, cfg.width)
  return cfg


def _objective(model, channels, o, steps_per_epoch=5, augment=False):
  if model in RESNETS:
    from medaug_jax.classifier import Classifier  # pylint: disable=g-import-not-at-top
    cfg = config_lib.default_config().classifier
    cfg.width, cfg.dtype = o.width, o.dtype
    if augment:
      cfg.augment = 'standard'
    return Classifier(cfg, NUM_CLASSES, False, steps_per_epoch)
  return generators.get(model)(_generator_config(model, o), NUM_CLASSES, (28, 28, channels))


@contextlib.contextmanager
def convolutions(conv):
  """Traces the models with `conv` in place of
  medaug_jax.ops.conv_cpu.conv_general_dilated (same signature)."""
  from medaug_jax.ops import conv_cpu  # pylint: disable=g-import-not-at-top
  saved = conv_cpu.conv_general_dilated
  conv_cpu.conv_general_dilated = conv
  try:
    yield
  finally:
    conv_cpu.conv_general_dilated = saved


def _lax_flops(fn, *args):
  """A step's FLOPs counted on lax's direct convolutions (conv_cpu.as_lax),
  so that every implementation is credited the same work (the im2col
  matmuls also count the zero padding; XLA counts none in a custom call).
  fn must be new to jit: a function traced before would bring its cached
  trace, convolutions included."""
  import jax  # pylint: disable=g-import-not-at-top
  from medaug_jax.ops import conv_cpu  # pylint: disable=g-import-not-at-top
  with conv_cpu.as_lax():
    # A new lambda: jit caches traces by function, and bound methods compare equal.
    return _flops(jax.jit(lambda *a: fn(*a)).lower(*args))


def _compile(fn, *args):
  t = time.perf_counter()
  lowered = fn.lower(*args)
  compiled = lowered.compile()
  return lowered, compiled, time.perf_counter() - t


def jax_impl(model, channels, o, num_seeds=0, plain_conv=False, augment=False, use_onednn=True,
             onednn_bn=True):
  """The trainer's jitted step (or the classifier's jitted eval pass).

  plain_conv: trace the ResNet with lax.conv_general_dilated as it is.
  augment: the ResNet step with the 'standard' classic augmentation.
  use_onednn: False traces it with conv_cpu's XLA-based convolutions only.
  onednn_bn: False traces it with XLA's batch norm (Flax's nn.BatchNorm).
  """
  if not (use_onednn and onednn_bn):
    with onednn.turned_off(None if not use_onednn else 'batch_norm'):
      impl = jax_impl(model, channels, o, num_seeds, plain_conv, augment)
    impl.name += ' (no oneDNN)' if not use_onednn else ' (XLA batch norm)'
    return impl
  if plain_conv:
    from medaug_jax.ops import conv_cpu  # pylint: disable=g-import-not-at-top
    with conv_cpu.as_lax():
      impl = jax_impl(model, channels, o, num_seeds)
    impl.name = 'jax (lax.conv)'
    return impl
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from medaug_jax import trainer  # pylint: disable=g-import-not-at-top

  b, k = o.batch, _block_steps(model, o)
  obj = _objective(model, channels, o, augment=augment)
  n = 4 * b  # a few batches on the device, as an epoch would have
  images, labels = _data(n, channels)
  state = obj.init(jax.random.key(0), images[:b], labels[:b])
  name = f'jax x{num_seeds} seeds' if num_seeds else 'jax'
  if augment:
    name = 'jax + classic augmentation'

  if model == 'resnet_eval':
    x = jax.device_put(images[:b])
    lowered, compiled, compile_s = _compile(jax.jit(obj.probabilities), state, x)

    def run_eval(calls):
      for _ in range(calls):
        y = compiled(state, x)
      y.block_until_ready()
    return Impl(name, run_eval, k, k * b, compile_s, _lax_flops(obj.probabilities, state, x),
                hlo=compiled.as_text())

  idx, mask = trainer.epoch_batches(jax.random.key(1), n, b)
  images, labels, key = jnp.asarray(images), jnp.asarray(labels), jax.random.key(2)
  if num_seeds:
    stack = lambda x: jnp.stack([x] * num_seeds)
    state = trainer.stack_trees([state] * num_seeds)
    images, labels, idx, mask = map(stack, (images, labels, idx, mask))
    key = jax.random.split(key, num_seeds)
  mesh = trainer.make_mesh(jax.devices()[:1])
  step_args = (state, images, labels, idx, mask, 0, key)
  lowered, compiled, compile_s = _compile(
      trainer.make_train_step(obj, mesh, num_seeds), *step_args)
  flops = _lax_flops(trainer.make_train_step(obj, mesh, num_seeds), *step_args)
  box = {'state': state, 'i': 0}

  def run_steps(calls):
    s = box['state']
    for _ in range(calls):
      s, m = compiled(s, images, labels, idx, mask, box['i'] % idx.shape[-2], key)
      box['i'] += 1
    jax.block_until_ready(m)
    box['state'] = s
  return Impl(name, run_steps, k, k * b * (num_seeds or 1), compile_s, flops,
              hlo=compiled.as_text())


def jax_epochs(model, channels, o, epochs=3):
  """Per-epoch wall time of trainer.fit on a BreastMNIST-sized set (first
  epoch: compile; the median of the rest is reported), and for generators an
  epoch as one jitted lax.scan over its steps."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from medaug_jax import trainer  # pylint: disable=g-import-not-at-top

  b, n = o.batch, BREAST_TRAIN
  steps = -(-n // b)
  obj = _objective(model, channels, o, steps_per_epoch=steps)
  images, labels = _data(n, channels)
  state = obj.init(jax.random.key(0), images[:b], labels[:b])
  mesh = trainer.make_mesh(jax.devices()[:1])
  # Placed as a run places them.
  state, images, labels = (trainer.replicate(x, mesh) for x in
                           (state, jnp.asarray(images), jnp.asarray(labels)))
  t = time.perf_counter()
  result = trainer.fit(obj, state, images, labels, phase=model, epochs=epochs, batch_size=b,
                       rng=jax.random.key_data(jax.random.key(3)), mesh=mesh, print_every=0)
  total = time.perf_counter() - t
  per = [r['epoch_s'] for r in result.history]
  out = {'model': model, 'channels': channels, 'images': n, 'steps': steps,
         'fit_first_epoch_s': per[0], 'fit_epoch_s': statistics.median(per[1:]),
         'fit_total_s': total, 'epochs': epochs, 'fit_images_per_s': n / statistics.median(per[1:])}
  if model not in RESNETS:
    out.update(_scan_epoch(obj, result.state, images, labels, n, b, epochs))
  return out


def _scan_epoch(obj, state, images, labels, n, b, epochs):
  import jax  # pylint: disable=g-import-not-at-top
  from medaug_jax import trainer  # pylint: disable=g-import-not-at-top

  def epoch(state, key):
    shuffle_key, step_key = jax.random.split(key)
    idx, mask = trainer.epoch_batches(shuffle_key, n, b)

    def body(s, i):
      return obj.train_step(s, images[idx[i]], labels[idx[i]], mask[i],
                            jax.random.fold_in(step_key, i))
    return jax.lax.scan(body, state, jax.numpy.arange(idx.shape[0]))

  f = jax.jit(epoch, donate_argnums=0)
  times = []
  for e in range(epochs):
    t = time.perf_counter()
    state, m = f(state, jax.random.fold_in(jax.random.key(4), e))
    jax.block_until_ready(m)
    times.append(time.perf_counter() - t)
  return {'scan_first_epoch_s': times[0], 'scan_epoch_s': statistics.median(times[1:])}


def jax_peak(size, dtype='float32'):
  import jax  # pylint: disable=g-import-not-at-top
  a = jax.random.normal(jax.random.key(0), (size, size)).astype(dtype)
  f = jax.jit(lambda x: x @ x)

  def matmul():
    f(a).block_until_ready()
  return _peak(matmul, size)


# --------------------------------------------------------------------------- #
# PyTorch side
# --------------------------------------------------------------------------- #

def _torch_fn(model, channels, o, device, compiled, images, labels, batches):
  """f(i) -> a tensor to wait on: the i-th train step (or eval pass) of the
  PyTorch twin of `model`; None where it has no twin."""
  if model in RESNETS:
    task = torch_twins.ResNetTask(NUM_CLASSES, channels, width=o.width, device=device,
                                  dtype=o.dtype)
    if model == 'resnet_eval':
      evaluate, x = task.eval_fn(compiled), images[:o.batch]
      return lambda i: evaluate(x)[0, 0]
    step = task.train_fn(compiled)
  else:
    twin = torch_twins.generator_twin(model, _generator_config(model, o), NUM_CLASSES,
                                      (28, 28, channels), device=device)
    if twin is None:
      return None
    step = twin.train_fn(compiled)
  return lambda i: step(images, labels, batches[i % len(batches)])


def torch_runs(model, channels, o, device):
  """Runs on the PyTorch side: ((name, steps, images), run) of torch_impls,
  each run returning its own seconds."""
  return [((i.name, i.steps, i.images), lambda calls, run=i.run: worker.timed(run, calls))
          for i in torch_impls(model, channels, o, device)]


def torch_impls(model, channels, o, device):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top

  b, k = o.batch, _block_steps(model, o)
  images_np, labels_np = _data(4 * b, channels)
  images = torch.from_numpy(images_np).to(device)
  labels = torch.from_numpy(labels_np).long().to(device)
  rs = np.random.RandomState(1)
  batches = [torch.from_numpy(rs.permutation(4 * b)[:b]).to(device) for _ in range(4)]
  sync = torch.cuda.synchronize if device != 'cpu' else (lambda: None)
  impls = []
  for compiled in (False, True) if o.torch_compile else (False,):
    torch.manual_seed(0)
    f = _torch_fn(model, channels, o, device, compiled, images, labels, batches)
    if f is None:
      print(f'{model}: no PyTorch twin', flush=True)
      return []

    def run_steps(calls, f=f):
      for i in range(calls):
        out = f(i)
      float(out.detach())  # waits for the result
      sync()
    impls.append(Impl('torch.compile' if compiled else 'torch eager', run_steps, k, k * b))
  return impls


def torch_peak(size, device, dtype='float32'):
  import torch  # pylint: disable=g-import-not-at-top
  a = torch.randn(size, size, device=device).to(getattr(torch, dtype))

  def matmul():
    a @ a  # pylint: disable=pointless-statement
    if device != 'cpu':
      torch.cuda.synchronize()
  return _peak(matmul, size)


# --------------------------------------------------------------------------- #
# The run and its report
# --------------------------------------------------------------------------- #

def run(**values):
  """Runs the benchmark with options(**values); returns the report (also
  written to <out>/bench.json and <out>/bench.md)."""
  o = options(**values)
  t_start = time.perf_counter()
  import jax  # pylint: disable=g-import-not-at-top

  use_torch = torch_twins.available() if o.torch is None else o.torch
  if use_torch and not torch_twins.available():
    raise app.UsageError('--torch asked for, but torch is not importable: '
                         'pip install .[bench]  (torch==2.13.0 is the local CPU wheel)')
  versions = {p: metadata.version(p) for p in ('jax', 'jaxlib', 'flax')}
  device = 'cpu'
  side = contextlib.nullcontext()
  if use_torch:
    side = worker.Remote() if o.torch_process else worker.InProcess()
  with side as torch_side:
    if torch_side:
      torch_versions, device = torch_side.call(
          'medaug_jax.bench.torch_twins:setup', o.torch_threads, jax.default_backend() == 'gpu')
      versions.update(torch_versions)
    return _run(o, values, t_start, versions, device, torch_side)


def _run(o, values, t_start, versions, device, torch_side):
  import jax  # pylint: disable=g-import-not-at-top
  report = {'args': vars(o), 'command': command(**values),
            'date': datetime.datetime.now().isoformat(timespec='seconds'),
            'machine': machine.info(), 'versions': versions,
            'jax_devices': ', '.join(sorted({d.device_kind for d in jax.devices()})),
            'xla_flags': os.environ.get('XLA_FLAGS', ''), 'cases': [], 'epochs': []}
  write = lambda: _write(report, o.out, time.perf_counter() - t_start)

  report['peak_gflops'] = report['peak_gflops_jax'] = jax_peak(o.peak_size, o.dtype)
  if torch_side:
    report['peak_gflops_torch'] = torch_side.call(
        'medaug_jax.bench.throughput:torch_peak', o.peak_size, device, o.dtype)
    report['peak_gflops'] = max(report['peak_gflops'], report['peak_gflops_torch'])
  print(f"peak matmul: {report['peak_gflops']:.1f} GFLOP/s", flush=True)

  for model in o.models:
    for ch in o.channels:
      impls = [jax_impl(model, ch, o)]
      if o.without_onednn and onednn.available():
        impls.append(jax_impl(model, ch, o, use_onednn=False))
      if o.without_onednn_bn and model == 'resnet_train' and onednn.available('batch_norm'):
        impls.append(jax_impl(model, ch, o, onednn_bn=False))
      if o.baseline and model == 'resnet_train':
        impls.append(jax_impl(model, ch, o, plain_conv=True))
      if o.classic and model == 'resnet_train':
        impls.append(jax_impl(model, ch, o, augment=True))
      if o.num_seeds and model != 'resnet_eval':  # seeds are vmapped in training only
        impls.append(jax_impl(model, ch, o, num_seeds=o.num_seeds))
      if torch_side:
        made = torch_side.make('medaug_jax.bench.throughput:torch_runs', model, ch, o, device)
        impls += [Impl(name, run, steps, images) for (name, steps, images), run in made]
      interleave(impls, o.repeats)
      rows = summarize(impls, report['peak_gflops'])
      report['cases'].append({'model': model, 'channels': ch, 'rows': rows})
      write()
      print(f'{model} ch={ch}: ' + ', '.join(
          f"{r['impl']} {r['images_per_s']:.1f} img/s (1st {r['first_call_s']:.1f}s)"
          for r in rows), flush=True)
  # The eval pass has no epoch: trainer.fit trains.
  epoch_models = [m for m in o.models if m != 'resnet_eval'] if o.epoch else []
  for model in epoch_models:
    for ch in o.channels:
      e = jax_epochs(model, ch, o)
      report['epochs'].append(e)
      write()
      print(f"{model} ch={ch}: fit epoch {e['fit_epoch_s']:.3f}s"
            + (f", scanned {e['scan_epoch_s']:.3f}s" if 'scan_epoch_s' in e else ''), flush=True)
  print(write())
  return report


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


def _fmt(v, spec='.1f'):
  return '-' if v is None else format(v, spec)


def _ratio(a, b):
  return f"{a['images_per_s'] / b['images_per_s']:.2f}x" if a and b else '-'


def markdown(report):
  m, v, a = report['machine'], report['versions'], report['args']
  lines = [
      f"Machine: {m.get('cpu', m.get('processor'))}, {m['cpu_count']} CPUs; "
      f"JAX devices: {report['jax_devices']}.",
      f"Versions: jax {v['jax']}, jaxlib {v['jaxlib']}, flax {v['flax']}, "
      f"torch {v.get('torch') or '-'}"
      + (' (in a process of its own)' if v.get('torch') and a.get('torch_process') else '')
      + f"; XLA_FLAGS=`{report['xla_flags'] or ''}`.",
      f"Batch {a['batch']}, 28x28; median of {a['repeats']} interleaved repeats after a "
      f"warm-up; peak (best {a['peak_size']}^2 {a.get('dtype') or 'float32'} matmul): "
      f"{report['peak_gflops']:.1f} GFLOP/s.",
      '',
      '| model | ch | JAX img/s | torch eager img/s | torch.compile img/s '
      '| JAX / eager | JAX / compile | GFLOP/step | JAX GFLOP/s | JAX % peak '
      '| JAX compile s | torch.compile 1st call s |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|']
  main_impls = ('jax', 'torch eager', 'torch.compile')
  for case in report['cases']:
    j, e, c = ({row['impl']: row for row in case['rows']}.get(k) for k in main_impls)
    j_ = j or {}
    ips = lambda x: _fmt(x['images_per_s'] if x else None)
    gf, frac = j_.get('flops_per_step'), j_.get('fraction_of_peak')
    lines.append(
        f"| {case['model']} | {case['channels']} | {ips(j)} | {ips(e)} | {ips(c)} "
        f"| {_ratio(j, e)} | {_ratio(j, c)} | {_fmt(gf / 1e9 if gf else None, '.2f')} "
        f"| {_fmt(j_.get('gflops_per_s'))} | {_fmt(100 * frac if frac else None)} "
        f"| {_fmt(j_.get('compile_s'))} | {_fmt(c['first_call_s'] if c else None)} |")
  extra = [(case, row) for case in report['cases'] for row in case['rows']
           if row['impl'] not in main_impls]
  if extra:
    lines += ['', 'Other JAX variants (vmapped seeds: images/s over all seeds):', '',
              '| model | ch | variant | img/s | vs jax | vs torch eager | vs torch.compile |',
              '|---|---|---|---|---|---|---|']
    for case, row in extra:
      r = {x['impl']: x for x in case['rows']}
      lines.append(f"| {case['model']} | {case['channels']} | {row['impl']} "
                   f"| {row['images_per_s']:.1f} | "
                   + ' | '.join(_ratio(row, r.get(k)) for k in main_impls) + ' |')
  if report['epochs']:
    lines += ['', f'Per-epoch wall time, trainer.fit on {BREAST_TRAIN} images '
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


def _write(report, out, total_s):
  """(Re)writes bench.json and bench.md; called after every case, so a run
  cut short still leaves what it measured."""
  report['total_s'] = total_s
  with contextlib.suppress(OSError):
    report['machine']['loadavg_end'] = os.getloadavg()
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'bench.json'), 'w') as f:
    json.dump(report, f, indent=1, default=str)
  md = markdown(report)
  with open(os.path.join(out, 'bench.md'), 'w') as f:
    f.write(md)
  return md
