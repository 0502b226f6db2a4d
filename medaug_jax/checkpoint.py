"""Orbax checkpoints: a killed run resumes from the newest intact one.

Orbax writes each step to a temporary directory and renames it when
complete, so a kill during a save never leaves a half-written step that looks
finished. The two newest steps are kept: if the newest cannot be read back
(a damaged disk, a file truncated by a full one), restore() warns and falls
back to the one before.

With asynchronous=True a save returns once orbax holds its own copy of the
arrays, and the files are written in the background while training goes on;
the next save, restore() and close() wait for it. A run killed while one is
being written resumes from the one before it, as with a torn write. The
runs write in the background on accelerators only (background_writes).

A multi-host run (jax.process_count() > 1) keeps one copy per process on that
host's own disk instead, as flax msgpack files written atomically: orbax
writes numpy arrays and replicated shards from process 0 only, and waits for
folders that process 0 creates, so with one disk per host (TPU VMs) every
other host's checkpoints would be empty and its resume would fail.
"""
import contextlib
import json
import logging
import os

import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp

from medaug_jax.errors import MedaugError
from medaug_jax.files import atomic_path, disk_full

_LOCAL_SUFFIX = '.msgpack'


def background_writes(mesh):
  """Whether a run on `mesh` saves asynchronously: where a device trains, the
  host's cores are free to write. On a 2-core CPU the write's own CPU work
  slowed the epochs beside it by about what it saved (8-epoch BreastMNIST
  runs saving every epoch, 2026-11-27, BENCHMARKS.md)."""
  return mesh.devices.flat[0].platform != 'cpu'


class Checkpoints:
  """One orbax directory of (state, JSON meta) pairs keyed by step."""

  def __init__(self, directory, max_to_keep=2, asynchronous=False):
    self.directory = os.path.abspath(directory)
    self.max_to_keep = max_to_keep
    self.local = jax.process_count() > 1
    self.asynchronous = asynchronous and not self.local
    self.manager = None if self.local else ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=self.asynchronous))

  def _local_path(self, step):
    return os.path.join(self.directory, f'{step}{_LOCAL_SUFFIX}')

  def all_steps(self):
    if not self.local:
      return list(self.manager.all_steps())
    names = os.listdir(self.directory) if os.path.isdir(self.directory) else []
    return sorted(int(f[:-len(_LOCAL_SUFFIX)]) for f in names
                  if f.endswith(_LOCAL_SUFFIX) and f[:-len(_LOCAL_SUFFIX)].isdigit())

  def latest_step(self):
    steps = self.all_steps()
    return max(steps) if steps else None

  def save(self, step, state, meta):
    with self._writing(step):
      if self.local:
        self._save_local(step, state, meta)
        return
      # A run killed between this save and the next resume point saves the
      # same step again when it resumes; the new state replaces the old one.
      self.manager.wait_until_finished()
      if step in self.manager.all_steps():
        self.manager.delete(step)
      # A copy: the caller goes on appending to the lists in meta while a
      # background write may not have serialised it yet.
      meta = json.loads(json.dumps(meta))
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
      if not self.asynchronous:
        self.manager.wait_until_finished()

  def wait(self):
    """Returns when the last save is on disk."""
    if self.manager is not None:
      with self._writing(None):
        self.manager.wait_until_finished()

  @contextlib.contextmanager
  def _writing(self, step):
    try:
      yield
    except Exception as e:  # pylint: disable=broad-except
      if disk_full(e):
        which = 'a checkpoint' if step is None else f'checkpoint {step}'
        raise MedaugError(f'no space left on the device while writing {which} in '
                          f'{self.directory}; the checkpoints before it are intact. Free '
                          'space and run the same command to resume.') from e
      raise

  def _save_local(self, step, state, meta):
    # The states are replicated: this process's first shard is all of it.
    host = jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), state)
    blob = flax.serialization.msgpack_serialize(
        {'state': flax.serialization.to_state_dict(host), 'meta': json.dumps(meta)})
    with atomic_path(self._local_path(step)) as tmp:
      with open(tmp, 'wb') as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    for old in self.all_steps()[:-self.max_to_keep]:
      os.remove(self._local_path(old))

  def _restore_local(self, step, like_state):
    with open(self._local_path(step), 'rb') as f:
      blob = flax.serialization.msgpack_restore(f.read())
    host = flax.serialization.from_state_dict(like_state, blob['state'])
    for got, like in zip(jax.tree.leaves(host), jax.tree.leaves(like_state)):
      if np.shape(got) != like.shape or np.asarray(got).dtype != like.dtype:
        raise ValueError(f'an array of {np.shape(got)} where {like.shape} was expected')
    # Every process places the same values (jax checks that they agree).
    return (jax.tree.map(lambda x, like: jax.device_put(np.asarray(x), like.sharding),
                         host, like_state), json.loads(blob['meta']))

  def restore(self, like_state):
    """(state, meta) of the newest checkpoint that reads back whole, with
    like_state's structure and shardings; None when there is none."""
    self.wait()
    steps = sorted(self.all_steps(), reverse=True)
    for step in steps:
      try:
        if self.local:
          state, meta = self._restore_local(step, like_state)
        else:
          abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
          r = self.manager.restore(step, args=ocp.args.Composite(
              state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
          state, meta = r.state, r.meta
        _check_restored(state, meta)
      except Exception as e:  # pylint: disable=broad-except
        logging.warning('checkpoint %d in %s cannot be read back (%s: %s); trying the one '
                        'before it.', step, self.directory, type(e).__name__,
                        str(e).splitlines()[0][:200] if str(e) else '')
        continue
      return state, meta
    if steps:
      raise MedaugError(f'no checkpoint in {self.directory} can be read back (steps '
                        f'{steps}); delete that folder to train this phase again.')
    return None

  def close(self):
    if self.manager is not None:
      try:
        self.wait()
      finally:
        self.manager.close()


def _check_restored(state, meta):
  """Reading back is not enough: a damaged file can decode to garbage."""
  if not isinstance(meta, dict) or 'epoch' not in meta or 'history' not in meta:
    raise ValueError('its metadata lacks epoch/history')
  for leaf in jax.tree.leaves(state):
    leaf = np.asarray(leaf)
    if np.issubdtype(leaf.dtype, np.floating) and not np.all(np.isfinite(leaf)):
      raise ValueError('its state holds non-finite values')
