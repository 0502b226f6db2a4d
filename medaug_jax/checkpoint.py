"""Atomic files and orbax checkpoints: a killed run loses at most one epoch."""
import json
import os
import tempfile

import jax
import orbax.checkpoint as ocp


def write_atomic(path, text):
  """Readers see the old file or the new one, never half of one."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix='.tmp')
  try:
    with os.fdopen(fd, 'w') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json(path, obj):
  write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + '\n')


class Checkpoints:
  """One orbax directory of (state, JSON meta) pairs keyed by epoch.

  Orbax writes each step to a temporary directory and renames it when
  complete, so a kill during a save leaves the previous step intact.
  """

  def __init__(self, directory, max_to_keep=1):
    self.manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=False))

  def latest_epoch(self):
    return self.manager.latest_step()

  def save(self, epoch, state, meta):
    self.manager.save(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
    self.manager.wait_until_finished()

  def restore(self, like_state, epoch=None):
    """Returns (state, meta) with like_state's structure and shardings."""
    epoch = self.latest_epoch() if epoch is None else epoch
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
    r = self.manager.restore(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    return r.state, r.meta

  def close(self):
    self.manager.close()
