"""One generic trainer for the classifier and every generator.

An *objective* brings only what is specific to a model:
  init(rng, images, labels) -> TrainState
  train_step(state, images, labels, mask, rng) -> (state, {name: scalar})
with images uint8 NHWC as stored, and mask marking the real rows of a batch.
Everything else lives here: the on-device dataset, the seeded shuffle, the
jitted step with donated state, data parallelism over a device mesh, the
optional vmap over seeds, per-epoch logging, divergence checks, checkpoints.
"""
import dataclasses
import time
from typing import Any, Callable, Optional

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from medaug_jax import interrupt
from medaug_jax.checkpoint import Checkpoints
from medaug_jax.errors import MedaugError


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  model_state: Any  # BatchNorm statistics etc.; {} when a model has none

  def apply_gradients(self, tx, grads, **changes):
    """One optimiser step of the whole state (one network, one optimiser)."""
    params, opt_state = optimizer_update(tx, grads, self.opt_state, self.params)
    return self.replace(step=self.step + 1, params=params, opt_state=opt_state, **changes)


# Compute dtypes a model's `dtype` config field may name: float32, or
# bfloat16 mixed precision (float32 weights, optimiser and normalisation
# statistics; bfloat16 activations and convolutions).
COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def optimizer_update(tx, grads, opt_state, params):
  """The optax update every objective goes through: (params, opt_state)."""
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def make_mesh(devices=None):
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), ('data',))


def jit_init(init):
  """jax.jit(init) for a model's initial variables: one program, not one per op.

  On CPU it is compiled at XLA's backend optimisation level 1: a ResNet-18's
  init compiled in 3.5 s instead of 7.9 s, ran as fast (0.2 s) and gave the
  same 33.5 million values bit for bit (BENCHMARKS.md, "What our run spends
  outside its train steps"); level 0 changed some by an ulp. The program runs
  once, so the level's slower code costs nothing.
  """
  if jax.default_backend() != 'cpu':
    return jax.jit(init)
  return jax.jit(init, compiler_options={'xla_backend_optimization_level': 1})


def replicate(tree, mesh):
  return jax.device_put(tree, NamedSharding(mesh, P()))


def masked_mean(values, mask):
  mask = mask.astype(values.dtype)
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def epoch_batches(rng, n, batch_size):
  """A seeded shuffle of n rows as [steps, batch] indices and validity mask.

  The last batch is padded to full size with masked rows, so every image is
  seen once per epoch and every step has one shape (one compilation), like a
  PyTorch loader with drop_last=False.
  """
  steps = -(-n // batch_size)
  perm = jax.random.permutation(rng, n)
  pad = steps * batch_size - n
  # Padded rows are masked out; modulo keeps sets smaller than a batch valid.
  idx = jnp.concatenate([perm, perm[jnp.arange(pad) % n]]) if pad else perm
  mask = jnp.arange(steps * batch_size) < n
  return idx.reshape(steps, batch_size), mask.reshape(steps, batch_size)


# A short last step costs a second trace and compilation of the step (about
# 19 s for the width-64 ResNet-18 on a 2-core CPU, the time of ~8 full steps):
# worth it only when the padded rows it saves over the run add up to more.
SHORT_TAIL_MIN_STEPS = 10


def last_batch_rows(n, batch_size, epochs, mesh, last_batch='auto'):
  """Rows the epoch's last step runs on: 0 when it runs padded to a full batch.

  'padded' always pads (one shape, one compilation); 'short' runs the
  remainder as a batch of its own, rounded up to the device count; 'auto'
  is short on CPU when the padding over all `epochs` would amount to at least
  SHORT_TAIL_MIN_STEPS full steps. On CPU a step's time grows with its rows:
  BreastMNIST's 546 images padded to 5 x 128 train 17% more rows than there
  are. On GPU and TPU a short batch costs about what a full one does, so
  'auto' pads there. Depends on the run's total epochs, not on where it
  resumes, so a resumed run takes the same steps.
  """
  if last_batch not in ('auto', 'padded', 'short'):
    raise MedaugError(f"last_batch must be 'auto', 'padded' or 'short', not {last_batch!r}.")
  remainder = n % batch_size
  rows = -(-remainder // mesh.size) * mesh.size
  if not remainder or rows == batch_size or last_batch == 'padded':
    return 0
  if last_batch == 'auto' and (
      mesh.devices.flat[0].platform != 'cpu'
      or epochs * (batch_size - rows) < SHORT_TAIL_MIN_STEPS * batch_size):
    return 0
  return rows


def make_train_step(objective, mesh, num_seeds=None):
  """The jitted per-batch step; the batch is gathered on the device.

  With num_seeds, state, data, indices and rng carry a leading seed axis and
  one compiled program trains every seed.
  """
  batch_sharding = NamedSharding(mesh, P('data'))

  def step(state, images, labels, idx, mask, i, rng):
    rows = idx[i]
    x = jax.lax.with_sharding_constraint(images[rows], batch_sharding)
    y = jax.lax.with_sharding_constraint(labels[rows], batch_sharding)
    return objective.train_step(state, x, y, mask[i], jax.random.fold_in(rng, i))

  if num_seeds:
    step = jax.vmap(step, in_axes=(0, 0, 0, 0, 0, None, 0))
  return jax.jit(step, donate_argnums=0)


def make_accumulating_step(objective, mesh, num_seeds=None):
  """make_train_step that also adds each metric, weighted by the batch's
  real rows, to running sums: one dispatch per step and no host work."""
  step = make_train_step(objective, mesh, num_seeds)

  def accumulate(state, sums, images, labels, idx, mask, i, rng):
    state, m = step(state, images, labels, idx, mask, i, rng)
    w = jnp.sum(mask[..., i, :], axis=-1).astype(jnp.float32)
    return state, jax.tree.map(lambda total, v: total + v * w, sums, m)

  return jax.jit(accumulate, donate_argnums=(0, 1)), step


def _epoch_plan(rng, epoch, n, batch_size):
  """The epoch's shuffled batches and step key, from (rng, epoch) alone."""
  shuffle_key, step_key = jax.random.split(
      jax.random.fold_in(jax.random.wrap_key_data(rng), epoch))
  return (*epoch_batches(shuffle_key, n, batch_size), step_key)


def stack_trees(trees):
  """[tree per seed] -> one tree with a leading seed axis (for vmap)."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


@dataclasses.dataclass
class Fit:
  """What a finished (or resumed-and-finished) fit returns."""
  state: Any
  history: list
  train_s: float
  images_seen: int


def _fmt_time(s):
  s = int(round(s))
  return f'{s // 3600}h{s // 60 % 60:02d}m' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


def _check_finite(phase, epoch, metrics):
  bad = {k: v for k, v in metrics.items() if not np.all(np.isfinite(v))}
  if bad:
    raise MedaugError(
        f'{phase} diverged at epoch {epoch}: non-finite {", ".join(sorted(bad))} '
        f'({bad}). No results were written; lower the learning rate or change '
        'the seed.')


def fit(objective, state, images, labels, *, phase, epochs, batch_size, rng,
        mesh, checkpoints: Optional[Checkpoints] = None, checkpoint_every=1,
        checkpoint_seconds=0, on_save: Optional[Callable[[], None]] = None,
        evaluate: Optional[Callable[[Any, int, list], dict]] = None,
        log=None, num_seeds=None, print_every=1, last_batch='auto'):
  """Trains `objective` for `epochs` epochs, resuming from `checkpoints`.

  images/labels are device arrays ([S, N, ...] with num_seeds). rng is a raw
  key ([S, 2] with num_seeds). Each epoch's shuffle and step keys derive from
  (rng, epoch, step) alone, so a resumed run replays exactly the same batches
  and noise as an uninterrupted one. `log` is a logs.MetricsLog.

  Checkpoints are keyed by optimizer steps done: after every
  `checkpoint_every` epochs (0: not by count), after the first epoch that
  brings the time spent in epochs since the last save to `checkpoint_seconds`
  (0: not by time), after the last epoch, and at the step boundary where a
  SIGTERM/Ctrl-C (interrupt.py) stops the run, with the epoch's partial metric
  sums, so that a run resumed mid-epoch ends with the same numbers. Resuming
  replays the same batches, so how often only bounds the work a hard kill
  loses: the epochs' own time is that work, where the wall clock would also
  count the saves and anything that paused the run (the benchmark's race runs
  a torch epoch after each of ours).
  `on_save()` runs after each save. `last_batch`: see last_batch_rows.
  """
  n = images.shape[1] if num_seeds else images.shape[0]
  if batch_size % mesh.size:
    raise MedaugError(f'batch size {batch_size} is not divisible by the '
                      f'{mesh.size} devices of the mesh.')
  steps = -(-n // batch_size)
  tail = last_batch_rows(n, batch_size, epochs, mesh, last_batch)
  history, start, first_step, partial, train_s = [], 0, 0, None, 0.0
  restored = checkpoints.restore(state) if checkpoints is not None else None
  if restored is not None:
    state, meta = restored
    start, history, train_s = meta['epoch'], meta['history'], meta['train_s']
    first_step, partial = meta.get('next_step', 0), meta.get('sums')
    if print_every:
      print(f'[{phase}] resuming after epoch {start}/{epochs}'
            + (f', step {first_step}/{steps}' if first_step else ''), flush=True)
  if log is not None:
    log.rewind(phase, start)
  step_fn, raw_step = make_accumulating_step(objective, mesh, num_seeds)
  plan = jax.jit(jax.vmap(_epoch_plan, (0, None, None, None)) if num_seeds else _epoch_plan,
                 static_argnums=(2, 3))
  metric_shapes = None

  def save(epoch, next_step, sums=None):
    meta = {'epoch': epoch, 'next_step': next_step, 'history': history, 'train_s': train_s}
    if sums is not None:
      meta['sums'] = {k: _tolist(v) for k, v in jax.device_get(sums).items()}
    checkpoints.save(epoch * steps + next_step, state, meta)
    if on_save is not None:
      on_save()

  t_run = time.perf_counter()
  unsaved_s = 0.0  # time in epochs since the last save
  for epoch in range(start, epochs):
    t0 = time.perf_counter()
    idx, mask, step_key = plan(rng, epoch, n, batch_size)
    if metric_shapes is None:
      metric_shapes = jax.eval_shape(raw_step, state, images, labels, idx, mask, 0, step_key)[1]
    # The short last step sees the first `tail` rows of the padded one (all
    # real but the device-count rounding, still masked): the same images.
    tail_idx, tail_mask = (idx[..., :tail], mask[..., :tail]) if tail else (idx, mask)
    # Fresh each epoch: the step donates (reuses) the buffers it is given.
    # Placed like the step's outputs, so the step compiles once, not twice.
    saved = partial if epoch == start and partial else {}
    sums = replicate({k: jnp.asarray(saved.get(k, np.zeros(a.shape)), jnp.float32)
                      for k, a in metric_shapes.items()}, mesh)
    for i in range(first_step if epoch == start else 0, steps):
      signal_name = interrupt.requested()
      if signal_name:
        train_s += time.perf_counter() - t0
        if checkpoints is not None:
          save(epoch, i, sums)
        raise interrupt.Interrupted(signal_name, f'in {phase}, epoch {epoch + 1} step {i}/{steps}')
      last_step = i == steps - 1
      state, sums = step_fn(state, sums, images, labels, tail_idx if last_step else idx,
                            tail_mask if last_step else mask, i, step_key)
    sums = jax.device_get(sums)
    epoch_train_s = time.perf_counter() - t0
    train_s += epoch_train_s
    metrics = {k: np.asarray(v) / n for k, v in sums.items()}
    _check_finite(phase, epoch + 1, metrics)
    record = {'phase': phase, 'epoch': epoch + 1,
              **{k: _tolist(v) for k, v in metrics.items()}}
    if evaluate is not None:
      record.update(evaluate(state, epoch + 1, history))
    epoch_s = time.perf_counter() - t0
    record['epoch_s'] = round(epoch_s, 3)
    unsaved_s += epoch_s
    history.append(record)
    if log is not None:
      log.append(record)
    last = epoch + 1 == epochs
    due = ((checkpoint_every and (epoch + 1) % checkpoint_every == 0) or
           (checkpoint_seconds and unsaved_s >= checkpoint_seconds))
    if checkpoints is not None and (due or last):
      save(epoch + 1, 0)
      unsaved_s = 0.0
    if print_every and ((epoch + 1) % print_every == 0 or last):
      done = epoch + 1 - start
      eta = (time.perf_counter() - t_run) / done * (epochs - epoch - 1)
      shown = ' '.join(f'{k} {_short(v)}' for k, v in record.items()
                       if k not in ('phase', 'epoch', 'epoch_s'))
      print(f'[{phase}] epoch {epoch + 1}/{epochs} {shown} '
            f'({record["epoch_s"]:.1f}s, ETA {_fmt_time(eta)})', flush=True)
  return Fit(state, history, train_s, n * epochs * (num_seeds or 1))


def _tolist(v):
  v = np.asarray(v)
  return float(v) if v.ndim == 0 else v.tolist()


def _short(v):
  if isinstance(v, (list, tuple)):
    return '[' + ' '.join(f'{x:.4f}' for x in v) + ']'
  return f'{v:.4f}' if isinstance(v, float) else str(v)
