"""The results table in one command: every (dataset, method) cell of a grid,
several seeds each, with the single-run code of medaug_jax.run.

  python -m medaug_jax.grid --config=configs/grid.py --workdir=runs/table2
  python -m medaug_jax.report runs/table2

Layout under --workdir:
  grid.json                       the resolved grid config and the cell list
  <dataset>/<method>/cell.json    status, seeds and wall time of a cell
  <dataset>/<method>/failed.json  the one-line error(s) of a failed cell
  <dataset>/<method>/seed_<s>/    one run's workdir (config.json, results.json,
                                  metrics.jsonl, samples.png, ...)

A re-started grid skips cells whose seeds all have results (same config),
resumes an interrupted cell from its checkpoints, and retries failed cells
(grid.retry_failed). A failing cell is recorded and the grid goes on.
"""
import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
import traceback

from absl import app, flags, logging
import ml_collections
from ml_collections import config_flags

from medaug_jax import cli, config_lib, generators, interrupt
from medaug_jax import workdir as workdir_lib
from medaug_jax.errors import MedaugError
from medaug_jax.files import write_atomic, write_json
from medaug_jax.generators import phase

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Grid config file (configs/grid.py).',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory holding every cell of the grid.')
flags.DEFINE_bool('overwrite', False, 'Delete runs made with a different config.')
flags.DEFINE_bool('multihost', None,
                  'Call jax.distributed.initialize() first (Cloud TPU pods, multi-host '
                  'GPU). Default: on when $MEDAUG_MULTIHOST is 1.')
flags.DEFINE_bool('report', True, 'Write the report (report.md etc.) at the end.')


def _as_tuple(value):
  """A tuple field as given: ml_collections reads `--config.methods=none,cgan`
  as ('none,cgan',), so strings are split at commas."""
  items = [value] if isinstance(value, str) else list(value)
  return tuple(p.strip() if isinstance(p, str) else p
               for v in items for p in (v.split(',') if isinstance(v, str) else [v])
               if not isinstance(p, str) or p.strip())


def methods_of(grid):
  """The grid's method names, each generator method once per ratio of
  grid.ratios ('cgan' -> 'cgan@0.5', 'cgan@1', ...) when that is set."""
  ratios = [float(r) for r in _as_tuple(grid.get('ratios', ()))]
  bad = [r for r in ratios if not r > 0]
  if bad:
    raise MedaugError(f'config.ratios must all be > 0, got {bad}.')
  out = []
  for m in _as_tuple(grid.methods):
    if ratios and generators.of_method(m):
      out += [f'{m}@{r:g}' for r in ratios]
    else:
      out.append(m)
  return out


def _largest_ratio_first(methods):
  """methods, each method's ratio variants in the slots they hold but in
  decreasing ratio: the first trains the generator and makes the most
  images, the others take their first images of each class (siblings)."""
  ratio = lambda m: float(m.partition('@')[2] or 0)
  slots = {}
  for i, m in enumerate(methods):
    slots.setdefault(m.partition('@')[0], []).append(i)
  out = list(methods)
  for idx in slots.values():
    for i, m in zip(idx, sorted((methods[i] for i in idx), key=ratio, reverse=True)):
      out[i] = m
  return out


def cells(grid):
  """[(dataset, method)] in the order workers take them: dataset by dataset
  (table order), or with grid.order 'methods' one method on every dataset
  before the next (a grid cut short then has its first methods everywhere)."""
  datasets = [d.lower() for d in _as_tuple(grid.datasets)]
  order = grid.get('order', 'datasets')
  methods = _largest_ratio_first(methods_of(grid))
  if order == 'datasets':
    return [(d, m) for d in datasets for m in methods]
  if order == 'methods':
    return [(d, m) for m in methods for d in datasets]
  raise MedaugError(f"config.order must be 'datasets' or 'methods', got {order!r}.")


def seeds_of(grid):
  return [int(s) for s in _as_tuple(grid.seeds)]


def cell_config(grid, dataset, method):
  """The single-run config of one cell: `base`, then what the method's config
  (config_lib.method_config: its file or files, its ratio) changes from
  configs/default.py, then the grid's `generators.<its generator>` fields."""
  config = ml_collections.ConfigDict(grid.base.to_dict())
  own = config_lib.method_config(method)
  for key, value in config_lib.changes(own, config_lib.default_config()).items():
    config_lib.set_dotted(config, key, value)
  for key, value in (grid.generators.get(generators.of_method(method) or '') or {}).items():
    config.generator[key] = value
  config.dataset = dataset
  config.method = method
  return config


def cell_dir(workdir, dataset, method):
  return os.path.join(workdir, dataset, method)


def seed_dir(cdir, seed):
  return os.path.join(cdir, f'seed_{seed}')


def _group_dir(cdir, config, seeds):
  """Where a vmapped group keeps its checkpoints: keyed by the seeds and the
  config, so a group of other seeds or another config never restores them."""
  sem = workdir_lib.semantic(config)
  sem.pop('seed', None)
  digest = hashlib.sha1(json.dumps(sem, sort_keys=True).encode()).hexdigest()[:8]
  return os.path.join(cdir, f'_vmap_s{"_".join(map(str, seeds))}_{digest}')


def _seed_config(config, seed):
  c = ml_collections.ConfigDict(config.to_dict())
  c.seed = int(seed)
  return c


def _seeds_todo(grid, workdir, dataset, method):
  """The cell's seeds without results of this same config."""
  config = cell_config(grid, dataset, method)
  cdir = cell_dir(workdir, dataset, method)
  return [s for s in seeds_of(grid)
          if workdir_lib.finished(_seed_config(config, s), seed_dir(cdir, s)) is None]


def prepare_references(grid, workdir, log=print):
  """Trains (or reads from the cache) the quality reference network of each
  dataset whose generators are still to train, before any cell runs.

  Under the reference's lock, so workers started together train each one
  once, while the device is still free: on a GPU kept busy by other workers'
  generators, this network's first compile stalled for minutes. A failure is
  only logged; the cell that needs the network then fails with its error.
  """
  from medaug_jax import quality  # pylint: disable=g-import-not-at-top
  seen = set()
  for dataset, method in cells(grid):
    if not generators.of_method(method):
      continue
    config = cell_config(grid, dataset, method)
    key = (dataset, config.get('data_root'), config.quality.reference.to_json_best_effort())
    cdir = cell_dir(workdir, dataset, method)
    if key in seen or not any(
        generated_elsewhere(grid, workdir, dataset, method, s) is None
        and not phase.finished(seed_dir(cdir, s))
        for s in _seeds_todo(grid, workdir, dataset, method)):
      continue
    seen.add(key)
    try:
      if quality.uses_reference(quality.names_of(config.quality)):
        quality.reference(dataset, config)
    except Exception as e:  # pylint: disable=broad-except
      log(f'[grid] {dataset}: no quality reference network yet ({_one_line(e)})')


def split_metrics(group_log, seeds, workdirs):
  """Copies each seed's lines out of a vmapped group's metrics.jsonl (values
  with a leading seed axis) into its own workdir/metrics.jsonl."""
  if not os.path.exists(group_log):
    return
  with open(group_log) as f:
    records = [json.loads(l) for l in f if l.strip()]
  for i, (seed, w) in enumerate(zip(seeds, workdirs)):
    lines = []
    for r in records:
      one = {k: (v[i] if isinstance(v, list) and len(v) == len(seeds) else v)
             for k, v in r.items()}
      one['seed'] = seed
      lines.append(json.dumps(one, sort_keys=True))
    write_atomic(os.path.join(w, 'metrics.jsonl'), '\n'.join(lines) + '\n')


def _one_line(e):
  msg = str(e).strip().splitlines()
  return f'{type(e).__name__}: {msg[0] if msg else ""}'.strip().rstrip(':')


def _clean_checkpoints(cdir, workdirs):
  """Deletes resume checkpoints of a finished cell (keeps classifier_best)."""
  for name in os.listdir(cdir):
    if name.startswith('_vmap_'):
      shutil.rmtree(os.path.join(cdir, name), ignore_errors=True)
  for w in workdirs:
    for sub in ('classifier', 'generator'):
      shutil.rmtree(os.path.join(w, 'checkpoints', sub), ignore_errors=True)


def _generator_inputs(config):
  """What a run's trained generator depends on: its config without the
  method's name, the classifier (so 'dcgan' and 'dcgan+classic' agree) and
  how many images it samples (so 'dcgan@2' and 'dcgan@10' agree)."""
  sem = workdir_lib.semantic(config)
  for key in ('method', 'classifier'):
    sem.pop(key, None)
  for key in ('ratio', 'num_per_class'):
    sem.get('generator', {}).pop(key, None)
  return sem


def _count(config):
  """What sets the images a run samples per class: ('ratio', r) of the real
  count, or ('num', n). Two runs' counts compare only in the same unit
  without loading the dataset."""
  g = config.generator
  return ('ratio', float(g.ratio)) if g.ratio > 0 else ('num', int(g.num_per_class))


def siblings(grid, dataset, method):
  """The grid's other cells of `dataset` whose generator phase serves this
  cell's (same trained generator, at least as many images per class), in
  cell order: the same count first, whose images are copied, then larger
  ones, whose first images of each class are taken."""
  name = generators.of_method(method)
  if not name:
    return []
  own = cell_config(grid, dataset, method)
  want, (unit, n) = _generator_inputs(own), _count(own)
  out = []
  for m in _largest_ratio_first(methods_of(grid)):
    if m == method or generators.of_method(m) != name:
      continue
    other = cell_config(grid, dataset, m)
    o_unit, o_n = _count(other)
    if o_unit == unit and o_n >= n and _generator_inputs(other) == want:
      out.append((o_n != n, m))
  return [m for _, m in sorted(out, key=lambda t: t[0])]


def generated_elsewhere(grid, workdir, dataset, method, seed):
  """A sibling cell's folder of `seed` holding a finished generator phase
  that this cell would only repeat, or None."""
  for other in siblings(grid, dataset, method):
    w = seed_dir(cell_dir(workdir, dataset, other), seed)
    if (workdir_lib.holds(_seed_config(cell_config(grid, dataset, other), seed), w)
        and phase.finished(w)):
      return w
  return None


def _waits_for_sibling(grid, workdir, dataset, method):
  """True when an earlier sibling cell, held by another worker, will make
  generators this cell still lacks: better to take other cells first."""
  methods = [m for d, m in cells(grid) if d == dataset]
  earlier = methods[:methods.index(method)]
  held = [m for m in siblings(grid, dataset, method)
          if m in earlier and workdir_lib.in_use(cell_dir(workdir, dataset, m))]
  return bool(held) and any(generated_elsewhere(grid, workdir, dataset, method, s) is None
                            for s in seeds_of(grid))


def run_cell(grid, workdir, dataset, method, overwrite=False, log=print):
  """Trains one cell's seeds (vmapped or one by one, as base.vmap_seeds says).

  Returns the cell status dict (also written to cell.json). Errors in a seed
  are caught, written to failed.json, and do not stop the other seeds when
  they run one by one.
  """
  from medaug_jax import run as run_lib  # pylint: disable=g-import-not-at-top
  config = cell_config(grid, dataset, method)
  seeds = seeds_of(grid)
  cdir = cell_dir(workdir, dataset, method)
  os.makedirs(cdir, exist_ok=True)
  workdirs = [seed_dir(cdir, s) for s in seeds]
  failed_path = os.path.join(cdir, 'failed.json')
  t0 = time.perf_counter()
  status = {'dataset': dataset, 'method': method, 'seeds': seeds}
  todo = [(s, seed_dir(cdir, s)) for s in _seeds_todo(grid, workdir, dataset, method)]
  if not todo:
    status.update(state='skipped', wall_s=0.0)
    if os.path.exists(failed_path):
      os.remove(failed_path)
    return status
  errors = {}
  sources = {s: generated_elsewhere(grid, workdir, dataset, method, s) for s, _ in todo}
  mode = run_lib.seed_mode(config) if len(todo) > 1 else 'false'
  if mode == 'generator' and not generators.of_method(method):
    mode = 'false'
  mode = {'true': 'vmap', 'generator': 'vmap-generator'}.get(mode, 'sequential')
  if mode == 'vmap-generator':
    # The generators of the seeds that need one, vmapped; the seeds then
    # read them back one by one as their phase's cache.
    need = [(s, w) for s, w in todo
            if not sources[s] and not phase.finished(w)]
    if len(need) > 1:
      group = _group_dir(cdir, config, [s for s, _ in need])
      try:
        run_lib.train_seeds(config, [s for s, _ in need], [w for _, w in need], group,
                            overwrite, generator_only=True)
        split_metrics(os.path.join(group, 'metrics.jsonl'), [s for s, _ in need],
                      [w for _, w in need])
      except Exception as e:  # pylint: disable=broad-except
        if not isinstance(e, MedaugError):
          traceback.print_exc()
        log(f'[grid] {dataset}/{method}: vmapped generators failed: {_one_line(e)}; '
            'training them seed by seed')
      shutil.rmtree(group, ignore_errors=True)
  if mode == 'vmap':
    group = _group_dir(cdir, config, [s for s, _ in todo])
    try:
      run_lib.train_seeds(config, [s for s, _ in todo], [w for _, w in todo], group,
                          overwrite, generated_from=[sources[s] for s, _ in todo])
      split_metrics(os.path.join(group, 'metrics.jsonl'), [s for s, _ in todo],
                    [w for _, w in todo])
    except Exception as e:  # pylint: disable=broad-except
      if not isinstance(e, MedaugError):
        traceback.print_exc()
      log(f'[grid] {dataset}/{method}: vmapped seeds failed: {_one_line(e)}')
      if not grid.fallback_sequential:
        errors = {s: _one_line(e) for s, _ in todo}
      else:
        log(f'[grid] {dataset}/{method}: running its seeds one by one')
        mode = 'vmap->sequential'
        shutil.rmtree(group, ignore_errors=True)
  if mode != 'vmap':
    for s, w in todo:
      try:
        run_lib.train_seeds(config, [s], [w], w, overwrite, generated_from=[sources[s]])
      except Exception as e:  # pylint: disable=broad-except
        if not isinstance(e, MedaugError):
          traceback.print_exc()
        errors[s] = _one_line(e)
        log(f'[grid] {dataset}/{method} seed {s} failed: {errors[s]}')
        if grid.stop_on_error:
          break
  wall = time.perf_counter() - t0
  ok = [s for s in seeds if s not in errors]
  status.update(state='failed' if errors else 'done', mode=mode, wall_s=round(wall, 2),
                seeds_ok=ok, seeds_failed=sorted(errors))
  if errors:
    write_json(failed_path, {'dataset': dataset, 'method': method,
                         'error': next(iter(errors.values())),
                         'errors': {str(s): m for s, m in errors.items()},
                         'seeds_failed': sorted(errors),
                         'time': time.strftime('%Y-%m-%dT%H:%M:%S')})
  else:
    if os.path.exists(failed_path):
      os.remove(failed_path)
    if not grid.keep_checkpoints:
      _clean_checkpoints(cdir, workdirs)
  write_json(os.path.join(cdir, 'cell.json'), status)
  return status


def grid_summary(grid, workdir):
  import jax  # pylint: disable=g-import-not-at-top
  return {'profile': grid.get('profile', ''), 'description': grid.get('description', ''),
          'datasets': [d for d in dict.fromkeys(d for d, _ in cells(grid))],
          'methods': methods_of(grid), 'seeds': seeds_of(grid),
          'config': json.loads(grid.to_json_best_effort()),
          'backend': jax.default_backend(), 'device_count': jax.device_count(),
          'process_count': jax.process_count()}


def _claimed_cell(grid, workdir, dataset, method, overwrite, log, claim):
  """run_cell under the cell's lock; state 'busy' when another worker holds it."""
  cdir = cell_dir(workdir, dataset, method)
  try:
    with workdir_lib.locked(cdir) if claim else contextlib.nullcontext():
      return run_cell(grid, workdir, dataset, method, overwrite, log)
  except workdir_lib.Busy as e:
    log(f'[grid] {dataset}/{method}: taken by another worker ({e}); skipped')
    return {'dataset': dataset, 'method': method, 'state': 'busy'}
  except Exception as e:  # pylint: disable=broad-except
    # Errors before any seed ran (bad config, missing dataset file, ...).
    if not isinstance(e, MedaugError):
      traceback.print_exc()
    write_json(os.path.join(cdir, 'failed.json'),
               {'dataset': dataset, 'method': method, 'error': _one_line(e),
                'errors': {}, 'seeds_failed': seeds_of(grid),
                'time': time.strftime('%Y-%m-%dT%H:%M:%S')})
    log(f'[grid] {dataset}/{method} failed: {_one_line(e)}')
    return {'dataset': dataset, 'method': method, 'state': 'failed',
            'seeds_failed': seeds_of(grid), 'error': _one_line(e)}


def run_grid(grid, workdir, overwrite=False, log=print):
  """Runs every cell of `grid` under workdir; returns [cell status].

  Several workers (processes started with the same command, on one machine
  or as cluster array tasks) share a grid: each takes a cell by locking its
  folder (workdir.locked) and passes over cells another worker holds. After
  one pass a worker tries the cells it passed over once more, so a cell whose
  worker has died is taken again; a restarted grid skips finished cells.
  """
  import jax  # pylint: disable=g-import-not-at-top
  # Multi-host processes run every cell together, so none may claim one.
  claim = jax.process_count() == 1
  os.makedirs(workdir, exist_ok=True)
  write_json(os.path.join(workdir, 'grid.json'), grid_summary(grid, workdir))
  t0 = time.perf_counter()
  prepare_references(grid, workdir, log)
  todo = cells(grid)
  statuses = {}
  pending = list(enumerate(todo))
  for attempt in range(2):
    passed_over = []
    for k, (dataset, method) in pending:
      interrupt.check('between grid cells')
      if claim and _waits_for_sibling(grid, workdir, dataset, method):
        log(f'[grid] {k + 1}/{len(todo)} {dataset}/{method}: another worker is training '
            'its generators in a sibling cell; ' + ('later' if attempt == 0 else 'waiting'))
        if attempt == 0:
          passed_over.append((k, (dataset, method)))
          continue
        # Nothing else is left to do: waiting beats training the same
        # generators twice.
        while _waits_for_sibling(grid, workdir, dataset, method):
          interrupt.check('waiting for a sibling cell')
          time.sleep(5)
      cdir = cell_dir(workdir, dataset, method)
      if (not grid.retry_failed and os.path.exists(os.path.join(cdir, 'failed.json'))
          and not overwrite):
        log(f'[grid] {k + 1}/{len(todo)} {dataset}/{method}: failed before, not retried '
            '(grid.retry_failed=False)')
        statuses[k] = {'dataset': dataset, 'method': method, 'state': 'failed'}
        continue
      log(f'[grid] {k + 1}/{len(todo)} {dataset}/{method} seeds {seeds_of(grid)} '
          f'({time.perf_counter() - t0:.0f}s elapsed)')
      st = statuses[k] = _claimed_cell(grid, workdir, dataset, method, overwrite, log, claim)
      if st['state'] == 'busy':
        passed_over.append((k, (dataset, method)))
        continue
      log(f"[grid] {dataset}/{method}: {st['state']}"
          + (f" in {st['wall_s']:.0f}s" if st.get('wall_s') else ''))
      if st['state'] == 'failed' and grid.stop_on_error:
        passed_over = []
        break
    pending = passed_over
  statuses = [statuses[k] for k in sorted(statuses)]
  total = time.perf_counter() - t0
  summary = grid_summary(grid, workdir)
  summary.update(wall_s=round(total, 2), cells=statuses,
                 finished=time.strftime('%Y-%m-%dT%H:%M:%S'))
  if jax.process_index() == 0:
    write_json(os.path.join(workdir, 'grid.json'), summary)
  n_failed = sum(s['state'] == 'failed' for s in statuses)
  n_busy = sum(s['state'] == 'busy' for s in statuses)
  log(f'[grid] {len(statuses)} cells in {total:.0f}s; {n_failed} failed'
      + (f', {n_busy} left to other workers' if n_busy else ''))
  return statuses


def maybe_initialize_distributed(multihost=None):
  """jax.distributed.initialize() for multi-host runs (flag or $MEDAUG_MULTIHOST=1).

  On Cloud TPU VMs the coordinator and process ids are found automatically;
  elsewhere set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID.
  """
  if multihost is None:
    multihost = os.environ.get('MEDAUG_MULTIHOST', '') in ('1', 'true', 'True')
  if not multihost:
    return False
  import jax  # pylint: disable=g-import-not-at-top
  kwargs = {}
  if os.environ.get('JAX_COORDINATOR_ADDRESS'):
    kwargs = {'coordinator_address': os.environ['JAX_COORDINATOR_ADDRESS'],
              'num_processes': int(os.environ['JAX_NUM_PROCESSES']),
              'process_id': int(os.environ['JAX_PROCESS_ID'])}
  # Processes on CPUs (a CPU cluster, the tests) need collectives between
  # them: gloo, the default of newer JAX; GPU and TPU bring their own.
  if not jax.config.jax_cpu_collectives_implementation:
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(**kwargs)
  print(f'[grid] process {jax.process_index()}/{jax.process_count()}: '
        f'{jax.local_device_count()} local, {jax.device_count()} global devices',
        flush=True)
  return True


def run(grid, workdir, overwrite=False, multihost=None, report=True):
  """Everything `python -m medaug_jax.grid` does; returns [cell status]."""
  import jax  # pylint: disable=g-import-not-at-top
  maybe_initialize_distributed(multihost)
  statuses = run_grid(grid, workdir, overwrite)
  if report and jax.process_index() == 0:
    from medaug_jax import report as report_lib  # pylint: disable=g-import-not-at-top
    path = report_lib.write_report(workdir)
    print(f'[grid] report: {path}', flush=True)
  return statuses


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)
  statuses = cli.call(lambda: run(FLAGS.config, FLAGS.workdir, FLAGS.overwrite,
                                  FLAGS.multihost, FLAGS.report), FLAGS.workdir)
  if any(s['state'] == 'failed' for s in statuses):
    sys.exit(1)


if __name__ == '__main__':
  # Required only here: dispatch and bench.cost import this module for its
  # functions and --config.
  flags.mark_flags_as_required(['config', 'workdir'])
  cli.start(main)
