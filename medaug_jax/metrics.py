"""AUC and ACC with the official MedMNIST semantics (medmnist.evaluator)."""
import numpy as np
from sklearn.metrics import roc_auc_score


def _auc(y, s):
  # A split that lacks one side of a binary question has no AUC; the official
  # evaluator would raise here, a small validation set should not.
  if np.unique(y).size < 2:
    return float('nan')
  return float(roc_auc_score(y, s))


def auc(y_true, y_score, task):
  """Binary: AUC of the positive-class score; multi-class: mean one-vs-rest
  AUC; multi-label: mean per-label AUC. y_score are probabilities."""
  y_score = np.asarray(y_score, np.float64)
  y_true = np.asarray(y_true)
  if task.startswith('multi-label'):
    return float(np.mean([_auc(y_true[:, i], y_score[:, i])
                          for i in range(y_score.shape[1])]))
  y_true = y_true.reshape(-1)
  if task == 'binary-class':
    return _auc(y_true, y_score[:, -1] if y_score.ndim == 2 else y_score)
  return float(np.mean([_auc(y_true == i, y_score[:, i])
                        for i in range(y_score.shape[1])]))


def acc(y_true, y_score, task, threshold=0.5):
  """Binary: positive score > threshold; multi-class: argmax; multi-label:
  mean per-label accuracy at threshold."""
  y_score = np.asarray(y_score)
  y_true = np.asarray(y_true)
  if task.startswith('multi-label'):
    return float(np.mean((y_score > threshold) == (y_true > 0.5)))
  y_true = y_true.reshape(-1)
  if task == 'binary-class':
    pos = y_score[:, -1] if y_score.ndim == 2 else y_score
    return float(np.mean((pos > threshold) == y_true))
  return float(np.mean(np.argmax(y_score, -1) == y_true))


def log_loss(y_true, y_score, task, eps=1e-7):
  """Mean cross-entropy of probabilities (BCE per label for multi-label)."""
  p = np.clip(np.asarray(y_score, np.float64), eps, 1 - eps)
  y_true = np.asarray(y_true)
  if task.startswith('multi-label'):
    return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)))
  y_true = y_true.reshape(-1).astype(int)
  return float(-np.mean(np.log(p[np.arange(len(y_true)), y_true])))
