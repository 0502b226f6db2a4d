"""ResNet-18 shapes and padding, and the CPU convolutions against plain lax."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from medaug_jax.models import resnet
from medaug_jax.ops import conv_cpu, onednn


# 5 inputs take the im2col matmul, 16 inputs and 7 outputs XLA's conv, 16 and
# 24 the im2col matmul (strided, 1x1) or Winograd (3x3, stride 1).
@pytest.mark.parametrize('cin,cout', [(5, 7), (16, 7), (16, 24)])
@pytest.mark.parametrize('kernel,stride', [((3, 3), 1), ((3, 3), 2), ((1, 1), 2)])
def test_conv_values_and_gradients_match_lax(kernel, stride, cin, cout):
  kx, kw, kd = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (6, 14, 14, cin))
  w = jax.random.normal(kw, kernel + (cin, cout))
  dims = ('NHWC', 'HWIO', 'NHWC')

  def loss(conv, x, w):
    y = conv(x, w, (stride, stride), 'SAME', dimension_numbers=dims)
    return jnp.sum(y * jax.random.normal(kd, y.shape))

  ours = jax.value_and_grad(lambda x, w: loss(conv_cpu.conv_general_dilated, x, w), (0, 1))(x, w)
  ref = jax.value_and_grad(lambda x, w: loss(jax.lax.conv_general_dilated, x, w), (0, 1))(x, w)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('cin,cout,library_conv', [(5, 24, False), (16, 24, False), (16, 7, True)])
def test_cpu_convolution_is_chosen_when_traced(cin, cout, library_conv):
  """On CPU the jaxpr holds only the chosen implementation, with no platform
  switch (a cond) for autodiff to linearise twice. (The XLA-based choices;
  tests/test_onednn.py checks oneDNN's.)"""
  conv = lambda x, w: conv_cpu.conv_general_dilated(
      x, w, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  with onednn.turned_off():
    jaxpr = str(jax.make_jaxpr(conv)(jnp.zeros((2, 14, 14, cin)), jnp.zeros((3, 3, cin, cout))))
  assert jax.default_backend() == 'cpu'
  assert 'cond[' not in jaxpr and 'platform_index' not in jaxpr
  assert ('conv_general_dilated' in jaxpr) == library_conv


def test_as_lax_traces_the_direct_convolutions():
  """The benchmarks count FLOPs inside conv_cpu.as_lax(): lax's direct
  convolution, the upsampling one on the upsampled map, whatever CPU path
  (oneDNN, Winograd, the sub-pixel phases) would run them otherwise."""
  x, w = jnp.zeros((2, 14, 14, 16)), jnp.zeros((3, 3, 16, 24))
  dims = ('NHWC', 'HWIO', 'NHWC')
  conv = lambda x, w: conv_cpu.conv_general_dilated(x, w, (1, 1), 'SAME', dimension_numbers=dims)
  up = lambda x, w: conv_cpu.upsample_conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                                           dimension_numbers=dims)
  flops = lambda f, x: jax.jit(f).lower(x, w).cost_analysis()['flops']
  lax_conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), 'SAME',
                                                       dimension_numbers=dims)
  with conv_cpu.as_lax():
    assert conv_cpu.cpu_impl(w.shape, (1, 1), ((1, 1), (1, 1)), x.shape) == 'lax'
    assert flops(conv, x) == flops(lax_conv, x) > 0
    assert flops(up, x) == flops(lax_conv, conv_cpu.upsample(x))
    jaxpr = str(jax.make_jaxpr(up)(x, w))
  assert 'conv_general_dilated' in jaxpr and 'custom' not in jaxpr
  assert conv_cpu.cpu_impl(w.shape, (1, 1), ((1, 1), (1, 1)), x.shape) != 'lax'


@pytest.mark.parametrize('channels', [1, 3])
def test_resnet18_shapes_and_size(channels):
  model = resnet.resnet18(num_classes=9)
  x = jnp.zeros((2, 28, 28, channels))
  # Jitted: op by op, the width-64 network's init and apply took ~30 s on CI.
  variables = jax.jit(model.init, static_argnames='train')(jax.random.key(0), x, train=False)
  assert jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x).shape == (2, 9)
  n = sum(p.size for p in jax.tree.leaves(variables['params']))
  # torchvision-style ResNet-18 with a 3x3 stem and a 9-way head: 11.18M.
  assert 11.1e6 < n < 11.3e6


@pytest.mark.skipif(not onednn.available('conv'), reason='oneDNN is x86-64 Linux only')
# bfloat16: each conv's output is rounded to 8 bits of mantissa, differently
# in the two forms (folded before the rounding, or normalised after it).
@pytest.mark.parametrize('dtype,tol', [
    (jnp.float32, 1e-5),
    pytest.param(jnp.bfloat16, 2e-2, marks=pytest.mark.skipif(
        not onednn.runs(jnp.bfloat16, 'conv'), reason='no bfloat16 arithmetic or no oneDNN'))])
def test_eval_pass_folds_each_norm_into_its_conv(dtype, tol):
  """On oneDNN the eval pass runs each conv with its batch norm (running
  averages), residual add and ReLU as one call, and gives XLA's logits."""
  model = resnet.resnet18(num_classes=3, width=8, dtype=dtype)
  x = jax.random.uniform(jax.random.key(0), (6, 28, 28, 3))
  variables = model.init(jax.random.key(1), x, train=True)
  keys = iter(jax.random.split(jax.random.key(2), 200))
  # Statistics and weights away from their initial values, so that the
  # folded scale and shift are not the identity.
  variables = {
      'params': jax.tree.map(lambda a: a + .2 * jax.random.normal(next(keys), a.shape),
                             variables['params']),
      'batch_stats': jax.tree.map(lambda a: a + .3 * jax.random.uniform(next(keys), a.shape),
                                  variables['batch_stats'])}
  for features in (False, True):
    # A function of its own for each: jit's caches do not see turned_off.
    apply = lambda: jax.jit(functools.partial(model.apply, train=False, features=features))
    with onednn.turned_off():
      want = apply()(variables, x)
    got = apply()(variables, x)
    assert float(jnp.max(jnp.abs(got - want)) / jnp.max(jnp.abs(want))) < tol
  # The stem, 16 block convs and 3 projections, less layer4's three 3x3
  # stride-1 convs on 4x4 maps, which Winograd runs (conv_cpu.cpu_impl).
  hlo = jax.jit(functools.partial(model.apply, train=False)).lower(variables, x).as_text()
  assert hlo.count('medaug_onednn_conv_bias') == 17
  train = jax.jit(functools.partial(model.apply, train=True, mutable=['batch_stats']))
  assert 'medaug_onednn_conv_bias' not in train.lower(variables, x).as_text()


@pytest.mark.parametrize('size', [8, 7])
def test_downsampling_block_pads_like_pytorch(size):
  """Output pixel (0, 0) of a stride-2 block sees input rows and columns 0-3
  with PyTorch's padding=1 (the MedMNIST ResNet-18); Flax's 'SAME' pads an
  even map by (0, 1) and would make it 0-4."""
  conv = functools.partial(nn.Conv, use_bias=False,
                           conv_general_dilated=conv_cpu.conv_general_dilated)
  norm = functools.partial(resnet._MaskedBatchNorm, use_running_average=True, momentum=0.9,  # pylint: disable=protected-access
                           epsilon=1e-5, dtype=jnp.float32)
  block = resnet.BasicBlock(4, 2, conv, norm)
  x = jnp.ones((1, size, size, 3))
  variables = block.init(jax.random.key(0), x)
  assert block.apply(variables, x).shape == (1, 4, 4, 4)
  grad = jax.grad(lambda x: block.apply(variables, x)[0, 0, 0].sum())(x)
  seen = np.flatnonzero(np.abs(np.asarray(grad[0, :, :, 0])).sum(1) > 0)
  assert seen.tolist() == [0, 1, 2, 3]


@pytest.mark.skipif(not onednn.available('batch_norm'), reason='oneDNN is x86-64 Linux only')
def test_resnet_train_step_with_onednn_batch_norm_matches_flax():
  """The same variables (names, initial values), loss, gradients and new
  running statistics with oneDNN's batch norm as with nn.BatchNorm, on a
  short last batch (padded rows masked)."""
  model = resnet.ResNet(num_classes=3, width=8)
  x = jax.random.normal(jax.random.key(1), (10, 28, 28, 1))
  mask = jnp.arange(10) < 7

  def step():
    variables = jax.jit(model.init, static_argnames='train')(jax.random.key(0), x, train=True)

    def loss(params):
      logits, new = model.apply({'params': params, 'batch_stats': variables['batch_stats']}, x,
                                train=True, mask=mask, mutable=['batch_stats'])
      return jnp.sum(jnp.where(mask[:, None], logits, 0.) ** 2), new
    jaxpr = str(jax.make_jaxpr(loss)(variables['params']))
    return jax.jit(jax.value_and_grad(loss, has_aux=True))(variables['params']), variables, jaxpr

  ours, ours_vars, ours_jaxpr = step()
  with onednn.turned_off('batch_norm'):
    ref, ref_vars, ref_jaxpr = step()
  # 20 batch norms: the stem, two in each of 8 blocks, one on each of 3
  # projections; the stem's and each block's first with their ReLU.
  assert ours_jaxpr.count('medaug_onednn_batch_norm_relu_forward') == 9
  assert ours_jaxpr.count('medaug_onednn_batch_norm_forward') == 11
  assert 'batch_norm_forward' not in ref_jaxpr
  assert jax.tree.structure(ours_vars) == jax.tree.structure(ref_vars)
  # Relative to each array's largest value: the two compute the variance
  # differently (two passes; E[x^2] - E[x]^2), which moves small gradients.
  errs = [float(jnp.max(jnp.abs(a - b)) / jnp.maximum(jnp.max(jnp.abs(b)), 1e-30))
          for a, b in zip(jax.tree.leaves((ours_vars, ours)), jax.tree.leaves((ref_vars, ref)))]
  assert max(errs) < 1e-4, errs


@pytest.mark.skipif(not onednn.runs(jnp.bfloat16, 'conv'),
                    reason='a CPU without bfloat16 arithmetic, or without oneDNN')
def test_bfloat16_train_step_runs_on_onednn_as_accurately_as_xla():
  """classifier.dtype='bfloat16' on a CPU with bfloat16 arithmetic: every
  batch norm and all convs but layer4's 4x4 ones (Winograd, in float32) are
  oneDNN's bfloat16 calls, and the step is as close to the float32 one as
  XLA's own bfloat16 step is (bfloat16 gradients are that far off at this
  width: about 25% of their norm, either way)."""
  x = jax.random.normal(jax.random.key(1), (10, 28, 28, 1))
  mask = jnp.arange(10) < 7

  def step(dtype):
    model = resnet.ResNet(num_classes=3, width=8, dtype=dtype)
    variables = jax.jit(model.init, static_argnames='train')(jax.random.key(0), x, train=True)

    def loss(params):
      logits, new = model.apply({'params': params, 'batch_stats': variables['batch_stats']}, x,
                                train=True, mask=mask, mutable=['batch_stats'])
      return jnp.sum(jnp.where(mask[:, None], logits, 0.) ** 2), new
    fn = jax.jit(jax.value_and_grad(loss, has_aux=True))
    (value, stats), grads = fn(variables['params'])
    return value, stats, grads, fn.lower(variables['params']).as_text()

  def rel(a, b):
    a, b = jax.tree.leaves(a), jax.tree.leaves(b)
    return float(jnp.sqrt(sum(jnp.sum((u - v) ** 2) for u, v in zip(a, b))
                          / sum(jnp.sum(v ** 2) for v in b)))

  want = step(jnp.float32)
  ours = step(jnp.bfloat16)
  with onednn.turned_off():
    xla = step(jnp.bfloat16)
  assert ours[3].count('medaug_onednn_conv_forward') == 17
  assert ours[3].count('medaug_onednn_batch_norm') == 40  # 20 norms, forward and backward
  assert 'medaug_onednn' not in xla[3]
  assert jax.tree.leaves(ours[2])[0].dtype == jnp.float32  # the parameters stay float32
  for got in (ours, xla):
    assert abs(float(got[0]) - float(want[0])) < 2e-2 * abs(float(want[0]))
    assert rel(got[1], want[1]) < 2e-3  # the new running statistics
  assert rel(ours[2], want[2]) < 1.25 * rel(xla[2], want[2])


@pytest.mark.parametrize('name', ['classifier', 'dcgan', 'diffusion'])
def test_init_at_lower_optimisation_level_gives_the_same_values(name):
  """trainer.jit_init compiles at a lower XLA level on CPU; every initial
  value must stay bit for bit the default compile's."""
  from conftest import tiny_config  # pylint: disable=g-import-not-at-top
  from medaug_jax import classifier, config_lib, generators, trainer  # pylint: disable=g-import-not-at-top
  if name == 'classifier':
    cfg = tiny_config().classifier
    cfg.width = 8
    obj = classifier.Classifier(cfg, 3, False, 4)
  else:
    cfg = config_lib.method_config(name).generator
    obj = generators.get(name)(cfg, 3, (28, 28, 3))
  images, labels = np.zeros((1, 28, 28, 3), np.uint8), np.zeros((1,), np.int32)
  key = jax.random.key(3)
  ours = jax.tree.leaves(trainer.jit_init(obj.init)(key, images, labels))
  ref = jax.tree.leaves(jax.jit(obj.init)(key, images, labels))
  assert len(ours) == len(ref) > 0
  for a, b in zip(ours, ref):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
