"""oneDNN's convolutions and batch norm inside jitted JAX programs on x86 CPUs.

XLA:CPU's convolutions, and the matmul rewrites of them in conv_cpu, spend
their time in memory passes (patches, Winograd tiles) on a machine with
~20 GB/s; oneDNN's JIT kernels, the ones torch runs on the same CPU, do not.
onednn.cc wraps its forward, input-gradient and kernel-gradient convolution
primitives as XLA FFI custom calls; `conv` joins them with custom VJPs. Its
training-mode batch norm (`batch_norm`) replaces XLA's, which writes the
masked activation out whole before a library reduction reads it back. The
same compiled wrapper holds a hand-written group norm with its activation
(`group_norm`, float32 or bfloat16): oneDNN 3.2 has none, and XLA:CPU runs
Flax's as a dozen passes over the activation.

The library comes from PyPI (onednn-cpu-gomp, and its headers from
onednn-devel-cpu-gomp, both x86-64 Linux); the wrapper is compiled with the
system's C++ compiler on first use, about 5 s, and kept in
$MEDAUG_JAX_ONEDNN_CACHE or ~/.cache/medaug_jax/onednn (per source, JAX and
oneDNN version, and compiler flags). Where any of that is missing,
`unavailable_reason()` says why, and conv_cpu keeps its own convolutions (one
warning in the log).
MEDAUG_JAX_ONEDNN=off turns it off.
"""

import contextlib
import ctypes
import functools
import hashlib
import importlib.metadata
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from medaug_jax.files import user_cache

_SOURCE = pathlib.Path(__file__).with_name('onednn.cc')
# Versioned: programs in JAX's persistent compilation cache name their
# custom calls, and a changed ABI must not meet an old program.
_TARGETS = {'forward': 'medaug_onednn_conv_forward_v2',
            'input_grad': 'medaug_onednn_conv_input_grad_v2',
            'kernel_grad': 'medaug_onednn_conv_kernel_grad_v2',
            'bn_forward': 'medaug_onednn_batch_norm_forward_v2',
            'bn_backward': 'medaug_onednn_batch_norm_backward_v2',
            'bn_relu_forward': 'medaug_onednn_batch_norm_relu_forward_v2',
            'bn_relu_backward': 'medaug_onednn_batch_norm_relu_backward_v2',
            'bias': 'medaug_onednn_conv_bias_v2',
            'bias_add': 'medaug_onednn_conv_bias_add_v2',
            'gn_forward': 'medaug_group_norm_forward_v1',
            'gn_backward': 'medaug_group_norm_backward_v1'}
_SYMBOLS = {'forward': 'MedaugConvForward', 'input_grad': 'MedaugConvInputGrad',
            'kernel_grad': 'MedaugConvKernelGrad', 'bn_forward': 'MedaugBatchNormForward',
            'bn_backward': 'MedaugBatchNormBackward',
            'bn_relu_forward': 'MedaugBatchNormReluForward',
            'bn_relu_backward': 'MedaugBatchNormReluBackward',
            'bias': 'MedaugConvBias', 'bias_add': 'MedaugConvBiasAdd',
            'gn_forward': 'MedaugGroupNormForward', 'gn_backward': 'MedaugGroupNormBackward'}
_RTLD_NOLOAD = 4  # dlfcn.h (Linux): only a library already loaded


class Unavailable(Exception):
  """Why oneDNN's convolutions cannot run here."""


def _located(dist, suffix):
  try:
    files = importlib.metadata.files(dist) or ()
  except importlib.metadata.PackageNotFoundError:
    raise Unavailable(f'the package {dist} is not installed') from None
  for f in files:
    if str(f).endswith(suffix):
      return pathlib.Path(f.locate()).resolve()
  raise Unavailable(f'{dist} has no {suffix}')


def _cache_dir(environ=os.environ):
  return pathlib.Path(environ.get('MEDAUG_JAX_ONEDNN_CACHE')
                      or user_cache('onednn', environ=environ))


def build():
  """The compiled wrapper's path, compiling it if this machine has none yet."""
  if sys.platform != 'linux' or platform.machine() not in ('x86_64', 'AMD64'):
    raise Unavailable(f'oneDNN wheels exist for x86-64 Linux only, not {sys.platform} '
                      f'{platform.machine()}')
  lib = _located('onednn-cpu-gomp', 'libdnnl.so')
  header = _located('onednn-devel-cpu-gomp', 'oneapi/dnnl/dnnl.hpp')
  include = header.parent.parent.parent
  cxx = os.environ.get('CXX') or 'g++'
  if not shutil.which(cxx):
    raise Unavailable(f'no C++ compiler ({cxx}) to build the oneDNN wrapper; set CXX')
  # -fopenmp: the group norm's loops (the library's own threads are GNU
  # OpenMP's too, so the two share one runtime).
  flags = ['-O2', '-std=c++17', '-shared', '-fPIC', '-fopenmp', '-w']
  key = hashlib.sha256(b'\0'.join([
      _SOURCE.read_bytes(), importlib.metadata.version('jaxlib').encode(), str(lib).encode(),
      importlib.metadata.version('onednn-cpu-gomp').encode(), ' '.join(flags).encode()
  ])).hexdigest()[:16]
  out = _cache_dir() / key / 'libmedaug_onednn.so'
  if out.exists():
    return out
  out.parent.mkdir(parents=True, exist_ok=True)
  logging.info('compiling the oneDNN convolution wrapper into %s', out)
  # Compiled beside its final path and renamed: processes that build at the
  # same time each rename a whole file.
  with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
    part = pathlib.Path(tmp) / out.name
    cmd = [cxx, *flags, f'-I{jax.ffi.include_dir()}', f'-I{include}', str(_SOURCE),
           f'-L{lib.parent}', '-ldnnl', f'-Wl,-rpath,{lib.parent}', '-o', str(part)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
      last = (done.stderr.strip().splitlines() or [''])[-1]
      raise Unavailable(f'compiling {_SOURCE.name} failed (exit {done.returncode}) {last}')
    os.replace(part, out)
  return out


def _openmp_loaded():
  """Whether the libgomp oneDNN links to is in the process already (torch's
  is; scikit-learn's has a name of its own)."""
  try:
    ctypes.CDLL('libgomp.so.1', mode=_RTLD_NOLOAD)
  except OSError:
    return False
  return True


def _load(path):
  """ctypes.CDLL(path), GNU OpenMP's idle workers sleeping, not spinning.

  oneDNN's OpenMP threads share the cores with XLA's own thread pool, and by
  default libgomp's workers spin for about 3 ms after every parallel region,
  on the cores XLA's next ops need. Over five alternating processes the
  ResNet-18 train step ran at a median 65.2 img/s with sleeping workers
  against 50.4 with spinning ones, with a spread as large as that
  (BENCHMARKS.md, "The torch side in a process of its own"). libgomp reads
  the policy once, when it is loaded; a policy the user set is kept.
  """
  if 'OMP_WAIT_POLICY' in os.environ:
    return ctypes.CDLL(path)
  if _openmp_loaded():
    logging.warning('OpenMP was loaded before oneDNN (torch imported first?): its idle '
                    "threads will spin on the cores XLA's threads need; set "
                    'OMP_WAIT_POLICY=PASSIVE to avoid that.')
    return ctypes.CDLL(path)
  os.environ['OMP_WAIT_POLICY'] = 'PASSIVE'
  try:
    return ctypes.CDLL(path)
  finally:
    # Child processes (the benchmarks' torch side) start with the user's settings.
    del os.environ['OMP_WAIT_POLICY']


@functools.lru_cache(maxsize=None)
def _library():
  lib = _load(str(build()))
  for name, target in _TARGETS.items():
    jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, _SYMBOLS[name])),
                                platform='cpu')
  lib.medaug_conv_impls.restype = ctypes.c_char_p
  lib.medaug_conv_impls.argtypes = [ctypes.c_int64] * 15
  lib.medaug_bn_relu_workspace_bytes.restype = ctypes.c_int64
  lib.medaug_bn_relu_workspace_bytes.argtypes = [ctypes.c_int64] * 4 + [ctypes.c_float,
                                                                          ctypes.c_int64]
  return lib


_turned_off = []
OPS = ('conv', 'batch_norm', 'group_norm')


@contextlib.contextmanager
def turned_off(op=None):
  """Programs traced inside leave oneDNN out: every op, or only `op` (one of
  OPS), e.g. to time a step with XLA's batch norm (benchmarks)."""
  if op is not None and op not in OPS:
    raise ValueError(f'unknown oneDNN op {op!r}; one of {OPS}')
  _turned_off.append(op)
  try:
    yield
  finally:
    _turned_off.pop()


def available(op='conv'):
  """Whether oneDNN's `op` (one of OPS) runs in programs traced now."""
  return not unavailable_reason(op)


def runs(dtype, op):
  """Whether an `op` of this dtype goes to oneDNN in a program traced now.

  float32 on one CPU device, and bfloat16 where the CPU computes in bfloat16
  itself (native_bfloat16): elsewhere oneDNN would emulate it (the group
  norm takes bfloat16 everywhere).
  One device: XLA cannot split a custom call over a mesh, so with several
  (forced host devices, processes of a pod test) every device would run the
  whole batch.
  """
  # The group norm computes in float32 whatever it stores, so it takes
  # bfloat16 anywhere.
  supported = dtype == np.float32 or (dtype == jnp.bfloat16
                                      and (native_bfloat16() or op == 'group_norm'))
  return (supported and jax.default_backend() == 'cpu' and jax.device_count() == 1
          and available(op))


@functools.lru_cache(maxsize=None)
def native_bfloat16(cpuinfo='/proc/cpuinfo'):
  """Whether this CPU has bfloat16 arithmetic (AVX512-BF16 or AMX), where
  oneDNN's bfloat16 convolutions run several times faster than float32 ones."""
  try:
    with open(cpuinfo) as f:
      flags = next((line.split(':', 1)[1].split() for line in f if line.startswith('flags')),
                   [])
  except OSError:
    return False
  return 'avx512_bf16' in flags or 'amx_bf16' in flags


def unavailable_reason(op='conv'):
  """'' when oneDNN's `op` can run here, else why not (logged once)."""
  if None in _turned_off or op in _turned_off:
    return 'turned off for this trace'
  if os.environ.get('MEDAUG_JAX_ONEDNN', '').lower() in ('off', '0', 'false'):
    return 'turned off by MEDAUG_JAX_ONEDNN'
  return _loaded()


@functools.lru_cache(maxsize=None)
def _loaded():
  try:
    _library()
  except (Unavailable, OSError) as e:
    logging.warning('oneDNN convolutions unavailable (%s); using XLA-based ones.', e)
    return str(e)
  return ''


def _geometry(x_shape, w_shape, strides, pads):
  n, h, w, c = x_shape
  kh, kw, _, o = w_shape
  oh = (h + pads[0][0] + pads[0][1] - kh) // strides[0] + 1
  ow = (w + pads[1][0] + pads[1][1] - kw) // strides[1] + 1
  return (n, h, w, c, o, kh, kw, oh, ow, *strides, *pads[0], *pads[1])


def implementations(x_shape, w_shape, strides, pads):
  """oneDNN's names for the kernels that run a conv (for the layer benchmark)."""
  return _library().medaug_conv_impls(*_geometry(x_shape, w_shape, strides, pads)).decode()


def _ffi_call(kind, out, **kwargs):
  """jax.ffi.ffi_call of one of our targets, registered first: a program
  traced before anything asked available() still finds its handlers."""
  _library()
  return jax.ffi.ffi_call(_TARGETS[kind], out, vmap_method='sequential', **kwargs)


def _call(kind, out_shape, a, b, strides, pads):
  # vmapped (seeds as a batch axis): one call per seed, each with its own
  # kernel; a grouped convolution would need another primitive.
  return _ffi_call(kind, jax.ShapeDtypeStruct(out_shape, a.dtype))(
      a, b, strides=np.asarray(strides, np.int64),
      pads=np.asarray([*pads[0], *pads[1]], np.int64))


def conv_bias(x, w, bias, strides, pads, relu=False, residual=None):
  """conv(x, w) + bias (+ residual) (then max(., 0) with relu), forward only.

  One oneDNN inference call: the bias, the residual add and the ReLU are
  applied as it writes its output, so an eval pass with each batch norm
  folded into its conv's kernel and a bias (models/resnet.py) spends no
  memory passes outside the convolutions there. x, w and residual float32,
  or all bfloat16; bias float32 either way. Not differentiable. Call only
  when available().
  """
  g = _geometry(x.shape, w.shape, strides, pads)
  out = jax.ShapeDtypeStruct((g[0], g[7], g[8], g[4]), x.dtype)
  attrs = dict(strides=np.asarray(strides, np.int64),
               pads=np.asarray([*pads[0], *pads[1]], np.int64), relu=np.int64(relu))
  if residual is None:
    return _ffi_call('bias', out)(x, w, bias, **attrs)
  return _ffi_call('bias_add', out, input_output_aliases={3: 0})(x, w, bias, residual, **attrs)


# The three calls are the partial derivatives of one trilinear form,
# T(x, w, dy) = <conv(x, w), dy>: conv = dT/d dy, input_grad = dT/dx and
# kernel_grad = dT/dw. So each one's VJP is made of the other two, and
# gradients of gradients (WGAN-GP's penalty) stay on oneDNN.

@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv(x, w, strides, pads):
  """The NHWC/HWIO conv of lax.conv_general_dilated, by oneDNN.

  x and w both float32 or both bfloat16 (runs() says where the latter is
  worth it); strides: (sh, sw); pads: ((top, bottom), (left, right)). Call
  only when available().
  """
  g = _geometry(x.shape, w.shape, strides, pads)
  return _call('forward', (g[0], g[7], g[8], g[4]), x, w, strides, pads)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def input_grad(dy, w, x_shape, strides, pads):
  """dT/dx: the conv's gradient with respect to its input."""
  return _call('input_grad', x_shape, dy, w, strides, pads)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def kernel_grad(x, dy, w_shape, strides, pads):
  """dT/dw: the conv's gradient with respect to its kernel."""
  return _call('kernel_grad', w_shape, x, dy, strides, pads)


def _conv_fwd(x, w, strides, pads):
  return conv(x, w, strides, pads), (x, w)


def _conv_bwd(strides, pads, saved, g):
  x, w = saved
  return (input_grad(g, w, x.shape, strides, pads),
          kernel_grad(x, g, w.shape, strides, pads))


def _input_grad_fwd(dy, w, x_shape, strides, pads):
  return input_grad(dy, w, x_shape, strides, pads), (dy, w)


def _input_grad_bwd(x_shape, strides, pads, saved, g):
  dy, w = saved
  return conv(g, w, strides, pads), kernel_grad(g, dy, w.shape, strides, pads)


def _kernel_grad_fwd(x, dy, w_shape, strides, pads):
  return kernel_grad(x, dy, w_shape, strides, pads), (x, dy)


def _kernel_grad_bwd(w_shape, strides, pads, saved, g):
  x, dy = saved
  return input_grad(dy, g, x.shape, strides, pads), conv(x, g, strides, pads)


conv.defvjp(_conv_fwd, _conv_bwd)
input_grad.defvjp(_input_grad_fwd, _input_grad_bwd)
kernel_grad.defvjp(_kernel_grad_fwd, _kernel_grad_bwd)


# Training-mode batch norm. The statistics are also outputs (for the running
# averages); their cotangents are symbolic zeros unless something
# differentiates them, and then their terms are added in JAX.

@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def batch_norm(x, scale, bias, mask, epsilon, relu=False):
  """(y, mean, var): nn.BatchNorm's training forward over the rows mask keeps.

  x: [N, H, W, C] float32 or bfloat16 (y and x's gradient the same); scale,
  bias: [C] float32 (the statistics too); mask: [N] float32, nonzero on
  the rows in the batch, which come first (a short last batch padded at its
  end). y = (x - mean) / sqrt(var + epsilon) * scale + bias with the kept
  rows' mean and biased variance, and max(y, 0) with relu (in the same pass:
  the ReLU costs no passes of its own over the activation, forward or
  backward); the other rows of y are zero and get no gradient (the loss
  masks them: they never reach it). Call only when
  runs(x.dtype, 'batch_norm').
  """
  return _bn_forward(x, scale, bias, mask, epsilon, relu)[:3]


@functools.lru_cache(maxsize=None)
def _workspace_bytes(shape, epsilon, dtype):
  size = _library().medaug_bn_relu_workspace_bytes(*shape, epsilon, dtype == jnp.bfloat16)
  if size < 0:
    raise Unavailable(f'oneDNN has no batch norm with ReLU for {shape}')
  return max(size, 1)


def _bn_forward(x, scale, bias, mask, epsilon, relu):
  """(y, mean, var, the ReLU's workspace or None)."""
  stat = jax.ShapeDtypeStruct(scale.shape, np.float32)
  out = [jax.ShapeDtypeStruct(x.shape, x.dtype), stat, stat]
  if relu:
    out.append(jax.ShapeDtypeStruct((_workspace_bytes(x.shape, epsilon, x.dtype),), np.uint8))
  y = _ffi_call('bn_relu_forward' if relu else 'bn_forward', tuple(out))(
      x, scale, bias, mask, epsilon=np.float32(epsilon))
  return tuple(y) if relu else (*y, None)


def _batch_norm_fwd(x, scale, bias, mask, epsilon, relu):
  x, scale, bias, mask = (a.value for a in (x, scale, bias, mask))
  y, mean, var, workspace = _bn_forward(x, scale, bias, mask, epsilon, relu)
  return (y, mean, var), (x, scale, mean, var, mask, workspace)


def _batch_norm_bwd(epsilon, relu, saved, cotangents):
  x, scale, mean, var, mask, workspace = saved
  dy, dmean, dvar = cotangents
  if isinstance(dy, jax.custom_derivatives.SymbolicZero):
    dy = jnp.zeros(x.shape, x.dtype)
  stat = jax.ShapeDtypeStruct(scale.shape, np.float32)
  dx, dscale, dbias = _ffi_call(
      'bn_relu_backward' if relu else 'bn_backward',
      (jax.ShapeDtypeStruct(x.shape, x.dtype), stat, stat))(
          x, dy, scale, mean, var, mask, *([workspace] if relu else []),
          epsilon=np.float32(epsilon))
  # The statistics are those of x before the ReLU, so their terms are too.
  kept = mask.reshape(-1, 1, 1, 1) != 0
  count = jnp.sum(kept) * x.shape[1] * x.shape[2]  # the pixels each statistic averages
  if not isinstance(dmean, jax.custom_derivatives.SymbolicZero):
    dx = dx + jnp.where(kept, dmean / count, 0.)
  if not isinstance(dvar, jax.custom_derivatives.SymbolicZero):
    dx = dx + jnp.where(kept, dvar * 2 * (x - mean) / count, 0.)
  return dx.astype(x.dtype), dscale, dbias, jnp.zeros_like(mask)


batch_norm.defvjp(_batch_norm_fwd, _batch_norm_bwd, symbolic_zeros=True)


# Group norm with its activation (onednn.cc's hand-written kernels: oneDNN 3.2
# has none).
GROUP_NORM_ACTIVATIONS = {None: 0, 'relu': 1, 'swish': 2}


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def group_norm(x, scale, bias, groups, epsilon, activation=None):
  """activation(nn.GroupNorm(groups, epsilon)(x)) with its scale and bias.

  x: [N, H, W, C] float32 or bfloat16 (the output the same), C divisible by
  groups; scale, bias: [C] float32; activation: None, 'relu' or 'swish'.
  Statistics per image and group over H, W and the group's channels, the
  variance as E[x^2] - E[x]^2 (Flax's default); all arithmetic in float32,
  bfloat16 outputs rounded once. Call only when runs(x.dtype, 'group_norm').
  """
  return _gn_forward(x, scale, bias, groups, epsilon, activation)[0]


def _gn_forward(x, scale, bias, groups, epsilon, activation):
  stat = jax.ShapeDtypeStruct((x.shape[0], groups), np.float32)
  return _ffi_call('gn_forward', (jax.ShapeDtypeStruct(x.shape, x.dtype), stat, stat))(
      x, scale, bias, groups=np.int64(groups), epsilon=np.float32(epsilon),
      activation=np.int64(GROUP_NORM_ACTIVATIONS[activation]))


def _group_norm_fwd(x, scale, bias, groups, epsilon, activation):
  y, mean, rstd = _gn_forward(x, scale, bias, groups, epsilon, activation)
  return y, (x, scale, bias, mean, rstd)


def _group_norm_bwd(groups, epsilon, activation, saved, dz):
  x, scale, bias, mean, rstd = saved
  per_image = jax.ShapeDtypeStruct((x.shape[0], x.shape[-1]), np.float32)
  dx, dscale, dbias = _ffi_call(
      'gn_backward', (jax.ShapeDtypeStruct(x.shape, x.dtype), per_image, per_image))(
          x, dz, scale, bias, mean, rstd, groups=np.int64(groups),
          activation=np.int64(GROUP_NORM_ACTIVATIONS[activation]))
  return dx, jnp.sum(dscale, 0), jnp.sum(dbias, 0)


group_norm.defvjp(_group_norm_fwd, _group_norm_bwd)
