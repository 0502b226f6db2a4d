"""ResNet-18 shapes and the CPU kernel-gradient path against plain lax."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from medaug_jax import models


# 5 input channels take the XLA conv with the dots kernel gradient, 16 the
# im2col matmul.
@pytest.mark.parametrize('cin', [5, 16])
@pytest.mark.parametrize('kernel,stride', [((3, 3), 1), ((3, 3), 2), ((1, 1), 2)])
def test_conv_values_and_gradients_match_lax(kernel, stride, cin):
  kx, kw, kd = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (6, 14, 14, cin))
  w = jax.random.normal(kw, kernel + (cin, 7))
  dims = ('NHWC', 'HWIO', 'NHWC')

  def loss(conv, x, w):
    y = conv(x, w, (stride, stride), 'SAME', dimension_numbers=dims)
    return jnp.sum(y * jax.random.normal(kd, y.shape))

  ours = jax.value_and_grad(lambda x, w: loss(models.conv_general_dilated, x, w), (0, 1))(x, w)
  ref = jax.value_and_grad(lambda x, w: loss(jax.lax.conv_general_dilated, x, w), (0, 1))(x, w)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('channels', [1, 3])
def test_resnet18_shapes_and_size(channels):
  model = models.resnet18(num_classes=9)
  x = jnp.zeros((2, 28, 28, channels))
  variables = model.init(jax.random.key(0), x, train=False)
  assert model.apply(variables, x, train=False).shape == (2, 9)
  n = sum(p.size for p in jax.tree.leaves(variables['params']))
  # torchvision-style ResNet-18 with a 3x3 stem and a 9-way head: 11.18M.
  assert 11.1e6 < n < 11.3e6
