"""oneDNN's convolutions and batch norm as XLA custom calls: against lax and
Flax, under vmap, and their build."""
import functools
import os
import platform
import re
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from medaug_jax.ops import conv_cpu, onednn

X86_LINUX = sys.platform == 'linux' and platform.machine() == 'x86_64'
needs_onednn = pytest.mark.skipif(not X86_LINUX, reason='oneDNN wheels are x86-64 Linux only')
needs_bfloat16 = pytest.mark.skipif(not (X86_LINUX and onednn.native_bfloat16()),
                                    reason='a CPU without bfloat16 arithmetic (AVX512-BF16, AMX)')

_DIMS = ('NHWC', 'HWIO', 'NHWC')


def _lax(x, w, strides, pads):
  return jax.lax.conv_general_dilated(x, w, strides, pads, dimension_numbers=_DIMS,
                                      precision=jax.lax.Precision.HIGHEST)


def _max_rel_err(a, b):
  return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@needs_onednn
def test_available_where_its_wheels_install():
  # setup.cfg installs onednn-cpu-gomp on x86-64 Linux: a broken install or
  # build must fail here, not quietly slow every run down.
  assert onednn.unavailable_reason() == ''


# The ResNet's layers (stride 1 and 2, a 1x1 projection, the grey stem), the
# padding lax gives an even map under 'SAME' with stride 2, a 4x4 kernel, and
# an odd map.
@needs_onednn
@pytest.mark.parametrize('size,cin,cout,k,s,pads', [
    (28, 64, 64, 3, 1, ((1, 1), (1, 1))),
    (28, 1, 64, 3, 1, ((1, 1), (1, 1))),
    (14, 32, 64, 3, 2, ((1, 1), (1, 1))),
    (14, 32, 64, 1, 2, ((0, 0), (0, 0))),
    (14, 16, 32, 3, 2, ((0, 1), (0, 1))),
    (8, 16, 8, 4, 2, ((1, 1), (1, 1))),
    (5, 16, 24, 3, 1, ((1, 1), (1, 1))),
])
def test_values_and_gradients_match_lax(size, cin, cout, k, s, pads):
  kx, kw, kd = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (3, size, size, cin))
  w = jax.random.normal(kw, (k, k, cin, cout)) / (k * cin ** .5)
  y = _lax(x, w, (s, s), pads)
  d = jax.random.normal(kd, y.shape)

  def value_and_grads(conv):
    return jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(conv(x, w, (s, s), pads) * d),
                                      (0, 1)))(x, w)

  (_, (dx, dw)), (_, (rdx, rdw)) = value_and_grads(onednn.conv), value_and_grads(_lax)
  errs = [_max_rel_err(jax.jit(onednn.conv, static_argnums=(2, 3))(x, w, (s, s), pads), y),
          _max_rel_err(dx, rdx), _max_rel_err(dw, rdw)]
  assert max(errs) < 1e-4, errs


@needs_onednn
@pytest.mark.parametrize('s,pads', [(1, ((1, 1), (1, 1))), (2, ((0, 1), (0, 1)))])
def test_gradients_of_gradients_match_lax(s, pads):
  # WGAN-GP differentiates D's input gradient with respect to D's weights;
  # the kernel gradient's own derivative is checked too. tanh makes every
  # one of the three calls appear in the second derivatives.
  kx, kw = jax.random.split(jax.random.key(2))
  x = jax.random.normal(kx, (2, 9, 9, 8))
  w = jax.random.normal(kw, (3, 3, 8, 16)) / 8

  def second(conv):
    f = lambda x, w: jnp.sum(jnp.tanh(conv(x, w, (s, s), pads)))
    by_input = jax.grad(lambda x, w: jnp.sum(jax.grad(f, 0)(x, w) ** 2), (0, 1))(x, w)
    by_kernel = jax.grad(lambda x, w: jnp.sum(jax.grad(f, 1)(x, w) ** 2), (0, 1))(x, w)
    return by_input + by_kernel

  for got, ref in zip(jax.jit(lambda: second(onednn.conv))(), second(_lax)):
    assert _max_rel_err(got, ref) < 1e-4


def test_bfloat16_only_where_the_cpu_computes_it(tmp_path):
  flags = 'flags\t\t: fpu sse2 avx2 avx512f {}\n'
  for extra, native in (('', False), ('avx512_bf16', True), ('amx_tile amx_bf16', True)):
    cpuinfo = tmp_path / f'cpuinfo{native}{len(extra)}'
    cpuinfo.write_text('processor\t: 0\n' + flags.format(extra))
    assert onednn.native_bfloat16(str(cpuinfo)) is native
  assert not onednn.native_bfloat16(str(tmp_path / 'missing'))


# bfloat16 keeps 8 bits of mantissa: each output is rounded once (2**-9
# relative), so the errors against lax's float32 on the same (rounded)
# inputs are a few times that, not float32's 1e-6.
@needs_bfloat16
@pytest.mark.parametrize('size,cin,cout,k,s,pads', [
    (28, 64, 64, 3, 1, ((1, 1), (1, 1))),
    (28, 1, 64, 3, 1, ((1, 1), (1, 1))),
    (14, 32, 64, 3, 2, ((1, 1), (1, 1))),
    (14, 32, 64, 1, 2, ((0, 0), (0, 0))),
])
def test_bfloat16_values_and_gradients_match_lax(size, cin, cout, k, s, pads):
  kx, kw, kd = jax.random.split(jax.random.key(5), 3)
  x = jax.random.normal(kx, (3, size, size, cin)).astype(jnp.bfloat16)
  w = (jax.random.normal(kw, (k, k, cin, cout)) / (k * cin ** .5)).astype(jnp.bfloat16)
  d = jax.random.normal(kd, _lax(x.astype(jnp.float32), w.astype(jnp.float32), (s, s),
                                 pads).shape)

  def value_and_grads(conv, x, w):
    return jax.jit(jax.value_and_grad(
        lambda x, w: jnp.sum(conv(x, w, (s, s), pads).astype(jnp.float32) * d), (0, 1)))(x, w)

  y = jax.jit(onednn.conv, static_argnums=(2, 3))(x, w, (s, s), pads)
  (_, grads), (_, ref) = (value_and_grads(onednn.conv, x, w),
                          value_and_grads(_lax, x.astype(jnp.float32), w.astype(jnp.float32)))
  assert y.dtype == grads[0].dtype == grads[1].dtype == jnp.bfloat16
  errs = [_max_rel_err(y.astype(jnp.float32),
                       _lax(x.astype(jnp.float32), w.astype(jnp.float32), (s, s), pads))]
  errs += [_max_rel_err(g.astype(jnp.float32), r) for g, r in zip(grads, ref)]
  assert max(errs) < 1e-2, errs


@needs_onednn
def test_vmapped_seeds_get_their_own_kernels():
  kx, kw = jax.random.split(jax.random.key(1))
  x = jax.random.normal(kx, (2, 4, 7, 7, 8))
  w = jax.random.normal(kw, (2, 3, 3, 8, 16))
  pads = ((1, 1), (1, 1))
  grads = jax.jit(jax.vmap(jax.grad(lambda x, w: jnp.sum(onednn.conv(x, w, (1, 1), pads) ** 2),
                                    (0, 1))))(x, w)
  for i in range(2):
    want = jax.grad(lambda x, w: jnp.sum(_lax(x, w, (1, 1), pads) ** 2), (0, 1))(x[i], w[i])
    for got, ref in zip(grads, want):
      assert _max_rel_err(got[i], ref) < 1e-4


@needs_onednn
@pytest.mark.parametrize('size,cin,cout,k,s,pads', [
    (14, 16, 32, 3, 2, ((1, 1), (1, 1))),
    (7, 8, 8, 3, 1, ((1, 1), (1, 1))),
    (14, 16, 32, 1, 2, ((0, 0), (0, 0))),
])
def test_inference_conv_adds_bias_residual_and_relu(size, cin, cout, k, s, pads):
  kx, kw, kb, kr = jax.random.split(jax.random.key(2), 4)
  x = jax.random.normal(kx, (3, size, size, cin))
  w = jax.random.normal(kw, (k, k, cin, cout)) / (k * cin ** .5)
  b = jax.random.normal(kb, (cout,))
  ref = _lax(x, w, (s, s), pads) + b
  r = jax.random.normal(kr, ref.shape)
  for relu in (False, True):
    act = functools.partial(jnp.maximum, 0.) if relu else (lambda v: v)
    call = functools.partial(onednn.conv_bias, strides=(s, s), pads=pads, relu=relu)
    assert _max_rel_err(jax.jit(call)(x, w, b), act(ref)) < 1e-5
    # The residual's buffer becomes the output's: one still read after the
    # call must be copied first, not overwritten.
    got, after = jax.jit(lambda x, w, b, r: (call(x, w, b, residual=r), r + 1))(x, w, b, r)
    assert _max_rel_err(got, act(ref + r)) < 1e-5
    assert jnp.array_equal(after, r + 1)
  seeds = jax.jit(jax.vmap(lambda w: call(x, w, b, residual=r)))(jnp.stack([w, -w]))
  assert _max_rel_err(seeds[1], act(_lax(x, -w, (s, s), pads) + b + r)) < 1e-5


@needs_onednn
def test_conv_cpu_takes_onednn_where_it_wins():
  same = ((1, 1), (1, 1))
  pick = lambda w, s, x, dtype=jnp.float32: conv_cpu.cpu_impl(w, s, same, x, dtype)
  assert pick((3, 3, 64, 64), (1, 1), (128, 28, 28, 64)) == 'onednn'
  assert pick((3, 3, 256, 512), (2, 2), (128, 7, 7, 256)) == 'onednn'
  # 4x4 maps: Winograd's 2.25x fewer multiplies win there.
  assert pick((3, 3, 512, 512), (1, 1), (128, 4, 4, 512)) == 'winograd'
  # bfloat16 where the CPU has its arithmetic; and switched off, the
  # XLA-based choices come back.
  bf16 = 'onednn' if onednn.native_bfloat16() else 'winograd'
  assert pick((3, 3, 64, 64), (1, 1), (128, 28, 28, 64), jnp.bfloat16) == bf16
  assert pick((3, 3, 512, 512), (1, 1), (128, 4, 4, 512), jnp.bfloat16) == 'winograd'
  with onednn.turned_off():
    assert pick((3, 3, 64, 64), (1, 1), (128, 28, 28, 64)) == 'winograd'
  assert 'brgconv' in onednn.implementations((128, 28, 28, 64), (3, 3, 64, 64), (1, 1), same)
  # Traced, the jaxpr holds the custom calls and no convolution of XLA's.
  jaxpr = str(jax.make_jaxpr(lambda x, w: conv_cpu.conv_general_dilated(
      x, w, (1, 1), 'SAME', dimension_numbers=_DIMS))(jnp.zeros((2, 14, 14, 16)),
                                                      jnp.zeros((3, 3, 16, 7))))
  assert 'custom_vjp_call' in jaxpr and 'conv_general_dilated' not in jaxpr


def test_turned_off_by_the_environment(monkeypatch):
  monkeypatch.setenv('MEDAUG_JAX_ONEDNN', 'off')
  for op in onednn.OPS:
    assert 'MEDAUG_JAX_ONEDNN' in onednn.unavailable_reason(op)
    assert not onednn.available(op) and not onednn.runs(jnp.float32, op)


@needs_onednn
def test_turned_off_one_op_or_all():
  with onednn.turned_off('batch_norm'):
    assert onednn.available('conv') and not onednn.available('batch_norm')
  with onednn.turned_off():
    assert not any(onednn.available(op) for op in onednn.OPS)
  assert onednn.runs(jnp.float32, 'batch_norm') and not onednn.runs(jnp.float16, 'batch_norm')
  assert onednn.runs(jnp.bfloat16, 'batch_norm') == onednn.native_bfloat16()
  with pytest.raises(ValueError, match='unknown oneDNN op'):
    with onednn.turned_off('pool'):
      pass


def _flax_batch_norm(x, scale, bias, mask):
  """nn.BatchNorm's training forward with a row mask: (y, new mean, new var)."""
  bn = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
  stats = {'mean': jnp.zeros_like(scale), 'var': jnp.ones_like(scale)}
  y, new = bn.apply({'params': {'scale': scale, 'bias': bias}, 'batch_stats': stats}, x,
                    mask=jnp.broadcast_to(mask.reshape(-1, 1, 1, 1) != 0, x.shape),
                    mutable=['batch_stats'])
  return y, new['batch_stats']['mean'], new['batch_stats']['var']


def _flax_batch_norm_relu(x, scale, bias, mask):
  y, mean, var = _flax_batch_norm(x, scale, bias, mask)
  return jax.nn.relu(y), mean, var


def _our_batch_norm(x, scale, bias, mask, relu=False):
  """The same through onednn.batch_norm and Flax's running-average rule."""
  y, mean, var = onednn.batch_norm(x, scale, bias, mask, 1e-5, relu)
  return y, 0.1 * mean, 0.9 + 0.1 * var


# A full batch, a short last one (padded rows at the end), the ResNet's
# 28x28x64 activation at a small batch.
@needs_onednn
@pytest.mark.parametrize('relu', [False, True])
@pytest.mark.parametrize('n,kept,size,c', [(4, 4, 5, 8), (6, 4, 5, 8), (3, 2, 28, 64)])
def test_batch_norm_matches_flax_on_the_kept_rows(n, kept, size, c, relu):
  k1, k2, k3, k4, k5 = jax.random.split(jax.random.key(3), 5)
  x = 2 * jax.random.normal(k1, (n, size, size, c)) + 1
  scale, bias = jax.random.normal(k2, (c,)), jax.random.normal(k3, (c,))
  mask = (jnp.arange(n) < kept).astype(jnp.float32)
  # The loss sees the kept rows only, as the trainer's masked mean does; the
  # statistics' terms check the cotangents of mean and var too.
  g = jax.random.normal(k4, x.shape) * mask.reshape(-1, 1, 1, 1)
  a, b = jax.random.normal(k5, (2, c))

  def value_and_grads(bn, with_stats):
    def loss(x, scale, bias):
      y, mean, var = bn(x, scale, bias, mask)
      return jnp.sum(y * g) + (jnp.sum(mean * a) + jnp.sum(var * b) if with_stats else 0.)
    return jax.jit(jax.value_and_grad(loss, (0, 1, 2)))(x, scale, bias)

  ours_fn = functools.partial(_our_batch_norm, relu=relu)
  ref_fn = _flax_batch_norm_relu if relu else _flax_batch_norm
  for with_stats in (False, True):
    ours, ref = value_and_grads(ours_fn, with_stats), value_and_grads(ref_fn, with_stats)
    errs = [_max_rel_err(o, r) for o, r in zip(jax.tree.leaves(ours), jax.tree.leaves(ref))]
    assert max(errs) < 1e-4, (with_stats, errs)
  y, *stats = jax.jit(ours_fn)(x, scale, bias, mask)
  y_ref, *stats_ref = ref_fn(x, scale, bias, mask)
  assert _max_rel_err(y[:kept], y_ref[:kept]) < 1e-4
  assert max(_max_rel_err(o, r) for o, r in zip(stats, stats_ref)) < 1e-4
  assert not jnp.any(y[kept:]) and not jnp.any(jax.grad(lambda x: jnp.sum(
      onednn.batch_norm(x, scale, bias, mask, 1e-5, relu)[0]))(x)[kept:])
  if relu:  # about half the outputs are clipped, so the mask is exercised
    assert 0.2 < float(jnp.mean(y[:kept] == 0)) < 0.8


@needs_bfloat16
@pytest.mark.parametrize('relu', [False, True])
def test_bfloat16_batch_norm_matches_flax(relu):
  """A bfloat16 activation (a short last batch) with float32 parameters and
  statistics, as the bfloat16 classifier has them."""
  k1, k2, k3, k4 = jax.random.split(jax.random.key(6), 4)
  x = (2 * jax.random.normal(k1, (6, 7, 7, 16)) + 1).astype(jnp.bfloat16)
  scale, bias = jax.random.normal(k2, (16,)), jax.random.normal(k3, (16,))
  mask = (jnp.arange(6) < 4).astype(jnp.float32)
  g = jax.random.normal(k4, x.shape) * mask.reshape(-1, 1, 1, 1)
  ref_fn = _flax_batch_norm_relu if relu else _flax_batch_norm

  def value_and_grads(bn, x):
    return jax.jit(jax.value_and_grad(
        lambda x, scale, bias: jnp.sum(bn(x, scale, bias, mask)[0].astype(jnp.float32) * g),
        (0, 1, 2)))(x, scale, bias)

  y, *stats = jax.jit(functools.partial(_our_batch_norm, relu=relu))(x, scale, bias, mask)
  y_ref, *stats_ref = ref_fn(x.astype(jnp.float32), scale, bias, mask)
  assert y.dtype == jnp.bfloat16 and stats[0].dtype == jnp.float32
  assert _max_rel_err(y[:4].astype(jnp.float32), y_ref[:4]) < 1e-2
  assert max(_max_rel_err(o, r) for o, r in zip(stats, stats_ref)) < 1e-4
  (_, ours), (_, ref) = (value_and_grads(functools.partial(_our_batch_norm, relu=relu), x),
                         value_and_grads(ref_fn, x.astype(jnp.float32)))
  assert ours[0].dtype == jnp.bfloat16
  errs = [_max_rel_err(o.astype(jnp.float32), r) for o, r in zip(ours, ref)]
  assert max(errs) < 2e-2, errs


@needs_onednn
def test_batch_norm_under_vmap_and_its_mask_errors():
  x = jax.random.normal(jax.random.key(4), (2, 3, 4, 4, 8))
  ones, mask = jnp.ones(8), jnp.ones(3)
  ys = jax.jit(jax.vmap(lambda x: onednn.batch_norm(x, ones, ones, mask, 1e-5)[0]))(x)
  for i in range(2):
    assert _max_rel_err(ys[i], _flax_batch_norm(x[i], ones, ones, mask)[0]) < 1e-4
  bn = jax.jit(lambda m: onednn.batch_norm(x[0], ones, ones, m, 1e-5))
  with pytest.raises(Exception, match='the rows the mask keeps must come first'):
    jax.block_until_ready(bn(jnp.array([1., 0., 1.])))
  with pytest.raises(Exception, match='the mask keeps no rows'):
    jax.block_until_ready(bn(jnp.zeros(3)))


@needs_onednn
def test_build_is_kept_and_a_failed_one_says_why(tmp_path, monkeypatch):
  monkeypatch.setenv('MEDAUG_JAX_ONEDNN_CACHE', str(tmp_path / 'ok'))
  first = onednn.build()
  stamp = first.stat().st_mtime_ns
  assert onednn.build() == first and first.stat().st_mtime_ns == stamp
  assert not list(first.parent.glob('tmp*'))
  # `false` is a compiler that always fails: nothing is left half-written.
  monkeypatch.setenv('MEDAUG_JAX_ONEDNN_CACHE', str(tmp_path / 'bad'))
  monkeypatch.setenv('CXX', 'false')
  with pytest.raises(onednn.Unavailable, match='compiling onednn.cc failed'):
    onednn.build()
  assert not list((tmp_path / 'bad').rglob('*.so'))
  monkeypatch.setenv('CXX', str(tmp_path / 'no-such-compiler'))
  with pytest.raises(onednn.Unavailable, match='no C\\+\\+ compiler'):
    onednn.build()


def _openmp_spin(code, **env):
  """How long libgomp's idle workers spin (GOMP_SPINCOUNT as it read it: 0
  for OMP_WAIT_POLICY=PASSIVE, 300000 by default) in a fresh process
  running `code`, and what that printed."""
  env = {k: v for k, v in os.environ.items() if k != 'OMP_WAIT_POLICY'} | env
  done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                        env={**env, 'OMP_DISPLAY_ENV': 'VERBOSE'}, timeout=300)
  # Each OpenMP runtime prints its settings when it loads; oneDNN's comes
  # last here (scikit-learn's, under a name of its own, comes before).
  spins = re.findall(r"GOMP_SPINCOUNT = '(\d+)'", done.stderr)
  return spins and int(spins[-1]), done.stdout


@needs_onednn
def test_openmp_workers_sleep_unless_the_user_says_otherwise():
  # The way a run loads things: the dataset table (medmnist, which imports
  # torch where it is installed if its package is imported), the metrics
  # (scikit-learn, with an OpenMP runtime of its own), then oneDNN.
  code = ('import os; from medaug_jax import data, metrics; data.medmnist_info(); '
          'from medaug_jax.ops import onednn; assert onednn.available(); '
          "print('OMP_WAIT_POLICY' in os.environ)")
  assert _openmp_spin(code) == (0, 'False\n')  # children get the user's environment
  assert _openmp_spin(code, OMP_WAIT_POLICY='ACTIVE') == (30_000_000_000, 'True\n')


_ACTIVATIONS = {None: lambda y: y, 'relu': jax.nn.relu, 'swish': nn.swish}


def _flax_group_norm(groups, activation):
  def f(x, scale, bias):
    y = nn.GroupNorm(groups).apply({'params': {'scale': scale, 'bias': bias}}, x)
    return _ACTIVATIONS[activation](y)
  return f


# The UNet's groups of 2 channels, one group, a group per channel, odd maps,
# and activations far out on both sides (the swish's exp saturates).
@needs_onednn
@pytest.mark.parametrize('activation', [None, 'relu', 'swish'])
@pytest.mark.parametrize('n,size,c,groups,spread', [
    (3, 28, 64, 32, 1.), (2, 7, 24, 8, 1.), (2, 5, 16, 1, 1.), (2, 3, 8, 8, 1.),
    (2, 4, 8, 2, 60.)])
def test_group_norm_matches_flax(n, size, c, groups, spread, activation):
  k1, k2, k3, k4 = jax.random.split(jax.random.key(7), 4)
  x = spread * jax.random.normal(k1, (n, size, size, c)) + 0.5
  scale = 1 + spread * jax.random.normal(k2, (c,)) / 4
  bias = spread * jax.random.normal(k3, (c,)) / 4
  g = jax.random.normal(k4, x.shape)
  ours = functools.partial(onednn.group_norm, groups=groups, epsilon=1e-6,
                           activation=activation)

  def value_and_grads(f):
    return jax.jit(jax.value_and_grad(lambda *a: jnp.sum(f(*a) * g), (0, 1, 2)))(x, scale, bias)

  y, y_ref = jax.jit(ours)(x, scale, bias), _flax_group_norm(groups, activation)(x, scale, bias)
  assert _max_rel_err(y, y_ref) < 1e-5
  got, want = value_and_grads(ours), value_and_grads(_flax_group_norm(groups, activation))
  errs = [_max_rel_err(o, r) for o, r in zip(jax.tree.leaves(got), jax.tree.leaves(want))]
  assert max(errs) < 1e-4, errs
  # Each image's share of the parameters' gradients is summed in a fixed
  # order, so a repeated step gives the same bits (resumed runs rely on it).
  again = value_and_grads(ours)
  assert all(jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(again)))


@needs_onednn
def test_group_norm_module_takes_the_one_pass_kernel_with_flax_variables():
  from medaug_jax.generators.base import GroupNorm  # pylint: disable=g-import-not-at-top
  x = jax.random.normal(jax.random.key(8), (2, 7, 7, 16))
  theirs = nn.GroupNorm(4).init(jax.random.key(0), x)
  for activation in (None, 'relu', 'swish'):
    module = GroupNorm(4, activation=activation)
    variables = module.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, theirs)
    assert 'medaug_group_norm_forward' in jax.jit(module.apply).lower(variables, x).as_text()
    with onednn.turned_off('group_norm'):
      lowered = jax.jit(module.apply).lower(variables, x).as_text()
      assert 'medaug_group_norm' not in lowered
      y_flax = jax.jit(module.apply)(variables, x)
    assert _max_rel_err(module.apply(variables, x), y_flax) < 1e-5
  # A bfloat16 module on bfloat16 activations takes it too; one whose output
  # Flax promotes to float32 (no dtype, bfloat16 in) and 2-D inputs keep Flax's.
  xb = x.astype(jnp.bfloat16)
  for dtype, one_pass in ((jnp.bfloat16, True), (None, False)):
    module = GroupNorm(4, dtype=dtype, activation='swish')
    variables = module.init(jax.random.key(0), xb)
    lowered = jax.jit(module.apply).lower(variables, xb).as_text()
    assert ('medaug_group_norm' in lowered) == one_pass
    assert module.apply(variables, xb).dtype == (dtype or jnp.float32)
  flat = jnp.ones((3, 16))
  module = GroupNorm(4, activation='relu')
  assert module.apply(module.init(jax.random.key(0), flat), flat).shape == (3, 16)
  with pytest.raises(ValueError, match="unknown activation 'gelu'"):
    GroupNorm(4, activation='gelu').init(jax.random.key(0), x)


@needs_onednn
def test_group_norm_under_vmap():
  x = jax.random.normal(jax.random.key(9), (2, 3, 5, 5, 8))
  scale, bias = jnp.linspace(0.5, 1.5, 8), jnp.linspace(-1, 1, 8)
  f = functools.partial(onednn.group_norm, groups=4, epsilon=1e-6, activation='swish')
  ys = jax.jit(jax.vmap(f, in_axes=(0, None, None)))(x, scale, bias)
  for i in range(2):
    assert _max_rel_err(ys[i], _flax_group_norm(4, 'swish')(x[i], scale, bias)) < 1e-5


@needs_onednn
@pytest.mark.parametrize('activation', [None, 'swish'])
def test_bfloat16_group_norm_matches_flax(activation):
  """bfloat16 activations, float32 parameters and arithmetic (any x86 CPU)."""
  k1, k2, k3, k4 = jax.random.split(jax.random.key(10), 4)
  x = (2 * jax.random.normal(k1, (3, 7, 7, 32)) + 1).astype(jnp.bfloat16)
  scale, bias = 1 + jax.random.normal(k2, (32,)) / 4, jax.random.normal(k3, (32,)) / 4
  g = jax.random.normal(k4, x.shape)
  ours = functools.partial(onednn.group_norm, groups=8, epsilon=1e-6, activation=activation)
  ref = _flax_group_norm(8, activation)

  def value_and_grads(f, x):
    return jax.jit(jax.value_and_grad(
        lambda x, s, b: jnp.sum(f(x, s, b).astype(jnp.float32) * g), (0, 1, 2)))(x, scale, bias)

  y = jax.jit(ours)(x, scale, bias)
  assert y.dtype == jnp.bfloat16
  assert _max_rel_err(y.astype(jnp.float32), ref(x.astype(jnp.float32), scale, bias)) < 1e-2
  (_, got), (_, want) = value_and_grads(ours, x), value_and_grads(ref, x.astype(jnp.float32))
  assert got[0].dtype == jnp.bfloat16 and got[1].dtype == jnp.float32
  errs = [_max_rel_err(o.astype(jnp.float32), r) for o, r in zip(got, want)]
  assert max(errs) < 2e-2, errs
  # NaN stays NaN through the rounding to bfloat16, in its image's group only.
  y = jax.jit(ours)(x.at[0, 0, 0, 0].set(jnp.nan), scale, bias)
  assert jnp.isnan(y[0, ..., :4]).all() and jnp.isfinite(y[0, ..., 4:]).all()
