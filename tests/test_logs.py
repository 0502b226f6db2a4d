"""metrics.jsonl and its TensorBoard view: written together, rewound together."""
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import read_events
from medaug_jax.logs import MetricsLog


def _record(phase, epoch, loss):
  return {'phase': phase, 'epoch': epoch, 'loss': loss, 'epoch_s': 0.1}


def test_rewind_rebuilds_events_without_repeats(tmp_path):
  log = MetricsLog(str(tmp_path / 'metrics.jsonl'), [str(tmp_path)])
  for e in (1, 2, 3):
    log.append(_record('generator:x', e, 1.0 / e))
  for e in (1, 2, 3):
    log.append(_record('classifier', e, 2.0 / e))
  with open(tmp_path / 'metrics.jsonl', 'a') as f:
    f.write('{"phase": "classifier", "epo')  # the torn line of a killed run
  log.close()
  # Resumed after the classifier's epoch-2 checkpoint.
  log = MetricsLog(str(tmp_path / 'metrics.jsonl'), [str(tmp_path)])
  log.rewind('classifier', 2)
  log.append(_record('classifier', 3, 0.5))
  log.close()
  lines = [json.loads(l) for l in open(tmp_path / 'metrics.jsonl')]
  assert [(l['phase'], l['epoch']) for l in lines] == \
      [('generator:x', 1), ('generator:x', 2), ('generator:x', 3),
       ('classifier', 1), ('classifier', 2), ('classifier', 3)]
  loss = sorted((step, v) for tag, step, v in read_events(str(tmp_path))
                if tag == 'classifier/loss')
  assert loss == [(1, 2.0), (2, 1.0), (3, 0.5)]
  tags = [tag for tag, _, _ in read_events(str(tmp_path))]
  assert tags.count('generator/x/loss') == 3
  assert set(tags) == {'generator/x/loss', 'generator/x/epoch_s', 'classifier/loss',
                       'classifier/epoch_s'}


def test_vmapped_group_writes_each_seed_its_values(tmp_path):
  dirs = [str(tmp_path / 's0'), str(tmp_path / 's1')]
  log = MetricsLog(str(tmp_path / 'metrics.jsonl'), dirs)
  log.append({'phase': 'classifier', 'epoch': 1, 'loss': [0.25, 0.75], 'note': 'x'})
  png = tmp_path / 'grid.png'
  Image.fromarray(np.full((6, 10, 3), 200, np.uint8)).save(png)
  log.image(1, 'generator/x/samples', str(png), 5)
  log.close()
  assert read_events(dirs[0]) == [('classifier/loss', 1, 0.25)]
  events = {tag: (step, v) for tag, step, v in read_events(dirs[1])}
  assert events['classifier/loss'] == (1, 0.75)
  step, blob = events['generator/x/samples']
  assert step == 5 and blob.startswith(b'\x89PNG')


def test_no_tensorboard(tmp_path):
  log = MetricsLog(str(tmp_path / 'metrics.jsonl'))
  log.append(_record('classifier', 1, 1.0))
  log.rewind('classifier', 0)
  assert list(tmp_path.iterdir()) == [tmp_path / 'metrics.jsonl']


@pytest.mark.skipif(importlib.util.find_spec('torch') is None, reason='torch is not installed')
def test_events_do_not_import_torch(tmp_path):
  script = ('import sys; from medaug_jax.logs import MetricsLog; '
            f'log = MetricsLog({str(tmp_path / "m.jsonl")!r}, [{str(tmp_path)!r}]); '
            "log.append({'phase': 'p', 'epoch': 1, 'loss': 1.0}); log.close(); "
            "print('torch' in sys.modules); import torch; print(torch.__version__)")
  done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                        check=True)
  imported, version = done.stdout.split()
  assert imported == 'False'
  assert version[0].isdigit()  # and torch still imports after it
