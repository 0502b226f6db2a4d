"""Where a step's time goes on XLA:CPU: jax.profiler's per-op times, summed by kind.

  python -m medaug_jax.bench.profile                            # the ResNet-18 train step
  python -m medaug_jax.bench.profile --model=cvae_conv --channels=3
  python -m medaug_jax.bench.profile --noconv                   # convolutions swapped out
  python -m medaug_jax.bench.profile --by=layer                 # by Flax module and pass
  python -m medaug_jax.bench.profile --by=layer --noonednn_bn   # with Flax's batch norm
  python -m medaug_jax.bench.profile --layer=28,64              # one Winograd conv, fwd

Runs the benchmark's step (bench.throughput.jax_impl: the trainer's jitted
step, batch 128) a few times, then `--steps` more under jax.profiler, and
prints the wall time per step and, per kind of XLA op (its name without the
numeric suffix: `ynn_fusion` is a YNNPACK matmul, `dot` XLA's own, the other
`*_fusion` elementwise loops), the milliseconds of thread time per step and
the count. Thread time, not wall: the thunk executor runs independent ops on
both cores at once, so the kinds add up to more than a step.

--by=layer groups the ops instead by the Flax module their HLO metadata
names and by pass (`_MaskedBatchNorm (backward)`), and custom calls by their
target (`medaug_onednn_batch_norm_forward_v1`).
--noconv swaps every convolution for a strided slice of the same output
shape, which leaves what the network spends outside its convolutions.
--layer=HW,C profiles the forward of one stride-1 HWxHW C->C Winograd
convolution instead of a step (the transform fusions against the matmuls).
"""
import collections
import contextlib
import glob
import gzip
import json
import re
import tempfile
import time

from absl import app, flags

from medaug_jax import hostmem
# Its flags (--channels, --width, ...) are defined on import; --channels is used here.
from medaug_jax.bench import throughput

FLAGS = flags.FLAGS


def op_kinds(trace_events, labels=None):
  """{kind: (total microseconds, count)} of the XLA ops in a Chrome trace.

  The kind is the op's name without its numeric suffix, or labels[name]
  where labels (op_labels) has it.
  """
  kinds = collections.defaultdict(lambda: [0.0, 0])
  for e in trace_events:
    name = e.get('name', '')
    if e.get('ph') != 'X' or not _is_op(name):
      continue
    k = kinds[(labels or {}).get(name) or re.sub(r'\.\d+$', '', name)]
    k[0] += e['dur']
    k[1] += 1
  return {k: tuple(v) for k, v in kinds.items()}


def op_labels(hlo_text):
  """{op name: label} from a compiled program's HLO text: a custom call's
  target, else the innermost Flax module in its metadata and the pass
  ('backward' inside a transpose), else 'other'."""
  labels = {}
  for line in hlo_text.splitlines():
    op = re.match(r'\s*(?:ROOT )?%([\w.\-]+) = ', line)
    if not op:
      continue
    target = re.search(r'custom_call_target="(\w+)"', line)
    where = re.search(r'op_name="([^"]+)"', line)
    if target:
      labels[op.group(1)] = target.group(1)
    elif where:
      modules = re.findall(r'/(_?[A-Z]\w*?)_\d+(?=/)', where.group(1))
      labels[op.group(1)] = (f"{modules[-1]} ({'backward' if 'transpose(' in where.group(1) else 'forward'})"
                             if modules else 'other')
  return labels


def _is_op(name):
  # Runtime bookkeeping (executor, thread pool, Python frames) is not an op.
  return not (name.startswith(('$', 'end:')) or any(
      w in name for w in ('Thunk', 'Slinky', 'Threadpool', 'PjRt', 'Pjrt', 'Pjit', 'Python',
                          'Wait for', 'Handle input', 'ParseArguments', 'Allocate')))


def _strided_slice_conv(lhs, rhs, window_strides, *_, **__):
  """A conv's output shape (NHWC/HWIO, padding as the models use) for no arithmetic."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  s = window_strides[0]
  y = lhs[:, ::s, ::s, :] * rhs[0, 0, 0, 0]
  cin, cout = lhs.shape[-1], rhs.shape[-1]
  reps = -(-cout // cin)
  return jnp.concatenate([y] * reps, -1)[..., :cout] if reps > 1 else y[..., :cout]


def _layer_fn(hw, c):
  import jax  # pylint: disable=g-import-not-at-top
  from medaug_jax.ops import conv_cpu  # pylint: disable=g-import-not-at-top
  x = jax.random.normal(jax.random.key(0), (128, hw, hw, c))
  w = jax.random.normal(jax.random.key(1), (3, 3, c, c)) * 0.05
  f = jax.jit(conv_cpu.winograd_conv3x3)
  return lambda calls: [jax.block_until_ready(f(x, w)) for _ in range(calls)]


def _step_fn(model, channels, conv, onednn_bn=True):
  """(run, the compiled step's HLO text)."""
  o = throughput.options(models=[model], channels=[channels], dtype=FLAGS.dtype,
                         width=FLAGS.width, batch=FLAGS.batch)
  with contextlib.nullcontext() if conv else throughput.convolutions(_strided_slice_conv):
    impl = throughput.jax_impl(model, channels, o, onednn_bn=onednn_bn)
  return impl.run, impl.hlo


def profile(run, steps=2, labels=None):
  """(seconds per step, op_kinds per step) of run(calls), warmed up first."""
  import jax  # pylint: disable=g-import-not-at-top
  run(2)
  t = time.perf_counter()
  run(steps)
  wall = (time.perf_counter() - t) / steps
  with tempfile.TemporaryDirectory() as d:
    jax.profiler.start_trace(d)
    run(steps)
    jax.profiler.stop_trace()
    with gzip.open(glob.glob(f'{d}/**/*.trace.json.gz', recursive=True)[0]) as f:
      events = json.load(f)['traceEvents']
  return wall, {k: (us / steps, n / steps) for k, (us, n) in op_kinds(events, labels).items()}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  hostmem.keep_freed_memory()
  if FLAGS.layer:
    hw, c = map(int, FLAGS.layer)
    what, run, hlo = f'Winograd conv {hw}x{hw} {c}->{c}, forward', _layer_fn(hw, c), ''
  else:
    channels = int(FLAGS.channels[0])
    what = f'{FLAGS.model} step, {channels} channel(s)' + ('' if FLAGS.conv else ', no convolutions')
    run, hlo = _step_fn(FLAGS.model, channels, FLAGS.conv, FLAGS.onednn_bn)
  labels = op_labels(hlo) if FLAGS.by == 'layer' else None
  wall, kinds = profile(run, FLAGS.steps, labels)
  print(f'{what}: {wall * 1e3:.1f} ms a step (wall)\n')
  head = 'op kind' if labels is None else 'module (pass) or custom call'
  print(f'| {head} | ms a step (thread time) | ops a step |\n|---|---|---|')
  for k, (us, n) in sorted(kinds.items(), key=lambda kv: -kv[1][0])[:FLAGS.top]:
    print(f'| {k} | {us / 1e3:.1f} | {n:g} |')
  print(f'| (all) | {sum(us for us, _ in kinds.values()) / 1e3:.1f} | |')


if __name__ == '__main__':
  # Defined here, not on import (tests import this module beside others' flags).
  flags.DEFINE_enum('model', 'resnet_train', list(throughput.MODELS), 'The step to profile.')
  flags.DEFINE_integer('steps', 2, 'Steps traced.')
  flags.DEFINE_bool('conv', True, 'Keep the convolutions (--noconv: strided slices instead).')
  flags.DEFINE_bool('onednn_bn', True, "oneDNN's batch norm where it runs (--noonednn_bn: "
                    "Flax's).")
  flags.DEFINE_list('layer', [], 'HW,C: profile one Winograd conv forward instead.')
  flags.DEFINE_integer('top', 25, 'Kinds of op shown.')
  flags.DEFINE_enum('by', 'kind', ['kind', 'layer'], 'Group ops by their kind, or by the '
                    'Flax module (and pass) or custom call they belong to.')
  app.run(main)
