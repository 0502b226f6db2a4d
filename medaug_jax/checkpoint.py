"""Orbax checkpoints: a killed run resumes from the newest intact one.

Orbax writes each step to a temporary directory and renames it when
complete, so a kill during a save never leaves a half-written step that looks
finished. The two newest steps are kept: if the newest cannot be read back
(a damaged disk, a file truncated by a full one), restore() warns and falls
back to the one before.
"""
import logging
import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from medaug_jax.errors import MedaugError
from medaug_jax.files import disk_full


class Checkpoints:
  """One orbax directory of (state, JSON meta) pairs keyed by step."""

  def __init__(self, directory, max_to_keep=2):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=False))

  def latest_step(self):
    return self.manager.latest_step()

  def save(self, step, state, meta):
    # A run killed between this save and the next resume point saves the
    # same step again when it resumes; the new state replaces the old one.
    if step in self.manager.all_steps():
      self.manager.delete(step)
    try:
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
      self.manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      if disk_full(e):
        raise MedaugError(f'no space left on the device while writing checkpoint {step} in '
                          f'{self.directory}; the checkpoints before it are intact. Free '
                          'space and run the same command to resume.') from e
      raise

  def restore(self, like_state):
    """(state, meta) of the newest checkpoint that reads back whole, with
    like_state's structure and shardings; None when there is none."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
    steps = sorted(self.manager.all_steps(), reverse=True)
    for step in steps:
      try:
        r = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        _check_restored(r.state, r.meta)
      except Exception as e:  # pylint: disable=broad-except
        logging.warning('checkpoint %d in %s cannot be read back (%s: %s); trying the one '
                        'before it.', step, self.directory, type(e).__name__,
                        str(e).splitlines()[0][:200] if str(e) else '')
        continue
      return r.state, r.meta
    if steps:
      raise MedaugError(f'no checkpoint in {self.directory} can be read back (steps '
                        f'{steps}); delete that folder to train this phase again.')
    return None

  def close(self):
    self.manager.close()


def _check_restored(state, meta):
  """Reading back is not enough: a damaged file can decode to garbage."""
  if not isinstance(meta, dict) or 'epoch' not in meta or 'history' not in meta:
    raise ValueError('its metadata lacks epoch/history')
  for leaf in jax.tree.leaves(state):
    leaf = np.asarray(leaf)
    if np.issubdtype(leaf.dtype, np.floating) and not np.all(np.isfinite(leaf)):
      raise ValueError('its state holds non-finite values')
