"""Our AUC/ACC against the official medmnist evaluator on random scores."""
import numpy as np
import pytest

from medaug_jax import metrics

evaluator = pytest.importorskip('medmnist.evaluator')


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize('task,n_classes', [('binary-class', 2), ('multi-class', 9),
                                            ('ordinal-regression', 5)])
def test_single_label_parity(task, n_classes):
  rng = np.random.default_rng(n_classes)
  for trial in range(5):
    y = rng.integers(0, n_classes, size=(200, 1))
    scores = _softmax(rng.normal(size=(200, n_classes)) + 1.5 * np.eye(n_classes)[y[:, 0]] * trial / 4)
    assert metrics.auc(y, scores, task) == pytest.approx(evaluator.getAUC(y, scores, task), abs=1e-12)
    assert metrics.acc(y, scores, task) == pytest.approx(evaluator.getACC(y, scores, task), abs=1e-12)


def test_multi_label_parity():
  task = 'multi-label, binary-class'
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, size=(300, 14))
  scores = 1 / (1 + np.exp(-(rng.normal(size=(300, 14)) + y)))
  assert metrics.auc(y, scores, task) == pytest.approx(evaluator.getAUC(y, scores, task), abs=1e-12)
  assert metrics.acc(y, scores, task) == pytest.approx(evaluator.getACC(y, scores, task), abs=1e-12)


def test_known_values():
  y = np.array([0, 0, 1, 1])
  perfect = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
  assert metrics.auc(y, perfect, 'binary-class') == 1.0
  assert metrics.auc(y, perfect[:, ::-1], 'binary-class') == 0.0
  assert metrics.acc(y, perfect, 'binary-class') == 1.0
