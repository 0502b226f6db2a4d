"""The ResNet-18 classifier as a trainer objective, and its evaluation."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from medaug_jax import metrics, trainer, transforms
from medaug_jax.models import resnet
from medaug_jax.trainer import TrainState, masked_mean


def normalize(images):
  """uint8 -> [-1, 1], as MedMNIST's transforms.Normalize(mean=.5, std=.5)."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def make_optimizer(cfg, steps_per_epoch):
  """SGD (the paper) or Adam (the MedMNIST recipe), with optional lr drops at
  fractions `lr_milestones` of training."""
  boundaries = {int(m * cfg.epochs) * steps_per_epoch: cfg.lr_decay
                for m in cfg.lr_milestones}
  lr = optax.piecewise_constant_schedule(cfg.lr, boundaries) if boundaries else cfg.lr
  if cfg.optimizer == 'sgd':
    tx = optax.sgd(lr, momentum=cfg.momentum or None)
  else:
    tx = optax.adam(lr)
  if cfg.weight_decay:
    tx = optax.chain(optax.add_decayed_weights(cfg.weight_decay), tx)
  return tx


class Classifier:
  """ResNet-18 trained with cross-entropy (BCE for multi-label tasks)."""

  def __init__(self, cfg, num_classes, multi_label, steps_per_epoch):
    dtype = trainer.COMPUTE_DTYPES[cfg.dtype]
    self.augment, self.augment_params = cfg.augment, cfg.augment_params
    self.model = resnet.resnet18(num_classes, width=cfg.width, dtype=dtype)
    self.multi_label = multi_label
    self.tx = make_optimizer(cfg, steps_per_epoch)

  def init(self, rng, images, labels):
    del labels
    variables = self.model.init(rng, normalize(images[:1]), train=False)
    params = variables['params']
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=self.tx.init(params),
                      model_state={'batch_stats': variables['batch_stats']})

  def loss_terms(self, logits, labels):
    if self.multi_label:
      return optax.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32)).mean(-1)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)

  def train_inputs(self, images, rng):
    """The batch as the network sees it in training: classic augmentation
    (transforms.py) unless the policy is 'none', then [-1, 1]."""
    if self.augment == 'none':
      return normalize(images)
    return 2.0 * transforms.augment(self.augment, self.augment_params, rng, images) - 1.0

  def train_step(self, state, images, labels, mask, rng):
    x = self.train_inputs(images, rng)

    def loss_fn(params):
      logits, new_ms = self.model.apply(
          {'params': params, **state.model_state}, x,
          train=True, mask=mask, mutable=['batch_stats'])
      return masked_mean(self.loss_terms(logits, labels), mask), (logits, new_ms)

    (loss, (logits, new_ms)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    if self.multi_label:
      correct = ((logits > 0) == (labels > 0)).mean(-1)
    else:
      correct = jnp.argmax(logits, -1) == labels
    return (state.apply_gradients(self.tx, grads, model_state=new_ms),
            {'loss': loss, 'train_acc': masked_mean(correct.astype(jnp.float32), mask)})

  def probabilities(self, state, images):
    logits = self.model.apply({'params': state.params, **state.model_state},
                              normalize(images), train=False)
    return jax.nn.sigmoid(logits) if self.multi_label else jax.nn.softmax(logits)

  def features(self, state, images):
    """The network's pooled penultimate features (an image embedding)."""
    return self.model.apply({'params': state.params, **state.model_state},
                            normalize(images), train=False, features=True)


class Evaluator:
  """Scores fixed image sets held on the device, in large jitted batches."""

  def __init__(self, objective, mesh, batch_size=1024, num_seeds=None, output='probabilities'):
    self.mesh = mesh
    self.batch_size = batch_size - batch_size % mesh.size or mesh.size
    self.num_seeds = num_seeds
    sharding = NamedSharding(mesh, P('data'))
    apply = getattr(objective, output)  # 'probabilities' or 'features'

    def predict(state, x):
      out = apply(state, jax.lax.with_sharding_constraint(x, sharding))
      # Replicated, so that every process of a multi-host run can read them
      # (a batch-sharded output spans other hosts' devices).
      return jax.lax.with_sharding_constraint(out, NamedSharding(mesh, P()))

    self._predict = jax.jit(jax.vmap(predict) if num_seeds else predict)

  def put(self, *sets):
    """Places image sets on the device, padded to whole batches, as one.

    Sets placed together (val and test) are scored by one compiled program
    in one pass: two sets of their own sizes cost two compilations of the
    network's forward pass (about 6 s each on a 2-core CPU). The batches are
    as even as eval batch size allows, so little is padded: a fixed batch of
    1024 made scoring BreastMNIST's 78 val images cost more than training on
    CPU.
    """
    sizes = [s.shape[-4] for s in sets]
    images = np.concatenate(sets, axis=-4) if len(sets) > 1 else sets[0]
    n = images.shape[-4]
    batches = -(-n // self.batch_size)
    batch = -(-n // (batches * self.mesh.size)) * self.mesh.size
    total = -(-n // batch) * batch
    pad = [(0, 0)] * images.ndim
    pad[-4] = (0, total - n)
    x = np.pad(images, pad)
    shape = x.shape[:-4] + (total // batch, batch) + x.shape[-3:]
    x = x.reshape(shape)
    return jax.device_put(x, NamedSharding(self.mesh, P())), sizes

  def scores(self, state, placed):
    """One array of scores per set given to `put`, in order."""
    x, sizes = placed
    axis = 1 if self.num_seeds else 0
    parts = [self._predict(state, jnp.take(x, i, axis=axis))
             for i in range(x.shape[axis])]
    out = np.concatenate(jax.device_get(parts), axis=axis)
    out = out[:, :sum(sizes)] if self.num_seeds else out[:sum(sizes)]
    return np.split(out, np.cumsum(sizes)[:-1], axis=axis)


def select(history, s=None):
  """The epoch with the best validation AUC, and the test-selected figures
  the paper reported.

  A val set of a few dozen images often reaches AUC 1.0 within a couple of
  epochs; ties are broken by the lower validation loss (then the earlier
  epoch), rather than always taking the first, undertrained, epoch.
  """
  get = (lambda r, k: r[k]) if s is None else (lambda r, k: r[k][s])
  vals = np.array([get(r, 'val_auc') for r in history], np.float64)
  vals = np.where(np.isnan(vals), -np.inf, vals)
  losses = np.array([get(r, 'val_loss') for r in history], np.float64)
  i = int(np.lexsort((np.nan_to_num(losses, nan=np.inf), -vals))[0])
  test_auc = [get(r, 'test_auc') for r in history]
  test_acc = [get(r, 'test_acc') for r in history]
  return {
      'selected': {'epoch': history[i]['epoch'], 'val_auc': get(history[i], 'val_auc'),
                   'val_acc': get(history[i], 'val_acc'), 'val_loss': get(history[i], 'val_loss'),
                   'test_auc': test_auc[i], 'test_acc': test_acc[i]},
      'best_test': {'auc': float(np.nanmax(test_auc)), 'acc': float(np.nanmax(test_acc)),
                    'auc_epoch': int(np.nanargmax(test_auc)) + 1,
                    'acc_epoch': int(np.nanargmax(test_acc)) + 1,
                    'note': 'test-selected, optimistic: the figure the paper reports'},
      'last': {'epoch': history[-1]['epoch'], 'test_auc': test_auc[-1],
               'test_acc': test_acc[-1]},
  }


def evaluate_scores(labels, scores, task):
  return {'auc': metrics.auc(labels, scores, task), 'acc': metrics.acc(labels, scores, task),
          'loss': metrics.log_loss(labels, scores, task)}


def fit_and_score(cfg, train, dataset, rng, scored=('val', 'test'), phase='classifier'):
  """A single-seed ResNet-18 trained on `train` (a data.Split) with the recipe
  `cfg`, scored on `dataset`'s `scored` splits after every epoch; returns
  (objective, final state, per-epoch history with {split}_auc/_acc/_loss).
  For the runs that need no checkpoints, vmapped seeds or logs: the quality
  reference network and the classification accuracy score."""
  mesh = trainer.make_mesh()
  obj = Classifier(cfg, dataset.num_classes, dataset.multi_label,
                   -(-len(train) // cfg.batch_size))
  k_init, k_train = jax.random.split(rng)
  state = trainer.replicate(trainer.jit_init(obj.init)(k_init, train.images[:1], train.labels[:1]), mesh)
  ev = Evaluator(obj, mesh, cfg.eval_batch_size)
  placed = ev.put(*[getattr(dataset, name).images for name in scored])

  def evaluate(state, epoch, history):
    del epoch, history
    out = {}
    for name, scores in zip(scored, ev.scores(state, placed)):
      r = evaluate_scores(getattr(dataset, name).labels, scores, dataset.task)
      out.update({f'{name}_{k}': v for k, v in r.items()})
    return out

  result = trainer.fit(obj, state, trainer.replicate(jnp.asarray(train.images), mesh),
                       trainer.replicate(jnp.asarray(train.labels), mesh), phase=phase,
                       epochs=cfg.epochs, batch_size=cfg.batch_size,
                       rng=jax.random.key_data(k_train), mesh=mesh, evaluate=evaluate,
                       print_every=0)
  return obj, result.state, result.history
