"""The package's shape: no module imports one above it, and a new generator
is exactly one module and one config file, found by name."""
import ast
import fnmatch
import os
import sys

import pytest

import configs
from conftest import ROOT
from medaug_jax import generators, grid, report
from test_grid import tiny_grid

# Bottom to top; a module may import only from layers below its own. First
# matching pattern wins.
LAYERS = (
    ('errors', 'rngs', 'hostmem', 'metrics', 'interrupt'),
    ('files',),
    ('ops.onednn',),
    ('checkpoint', 'data', 'config_lib', 'logs', 'pictures', 'ops', 'ops.*', 'workdir'),
    ('models', 'models.*', 'trainer', 'transforms'),
    ('classifier', 'generators', 'generators.base'),
    ('quality._reference', 'quality.prdc'),
    ('quality', 'quality.*'),
    ('generators.phase',),
    ('generators.*',),
    ('run', 'report', 'cli', 'bench.torch_twins', 'bench.machine', 'bench.worker'),
    ('grid', 'main', 'bench', 'bench.layers', 'bench.throughput', 'bench.end_to_end',
     'bench.sampler'),
    ('bench.__main__', 'bench.cost', 'bench.profile', 'dispatch'),
)


def _layer(module):
  for i, patterns in enumerate(LAYERS):
    if any(fnmatch.fnmatch(module, p) for p in patterns):
      return i
  raise AssertionError(f'medaug_jax.{module} is in no layer of tests/test_layout.py')


def _modules():
  pkg = os.path.join(ROOT, 'medaug_jax')
  for folder, _, files in os.walk(pkg):
    for f in files:
      if f.endswith('.py'):
        rel = os.path.relpath(os.path.join(folder, f), pkg)[:-3].replace(os.sep, '.')
        yield rel.removesuffix('.__init__').removesuffix('__init__'), os.path.join(folder, f)


def _imports(path, names):
  """The medaug_jax modules a file imports (function-level imports too)."""
  with open(path) as f:
    tree = ast.parse(f.read())
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      targets = [f'{node.module}.{a.name}' for a in node.names]
      targets = [t if t.removeprefix('medaug_jax.') in names else node.module for t in targets]
    else:
      continue
    out |= {t.removeprefix('medaug_jax.') for t in targets if t.startswith('medaug_jax.')}
  return out


def test_no_module_imports_one_above_it():
  modules = dict(_modules())
  modules.pop('', None)  # the package's own __init__
  bad = []
  for name, path in modules.items():
    for target in _imports(path, modules):
      if target == name.rsplit('.', 1)[0]:
        continue  # a module may import its own package (generators.phase -> generators)
      if _layer(target) >= _layer(name):
        bad.append(f'{name} (layer {_layer(name)}) imports {target} (layer {_layer(target)})')
  assert not bad, '\n'.join(bad)


TOY_GENERATOR = '''
"""A per-class mean image with noise: the smallest generator."""
import jax
import jax.numpy as jnp

from medaug_jax.generators.base import OneNetwork


class Objective(OneNetwork):

  def init_params(self, rng, x, c):
    return {'logits': jnp.zeros((self.num_classes, self.dim))}

  def loss(self, params, x, c, rng):
    return jnp.mean((jax.nn.sigmoid(c @ params['logits']) - x) ** 2, -1), {}

  def sample(self, state, rng, labels, real_images, real_labels):
    mean = jax.nn.sigmoid(state.params['logits'][jnp.asarray(labels)])
    noise = self.cfg.noise * jax.random.normal(rng, mean.shape)
    return self.to_images(jnp.clip(mean + noise, 0.0, 1.0))
'''

TOY_CONFIG = '''
from configs import default


def get_config():
  config = default.get_config()
  config.method = 'toygen'
  config.generator.lr = 0.05
  config.generator.noise = 0.05
  return config
'''


@pytest.fixture
def toy_generator(tmp_path, monkeypatch):
  """generators/toygen.py and configs/toygen.py, in folders of their own."""
  (tmp_path / 'gen').mkdir()
  (tmp_path / 'gen' / 'toygen.py').write_text(TOY_GENERATOR)
  (tmp_path / 'cfg').mkdir()
  (tmp_path / 'cfg' / 'toygen.py').write_text(TOY_CONFIG)
  monkeypatch.setattr(generators, '__path__', generators.__path__ + [str(tmp_path / 'gen')])
  monkeypatch.setattr(configs, '__path__', configs.__path__ + [str(tmp_path / 'cfg')])
  yield
  for name in ('medaug_jax.generators.toygen', 'configs.toygen'):
    sys.modules.pop(name, None)


def test_a_new_generator_is_one_module_and_one_config(toy_generator, tmp_path):
  assert 'toygen' in generators.available()
  g = tiny_grid(methods=('none', 'toygen'), vmap=False)
  g.seeds = (0,)
  workdir = str(tmp_path / 'grid')
  statuses = grid.run_grid(g, workdir)
  assert [(s['method'], s['state']) for s in statuses] == [('none', 'done'), ('toygen', 'done')]
  rows = {r['method']: r for r in report.rows(report.collect(workdir))}
  assert rows['toygen']['status'] == 'ok'
  # Its config file's fields reached the cell (noise is a field only it has).
  cell = grid.cell_config(g, 'synthetic', 'toygen')
  assert (cell.generator.noise, cell.generator.lr) == (0.05, 0.05)
  # The mean images carry their class.
  assert rows['toygen']['quality']['label_agreement'] >= 0.9
