"""The launch/ files cannot rot: the Colab notebook's code runs on CPU with a
tiny synthetic grid, the shell scripts parse."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, 'launch', 'colab_tpu.ipynb')

TINY = '''
OVERRIDES = {
    'datasets': ('synthetic',), 'methods': ('none', 'cvae'), 'seeds': (0, 1),
    # The notebook's own setting: seed by seed on this CPU. (A vmapped
    # ResNet-18 compiles to grouped convolutions, minutes on 2 cores;
    # test_grid.py covers vmapped cells.)
    'base.vmap_seeds': 'auto',
    # tests/test_grid.py's tiny_grid sizes, whose compiled programs the
    # persistent compilation cache holds by now.
    'base.data.train_per_class': 24,
    'base.classifier.width': 1, 'base.classifier.epochs': 2,
    'base.classifier.batch_size': 16, 'base.classifier.eval_batch_size': 64,
    'base.classifier.print_every': 0,
    'base.generator.num_per_class': 8, 'base.generator.print_every': 0,
    'base.generator.batch_size': 32,
    'generators.cvae.epochs': 2, 'generators.cvae.hidden': (32, 16),
    'generators.cvae.latent': 4,
    # The tests' reference network (tests/test_grid.py), not a width-16 one
    # trained for 10 epochs on 2 cores.
    'base.quality.reference.width': 1, 'base.quality.reference.epochs': 2,
}
WORKDIR = WORKDIR_FOR_TEST
'''


def code_cells():
  """[(source, tags)] of the notebook's code cells, shell and magic lines
  (!pip, %cd) dropped: the test runs in the repository already installed."""
  with open(NOTEBOOK) as f:
    nb = json.load(f)
  assert nb['nbformat'] == 4
  out = []
  for cell in nb['cells']:
    if cell['cell_type'] != 'code':
      continue
    src = ''.join(cell['source'])
    lines = [l for l in src.splitlines() if not l.lstrip().startswith(('!', '%'))]
    out.append(('\n'.join(lines), cell.get('metadata', {}).get('tags', [])))
  return out


def test_notebook_is_valid():
  nbformat = pytest.importorskip('nbformat')
  nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))
  cells = code_cells()
  assert sum('parameters' in tags for _, tags in cells) == 1
  src = json.dumps(json.load(open(NOTEBOOK)))
  assert 'pip install' in src and 'jax.devices()' in src and 'grid.run(' in src


def test_notebook_runs_a_tiny_grid_on_cpu(tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(ROOT)
  workdir = str(tmp_path / 'runs')
  namespace = {'__name__': '__main__'}
  for src, tags in code_cells():
    exec(compile(src, NOTEBOOK, 'exec'), namespace)  # pylint: disable=exec-used
    if 'parameters' in tags:
      exec(TINY.replace('WORKDIR_FOR_TEST', repr(workdir)), namespace)  # pylint: disable=exec-used
  statuses = namespace['statuses']
  assert [(s['method'], s['state']) for s in statuses] == [('none', 'done'),
                                                            ('cvae', 'done')]
  out = capsys.readouterr().out
  assert 'devices:' in out and '| synthetic | cvae | 2/2 |' in out
  for name in ('report.md', 'report.csv', 'plot_synthetic.png', 'gallery_synthetic.png'):
    assert os.path.exists(os.path.join(workdir, name)), name


@pytest.mark.parametrize('script', ['local.sh', 'tpu_vm.sh', 'device_grid.sh'])
def test_scripts_parse(script):
  path = os.path.join(ROOT, 'launch', script)
  assert os.access(path, os.X_OK)
  subprocess.run(['bash', '-n', path], check=True)


def test_tpu_script_initializes_distributed():
  with open(os.path.join(ROOT, 'launch', 'tpu_vm.sh')) as f:
    src = f.read()
  assert 'MEDAUG_MULTIHOST=1' in src and '--worker=all' in src
