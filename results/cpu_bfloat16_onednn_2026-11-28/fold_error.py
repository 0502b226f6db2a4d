"""The bfloat16 eval pass, folded (ours) and XLA's, against the float32 pass
on the same variables: width-8 ResNet-18, the perturbed variables of
tests/test_models.py::test_eval_pass_folds_each_norm_into_its_conv; the
largest error of the logits and the features, relative to their largest
value.

  .venv/bin/python results/cpu_bfloat16_onednn_2026-11-28/fold_error.py
"""
import functools

import jax
import jax.numpy as jnp

from medaug_jax.models import resnet
from medaug_jax.ops import onednn

model = resnet.resnet18(num_classes=3, width=8, dtype=jnp.bfloat16)
x = jax.random.uniform(jax.random.key(0), (6, 28, 28, 3))
variables = model.init(jax.random.key(1), x, train=True)
keys = iter(jax.random.split(jax.random.key(2), 200))
variables = {
    'params': jax.tree.map(lambda a: a + .2 * jax.random.normal(next(keys), a.shape),
                           variables['params']),
    'batch_stats': jax.tree.map(lambda a: a + .3 * jax.random.uniform(next(keys), a.shape),
                                variables['batch_stats'])}
rel = lambda a, b: float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
for features in (False, True):
  apply = lambda m: jax.jit(functools.partial(m.apply, train=False, features=features))
  f32 = apply(resnet.resnet18(num_classes=3, width=8))(variables, x)
  with onednn.turned_off():
    xla = apply(model)(variables, x)
  ours = apply(model)(variables, x)
  print('features' if features else 'logits',
        f'ours vs XLA bfloat16 {rel(ours, xla):.4f}, against float32: ours {rel(ours, f32):.4f},'
        f' XLA bfloat16 {rel(xla, f32):.4f}')
