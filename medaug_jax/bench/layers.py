"""Per-layer convolution throughput: where the ResNet-18 step spends its time.

  python -m medaug_jax.bench.layers                 # batch 128, ResNet-18 (28) layers
  python -m medaug_jax.bench.layers --notorch
  python -m medaug_jax.bench.layers --impls=im2col,winograd,winograd_f4
  python -m medaug_jax.bench.layers --layers=thin  # stems, image heads, 16-wide layers

For each distinct 3x3 conv of the ResNet-18 at width 64 it times, interleaved
after a warm-up, the forward and forward+backward (gradients for input and
kernel) of lax.conv_general_dilated, of our ops.conv_cpu.conv_general_dilated
(on CPU: the implementation it picks for the layer), of oneDNN's direct
convolution (ops/onednn.py, where available), of its im2col matmul, Winograd
F(2x2, 3x3) and F(4x4, 3x3) convolutions alone (the last two on stride-1 layers)
and of torch's conv2d where torch is installed, and prints
GFLOP/s (the conv's own FLOPs, 3x for forward+backward) as a Markdown table. The evidence behind the choices in ops/conv_cpu.py (BENCHMARKS.md).
"""
import contextlib
import functools
import os
import statistics

from absl import app, flags

from medaug_jax import hostmem
from medaug_jax.bench import torch_twins, worker

FLAGS = flags.FLAGS

# (input size, in channels, out channels, stride) of the 3x3 convs after the stem.
LAYERS = ((28, 64, 64, 1), (28, 64, 128, 2), (14, 128, 128, 1), (14, 128, 256, 2),
          (7, 256, 256, 1), (7, 256, 512, 2), (4, 512, 512, 1))
# Thin 3x3 layers (--layers=thin): the ResNet's stems, 16-wide UNet layers
# (configs/diffusion_cpu.py) and the generators' last layers (cvae_conv's
# decoder, dcgan's image head), where ops.conv_cpu.cpu_impl leaves Winograd.
THIN_LAYERS = ((28, 1, 64, 1), (28, 3, 64, 1), (28, 16, 16, 1), (28, 32, 16, 1),
               (14, 64, 32, 1), (28, 32, 1, 1), (28, 64, 3, 1))
LAYER_SETS = {'resnet': LAYERS, 'thin': THIN_LAYERS}


def _jax_fns(conv, stride):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def apply(x, w):
    # Padded as the ResNet's (and torch's) padding=1.
    return conv(x, w, (stride, stride), ((1, 1), (1, 1)),
                dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

  fwd = jax.jit(apply)
  grad = jax.jit(jax.grad(lambda x, w: jnp.sum(apply(x, w) ** 2), argnums=(0, 1)))
  return (lambda x, w: jax.block_until_ready(fwd(x, w)),
          lambda x, w: jax.block_until_ready(grad(x, w)))


def torch_fns(x, w, stride):
  """On the PyTorch side (bench/worker.py): ('fwd', f), ('grad', f), the
  conv2d of NHWC x and HWIO w, forward and forward+backward; each f returns
  its own seconds (timed there, without the round trip to that process)."""
  import torch  # pylint: disable=g-import-not-at-top
  tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_()
  tw = torch.from_numpy(w.transpose(3, 2, 0, 1).copy()).requires_grad_()
  conv = functools.partial(torch.nn.functional.conv2d, stride=stride, padding=1)

  def fwd():
    with torch.no_grad():
      conv(tx, tw)

  def grad():
    (conv(tx, tw) ** 2).sum().backward()
  return [(k, functools.partial(worker.timed, f)) for k, f in (('fwd', fwd), ('grad', grad))]


IMPLS = ('lax', 'ours', 'onednn', 'im2col', 'winograd', 'winograd_f4', 'torch')


def _only(fn):
  # The padding and dimension arguments are the ones _jax_fns passes.
  return lambda x, w, *_, **__: fn(x, w)


def run(batch=128, repeats=5, use_torch=True, layers=LAYERS, impls=IMPLS):
  """Rows of GFLOP/s per layer; torch's column in a process of its own."""
  side = worker.Remote() if use_torch and 'torch' in impls else contextlib.nullcontext()
  with side as torch_side:
    if torch_side:
      torch_side.call('medaug_jax.bench.torch_twins:setup', os.cpu_count() or 1)
    return _run(batch, repeats, torch_side, layers, impls)


def _run(batch, repeats, torch_side, layers, impls):
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jax import lax  # pylint: disable=g-import-not-at-top
  from medaug_jax.ops import conv_cpu, onednn  # pylint: disable=g-import-not-at-top
  rows = []
  for hw, cin, cout, s in layers:
    rs = np.random.RandomState(0)
    x = rs.standard_normal((batch, hw, hw, cin)).astype(np.float32)
    w = (rs.standard_normal((3, 3, cin, cout)) * 0.05).astype(np.float32)
    on_device = (jax.device_put(x), jax.device_put(w))
    im2col = functools.partial(conv_cpu._conv_as_matmul, strides=(s, s), pads=((1, 1), (1, 1)))  # pylint: disable=protected-access
    cands = {'lax': (_jax_fns(lax.conv_general_dilated, s), on_device),
             'ours': (_jax_fns(conv_cpu.conv_general_dilated, s), on_device),
             'im2col': (_jax_fns(_only(im2col), s), on_device)}
    if onednn.available():
      cands['onednn'] = (_jax_fns(_only(functools.partial(
          onednn.conv, strides=(s, s), pads=((1, 1), (1, 1)))), s), on_device)
    if s == 1 and cin >= 16:  # Winograd's tiles need no fewer inputs than that
      cands['winograd'] = (_jax_fns(_only(conv_cpu.winograd_conv3x3), s), on_device)
      cands['winograd_f4'] = (_jax_fns(_only(conv_cpu.winograd_f4_conv3x3), s), on_device)
    if torch_side:
      cands['torch'] = (tuple(run for _, run in torch_side.make(
          'medaug_jax.bench.layers:torch_fns', x, w, s)), ())
    timed = {n: cands[n] for n in IMPLS if n in cands and n in impls}
    times = {(n, k): [] for n in timed for k in ('fwd', 'grad')}
    for _ in range(repeats + 1):  # the first round warms up (compiles)
      for n, (fns, a) in timed.items():
        for k, f in zip(('fwd', 'grad'), fns):
          times[(n, k)].append(worker.timed(f, *a))
    ho = -(-hw // s)
    gflop = 2 * batch * ho * ho * 9 * cin * cout / 1e9
    row = {'layer': f'{hw}x{hw} {cin}->{cout} s{s}', 'gflop_fwd': gflop}
    for (n, k), ts in times.items():
      row[f'{n} {k}'] = gflop * (1 if k == 'fwd' else 3) / statistics.median(ts[1:])
    rows.append(row)
    print(' | '.join(f'{v:.1f}' if isinstance(v, float) else v for v in row.values()), flush=True)
  return rows


def markdown(rows):
  cols = list(dict.fromkeys(c for r in rows for c in r if c not in ('layer', 'gflop_fwd')))
  out = ['| layer | ' + ' | '.join(c.replace(' grad', ' fwd+bwd') for c in cols) + ' |',
         '|---' * (len(cols) + 1) + '|']
  out += ['| ' + r['layer'] + ' | ' + ' | '.join(f'{r[c]:.0f}' if c in r else '-' for c in cols) + ' |' for r in rows]
  return '\n'.join(out)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if set(FLAGS.impls) - set(IMPLS):
    raise app.UsageError(f'--impls: unknown {sorted(set(FLAGS.impls) - set(IMPLS))}, not in {IMPLS}')
  hostmem.keep_freed_memory()
  use_torch = torch_twins.available() if FLAGS.torch is None else FLAGS.torch
  rows = run(FLAGS.batch, FLAGS.repeats, use_torch, LAYER_SETS[FLAGS.layers], FLAGS.impls)
  print('\nGFLOP/s (median of repeats):\n' + markdown(rows))


if __name__ == '__main__':
  # Defined here, not on import: the throughput benchmark, which tests import
  # beside run() and markdown(), has flags of the same names.
  flags.DEFINE_integer('batch', 128, 'Batch size.')
  flags.DEFINE_integer('repeats', 5, 'Timed repeats (after one warm-up round).')
  flags.DEFINE_bool('torch', None, 'torch conv2d columns (default: when torch is importable).')
  flags.DEFINE_list('impls', list(IMPLS), 'Which implementations to time (columns, in this order).')
  flags.DEFINE_enum('layers', 'resnet', list(LAYER_SETS),
                    "The ResNet-18's 3x3 layers, or thin ones (stems, image heads).")
  app.run(main)
