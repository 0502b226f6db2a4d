"""Convolutions made fast on XLA:CPU, the same numbers as lax everywhere.

On a 2-core CPU XLA's library convolutions reach about half the machine's
matmul speed on wide 28x28 maps, and its kernel gradient is a convolution
whose window is the whole feature map (3-4x slower than the same FLOPs as
dots), so wide layers run as matmuls (Winograd or im2col); layers with few
output channels keep XLA's convolution, which wins there. On x86-64 Linux,
oneDNN's direct convolutions (ops/onednn.py) beat all of these on most
layers and take them (cpu_impl).
conv_general_dilated keeps lax's signature, so Flax's nn.Conv takes it as its
`conv_general_dilated`; GPU and TPU keep XLA's convolutions. BENCHMARKS.md
has the per-layer figures.
"""

import contextlib

import jax
import jax.numpy as jnp
from jax import lax

from medaug_jax.ops import onednn

_DIMS = ('NHWC', 'HWIO', 'NHWC')
# Measured on a 2-core AVX-512 Xeon (BENCHMARKS.md, "Thin layers"): below
# this many input channels (a stem: 1 or 3) the im2col matmul beat XLA's
# convolution 2-4x per layer; with at least that many inputs and at most
# _LIBRARY_MAX_OUT_CHANNELS outputs, XLA's own convolution won: up to 1.5x per
# layer on 1- and 3-channel image heads, 1.1-1.3x on the whole step of a
# 16-wide UNet. Winograd tiles and im2col patches cost memory passes over
# the wide input for a matmul with few columns.
_MATMUL_MIN_IN_CHANNELS = 16
_LIBRARY_MAX_OUT_CHANNELS = 16
# oneDNN's direct 3x3 stride-1 conv lost to Winograd F(2x2, 3x3) on the
# ResNet's 4x4x512 layer (forward+backward at batch 128, 190 against 400
# GFLOP/s, results/bench_cpu_own_process_2026-11-27/layers.md, from
# `python -m medaug_jax.bench.layers --impls=ours,onednn,winograd,torch`):
# few pixels, and a 9.4 MB kernel reordered on every call. On the other
# ResNet layers oneDNN won or tied.
_ONEDNN_MIN_STRIDE1_PIXELS = 16
# upsample_conv3x3's four phases as one conv of 4x the outputs: 4.3x faster
# forward+backward for a 1- or 3-channel head (14x14x64 -> 28x28, oneDNN, batch
# 128), but 0.82-1.27x, mostly slower, from 16 outputs up, in repeated runs
# (results/bench_cpu_fused_2026-11-28/layers_fused.log).
_PHASES_AS_ONE_MAX_OUT_CHANNELS = 16


# Non-empty inside as_lax().
_AS_LAX = []


@contextlib.contextmanager
def as_lax():
  """Convolutions traced inside are lax's direct ones, upsampling ones on the
  upsampled map: the benchmarks count a step's FLOPs on them, so that every
  implementation (and the PyTorch twin) is credited the same work, not
  Winograd's or the sub-pixel form's fewer multiplies or a custom call's none."""
  _AS_LAX.append(True)
  try:
    yield
  finally:
    _AS_LAX.pop()


def _xla_conv(x, w, strides, pads):
  return lax.conv_general_dilated(x, w, strides, pads, dimension_numbers=_DIMS)


def _taps(x, kernel_hw, strides, pads):
  """The kh*kw shifted (strided) views of padded x that a conv multiplies."""
  (kh, kw), (sh, sw) = kernel_hw, strides
  xp = jnp.pad(x, ((0, 0),) + pads + ((0, 0),))
  ho = (xp.shape[1] - kh) // sh + 1
  wo = (xp.shape[2] - kw) // sw + 1
  return [xp[:, i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw, :]
          for i in range(kh) for j in range(kw)]


def _conv_as_matmul(x, w, strides, pads):
  """The conv as one matmul over im2col patches, differentiated by autodiff.

  On XLA:CPU matmuls run near the machine's peak while the library
  convolutions reach about half of it on 28x28 maps (BENCHMARKS.md); the
  patches cost kh*kw times the activation's memory.
  """
  taps = _taps(x, w.shape[:2], strides, pads)
  p = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)
  y = lax.dot_general(p.reshape(-1, p.shape[-1]), w.reshape(-1, w.shape[-1]).astype(p.dtype),
                      (((1,), (0,)), ((), ())), preferred_element_type=jnp.float32)
  return y.reshape(p.shape[:3] + w.shape[-1:]).astype(x.dtype)


# Winograd F(2x2, 3x3): B^T, G and A^T as coefficient rows: the transforms are sums of strided
# views, written out so XLA fuses them into elementwise loops instead of
# running 4x4 matmuls.
_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_G = ((1, 0, 0), (.5, .5, .5), (.5, -.5, .5), (0, 0, 1))
_AT = ((1, 1, 1, 0), (0, 1, -1, -1))
_F2 = (_BT, _G, _AT)
# Winograd F(4x4, 3x3) (Lavin & Gray 2016), interpolation points 0, +-1, +-2
# and infinity: 6x6 input tiles, 36 products per 4x4 output tile.
_F4 = (((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
        (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
       ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
        (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
       ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0),
        (0, 1, -1, 8, -8, 1)))


def _combine(coeffs, terms):
  """sum(c * t) over the nonzero coefficients, with no multiply for +-1."""
  out = None
  for c, t in zip(coeffs, terms):
    if c:
      t = t if c == 1 else -t if c == -1 else c * t
      out = t if out is None else out + t
  return out


def _transform(matrix, views):
  return [_combine(row, views) for row in matrix]


def _tiles(hw, m=2):
  return -(-hw[0] // m), -(-hw[1] // m)


def _input_tiles(x, f=_F2):
  """B^T d B of every a x a tile (stride m) of x padded by 1: a*a [N*th*tw, C].

  (a, m) is (4, 2) for F(2x2, 3x3) and (6, 4) for F(4x4, 3x3). Tile (i, j)
  starts at padded pixel (m*i, m*j), so row k of every tile is the strided
  view xp[m*i + k]: the transforms run on whole views, never on gathered
  tiles. Kept as a*a arrays, not stacked: XLA:CPU writes each in its own
  fusion, and stacking them for one batched dot costs a further copy of
  (a/m)^2 times the activation.
  """
  bt, _, at = f
  a, m = len(bt), len(at)
  n, h, w, c = x.shape
  th, tw = _tiles((h, w), m)
  # Maps that are not a multiple of m: zero rows/columns make whole last
  # tiles, cropped by _output.
  xp = jnp.pad(x, ((0, 0), (1, m * th - h + 1), (1, m * tw - w + 1), (0, 0)))
  rows = _transform(bt, [xp[:, k:k + m * (th - 1) + 1:m] for k in range(a)])
  return [v.reshape(-1, c) for r in rows
          for v in _transform(bt, [r[:, :, k:k + m * (tw - 1) + 1:m] for k in range(a)])]


def _filter(w, f=_F2):
  """G g G^T of the HWIO kernel: a*a [Cin, Cout]."""
  g = f[1]
  rows = _transform(g, [w[k] for k in range(3)])
  return [v for r in rows for v in _transform(g, [r[k] for k in range(3)])]


def _output(ms, shape, f=_F2):
  """A^T m A of the a*a [N*th*tw, Cout] products, tiles interleaved: NHWC."""
  _, _, at = f
  a, m = len(at[0]), len(at)
  n, h, w = shape
  th, tw = _tiles((h, w), m)
  ms = [p.reshape(n, th, tw, -1) for p in ms]
  rows = [_transform(at, [ms[a * k + l] for k in range(a)]) for l in range(a)]
  quads = [_transform(at, [rows[l][r] for l in range(a)]) for r in range(m)]
  # quads[r][c][:, i, j] is output pixel (m*i + r, m*j + c).
  y = jnp.stack([jnp.stack(q, axis=3) for q in quads], axis=2)
  return y.reshape(n, m * th, m * tw, -1)[:, :h, :w]


def _matmuls(vs, us):
  return [lax.dot_general(v, u.astype(v.dtype), (((1,), (0,)), ((), ())),
                          preferred_element_type=jnp.float32) for v, u in zip(vs, us)]


def winograd_conv3x3(x, w):
  """The stride-1, padding-1 NHWC/HWIO 3x3 conv as Winograd F(2x2, 3x3).

  Each 2x2 output tile comes from a 4x4 input tile (Lavin & Gray 2016): after
  small linear transforms of input and kernel, the 16 positions of a
  transformed tile are 16 independent [tiles, Cin] x [Cin, Cout] matmuls,
  which XLA:CPU sends to its matmul library. 16 multiplies per 4 outputs
  instead of 36: 2.25x fewer matmul FLOPs than im2col, and the transformed
  input is 4x the activation rather than im2col's 9x. Autodiff gives the
  backward pass (the same matmuls transposed); a custom VJP (input gradient
  as a Winograd conv of the flipped kernel, weight gradient from the saved
  tiles) was no faster at any map size.
  """
  vs = _input_tiles(x)
  return _output(_matmuls(vs, _filter(w)), x.shape[:3]).astype(x.dtype)


def winograd_f4_conv3x3(x, w):
  """The same conv as Winograd F(4x4, 3x3): 6x6 input tiles, 36 matmuls.

  36 multiplies per 16 outputs instead of 144 (4x fewer than im2col, against
  F(2x2)'s 2.25x), and a transformed input of 2.25x the activation; the
  transforms have more terms, and F(4x4)'s larger coefficients (up to 8 in
  A^T, 1/24 in G) cost float32 accuracy (tests/test_winograd.py).
  Autodiff gives the backward pass. The ResNet does not use it: no faster
  than F(2x2) on the train step (BENCHMARKS.md, "Tried and not kept"); the
  layer benchmark times it.
  """
  vs = _input_tiles(x, _F4)
  return _output(_matmuls(vs, _filter(w, _F4)), x.shape[:3], _F4).astype(x.dtype)


def cpu_impl(w_shape, strides, pads, x_shape=None, dtype=jnp.float32):
  """Which CPU convolution runs a conv: 'onednn', 'winograd', 'im2col' or 'lax'
  ('lax' for all inside as_lax()).

  oneDNN's direct convolutions take every conv they win (all but 3x3
  stride-1 convs of maps of 4x4 or less, where Winograd's matmuls win) where
  onednn.runs (float32, or bfloat16 on CPUs with bfloat16 arithmetic; one CPU
  device). Without x_shape the choice is among the others.

  Winograd F(2x2, 3x3) takes every 3x3 stride-1 'SAME' conv with at least 16
  inputs and more than 16 outputs (the ResNet's stride-1 layers: 1.6-2.3x
  faster forward, 1.3-1.8x forward+backward than im2col; 2.25x fewer matmul
  FLOPs, and 4x the activation in transformed tiles instead of 9x in
  patches). XLA's own convolution takes the layers with few outputs, im2col
  the rest (strided, 1x1, 4x4 and the thin stems). BENCHMARKS.md has the
  per-layer figures.
  """
  cin, cout = w_shape[2:]
  if _AS_LAX:
    return 'lax'
  if (x_shape is not None and onednn.runs(dtype, 'conv')
      and not (tuple(w_shape[:2]) == (3, 3) and strides == (1, 1)
               and x_shape[1] * x_shape[2] <= _ONEDNN_MIN_STRIDE1_PIXELS)):
    return 'onednn'
  if cin >= _MATMUL_MIN_IN_CHANNELS and cout <= _LIBRARY_MAX_OUT_CHANNELS:
    return 'lax'
  if (tuple(w_shape[:2]) == (3, 3) and strides == (1, 1) and pads == ((1, 1), (1, 1))
      and cin >= _MATMUL_MIN_IN_CHANNELS):
    return 'winograd'
  return 'im2col'


def _cpu_conv(x, w, strides, pads):
  # Mixed operand types stay with lax, which promotes them.
  impl = cpu_impl(w.shape, strides, pads, x.shape, x.dtype if x.dtype == w.dtype else None)
  if impl == 'onednn':
    return onednn.conv(x, w, strides, pads)
  if impl == 'winograd':
    if x.dtype == jnp.bfloat16:
      # XLA:CPU's bfloat16 matmuls are slower than its float32 ones, and
      # oneDNN's bfloat16 kernels on these 4x4 maps slower than both: the
      # bfloat16 train step ran 15% faster this way (BENCHMARKS.md,
      # "bfloat16 on oneDNN").
      return winograd_conv3x3(x.astype(jnp.float32), w.astype(jnp.float32)).astype(x.dtype)
    return winograd_conv3x3(x, w)
  if impl == 'im2col':
    return _conv_as_matmul(x, w, strides, pads)
  return _xla_conv(x, w, strides, pads)


def _plain(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
           precision, kwargs):
  """Whether a conv is the NHWC/HWIO kind without dilation or groups that
  this module's own convolutions compute."""
  return (lhs.ndim == 4 and feature_group_count == 1 and precision is None
          and not kwargs and all(d == 1 for d in (lhs_dilation or (1,)))
          and all(d == 1 for d in (rhs_dilation or (1,)))
          and dimension_numbers is not None
          and tuple(lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers))
          == tuple(lax.conv_dimension_numbers(lhs.shape, rhs.shape, _DIMS)))


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, precision=None, **kwargs):
  """lax.conv_general_dilated, made fast on XLA:CPU.

  A plain NHWC conv runs on CPU as Winograd matmuls, an im2col matmul or
  XLA's convolution, whichever measured fastest for its shape (cpu_impl);
  GPU and TPU keep XLA's convolutions. Anything else goes to lax unchanged.
  """
  if not _plain(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers,
                feature_group_count, precision, kwargs):
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers, feature_group_count, precision=precision, **kwargs)
  strides = tuple(window_strides)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], strides, padding)
  pads = tuple(tuple(p) for p in padding)
  # Picked when traced, for the default backend (where this project's meshes
  # live), not by lax.platform_dependent: differentiating through its cond
  # linearises the traced branches a second time: the ResNet-18 train step
  # traced in 6.7 s instead of 2.7 s, before every compilation (BENCHMARKS.md).
  # Jitted onto another backend's devices, a conv is still right, only
  # not the fast kind for them.
  if jax.default_backend() == 'cpu':
    return _cpu_conv(lhs, rhs, strides, pads)
  return _xla_conv(lhs, rhs, strides, pads)


def upsample(x):
  """Nearest-neighbour 2x upsampling of NHWC maps.

  The same values as jax.image.resize(..., 'nearest'), as a broadcast: its
  gradient is a sum over each 2x2 block instead of resize's scatter, which
  XLA:CPU runs as a slow serial loop.
  """
  b, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
  return x.reshape(b, 2 * h, 2 * w, c)


def _phase_taps(w, axis):
  """A 3-tap kernel axis as the two output phases of a nearest 2x upsampling
  see it: the even outputs read input rows (i - 1, i) with taps (w0, w1 + w2),
  the odd ones rows (i, i + 1) with (w0 + w1, w2)."""
  w0, w1, w2 = jnp.split(w, 3, axis=axis)
  return jnp.concatenate([w0, w1 + w2], axis), jnp.concatenate([w0 + w1, w2], axis)


def upsample_conv3x3(x, w):
  """The 3x3 'SAME' stride-1 conv of upsample(x), as four 2x2 convs of x
  itself, one per output phase (a resize-convolution in sub-pixel form).

  4 multiply-adds per output pixel and channel pair instead of 9: 2.25x
  fewer, and the 4x upsampled input is never written out. On a 2-core AVX-512 Xeon its forward+backward ran 1.8-3.1x faster
  than the direct conv at the convolutional generators' shapes with oneDNN,
  1.2-3.1x with XLA's convolutions (BENCHMARKS.md, "Upsampling convolutions
  as four 2x2 ones"). The kernel is the same 3x3 one (its gradient flows
  back through the tap sums); values agree with the direct conv to float
  rounding.

  With fewer than _PHASES_AS_ONE_MAX_OUT_CHANNELS outputs (an image head)
  the four phases run as one conv instead: their kernels side by side as 4x
  the output channels over x padded by one pixel on every side, each phase
  then cut from that (H+1)x(W+1) map.
  """
  rows = _phase_taps(w, 0)
  kernels = [c for a in (0, 1) for c in _phase_taps(rows[a], 1)]  # phase (a, b) at 2a + b
  n, h, w_, _ = x.shape
  o = w.shape[-1]
  if o < _PHASES_AS_ONE_MAX_OUT_CHANNELS:
    # Phase (a, b) reads input rows (i - 1 + a, i + a), columns likewise:
    # output (i + a, j + b) of the conv padded by one on every side.
    full = _cpu_conv(x, jnp.concatenate(kernels, axis=-1), (1, 1), ((1, 1), (1, 1)))
    full = full.reshape(n, h + 1, w_ + 1, 2, 2, o)
    phase = lambda a, b: full[:, a:a + h, b:b + w_, a, b]
  else:
    # Padding on the side a phase reaches past the map: the upsampled map's
    # own zero border, one input pixel wide.
    phase = lambda a, b: _cpu_conv(x, kernels[2 * a + b], (1, 1), ((1 - a, a), (1 - b, b)))
  y = jnp.stack([jnp.stack([phase(a, b) for b in (0, 1)], axis=3) for a in (0, 1)],
                axis=2)  # [N, H, 2, W, 2, O]: output row 2i + a, column 2j + b
  return y.reshape(n, 2 * h, 2 * w_, o)


def upsample_conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                                  rhs_dilation=None, dimension_numbers=None,
                                  feature_group_count=1, precision=None, **kwargs):
  """conv_general_dilated of lhs upsampled 2x (nearest neighbour): for
  nn.Conv's `conv_general_dilated`, a convolution that upsamples its input.

  On CPU a 3x3 'SAME' stride-1 conv runs as upsample_conv3x3; anything else
  (and GPU/TPU, where the sub-pixel form is unmeasured) convolves the
  upsampled map.
  """
  strides = tuple(window_strides)
  pads = padding
  if isinstance(padding, str):
    pads = lax.padtype_to_pads((2 * lhs.shape[1], 2 * lhs.shape[2]), rhs.shape[:2], strides,
                               padding)
  if (jax.default_backend() == 'cpu' and not _AS_LAX and tuple(rhs.shape[:2]) == (3, 3)
      and strides == (1, 1)
      and tuple(tuple(p) for p in pads) == ((1, 1), (1, 1))
      and _plain(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers,
                 feature_group_count, precision, kwargs)):
    return upsample_conv3x3(lhs, rhs)
  return conv_general_dilated(upsample(lhs), rhs, window_strides, padding, lhs_dilation,
                              rhs_dilation, dimension_numbers, feature_group_count,
                              precision, **kwargs)
