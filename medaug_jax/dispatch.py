r"""A grid on a cluster: its workers as a SLURM job array, through submitit.

  pip install '.[cluster]'
  python -m medaug_jax.dispatch --config=configs/grid.py --workdir=runs/table2 \
      --workers=8 --slurm_partition=gpu --gpus_per_task=1 --timeout_min=720

Each array task is one more worker of the same grid (medaug_jax.grid): it
claims cells by their lock, so tasks never train a cell twice, and a task
that is preempted or times out is requeued by submitit and resumes the grid
from its checkpoints. The report is written once, here, after every task
has ended (--nowait: submit and return; `python -m medaug_jax.report` later).
Task logs go to <workdir>/logs/submitit unless --folder says otherwise.
--executor=local runs the same tasks as processes on this machine (as
launch/local.sh does); CI tests the dispatch that way.
"""
import os
import sys
import time

from absl import app, flags

from medaug_jax import cli, grid as grid_lib, hostmem, interrupt
from medaug_jax.errors import MedaugError

EXECUTORS = ('slurm', 'local')

FLAGS = flags.FLAGS
# --config, --workdir, --overwrite and --report are medaug_jax.grid's own flags.
flags.DEFINE_integer('workers', 1, 'Array tasks, each one worker of the grid.')
flags.DEFINE_enum('executor', 'slurm', EXECUTORS, 'slurm (a job array) or local '
                  '(processes on this machine).')
flags.DEFINE_string('folder', None, 'submitit folder for task logs and pickles '
                    '(default <workdir>/logs/submitit).')
flags.DEFINE_string('slurm_partition', None, 'SLURM partition.')
flags.DEFINE_integer('gpus_per_task', 1, 'GPUs of each task.')
flags.DEFINE_integer('cpus_per_task', 8, 'CPU cores of each task.')
flags.DEFINE_integer('timeout_min', 24 * 60, 'Time limit of each task in minutes; '
                     'a task that reaches it is requeued and resumes.')
flags.DEFINE_integer('mem_gb', 32, 'Host memory of each task in GB.')
flags.DEFINE_integer('array_parallelism', None, 'Tasks running at once (default all).')
flags.DEFINE_bool('wait', True, 'Wait for the tasks, then write the report.')


def _submitit():
  try:
    import submitit  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise MedaugError("dispatch needs submitit: pip install '.[cluster]'") from None
  return submitit


class GridWorker:
  """One array task: a worker of the grid. Picklable, and requeued by
  submitit on preemption or timeout via checkpoint()."""

  def __init__(self, grid, workdir, overwrite=False, shared_device=False):
    self.grid = grid
    self.workdir = workdir
    self.overwrite = overwrite
    self.shared_device = shared_device

  def __call__(self, index):
    if self.shared_device:
      # Local tasks share this machine's GPU: take its memory as needed.
      os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')
    hostmem.keep_freed_memory()
    print(f'[dispatch] worker {index} on {self.workdir}', flush=True)
    # The report waits for every worker; see submit().
    return grid_lib.run(self.grid, self.workdir, self.overwrite, multihost=False,
                        report=False)

  def checkpoint(self, index):
    # Nothing to save here: the grid resumes from its own checkpoints.
    return _submitit().helpers.DelayedSubmission(self, index)


def _check(workers, executor, gpus_per_task, cpus_per_task, timeout_min, mem_gb,
           array_parallelism):
  if executor not in EXECUTORS:
    raise MedaugError(f'executor must be one of {", ".join(EXECUTORS)}, got {executor!r}.')
  at_least = {'workers': (workers, 1), 'gpus_per_task': (gpus_per_task, 0),
              'cpus_per_task': (cpus_per_task, 1), 'timeout_min': (timeout_min, 1),
              'mem_gb': (mem_gb, 1), 'array_parallelism': (array_parallelism, 1)}
  for key, (value, low) in at_least.items():
    if value is not None and not (isinstance(value, int) and value >= low):
      raise MedaugError(f'{key} must be an integer >= {low}, got {value!r}.')


def make_executor(executor, folder, *, partition=None, gpus_per_task=1, cpus_per_task=8,
                  timeout_min=24 * 60, mem_gb=32, array_parallelism=None):
  """A submitit executor: SLURM through AutoExecutor, or local processes."""
  submitit = _submitit()
  if executor == 'local':
    ex = submitit.LocalExecutor(folder=folder)
    # Local tasks see every GPU of the machine; the time limit still applies.
    ex.update_parameters(timeout_min=timeout_min)
    return ex
  try:
    ex = submitit.AutoExecutor(folder=folder, cluster='slurm')
  except RuntimeError as e:  # no srun/sbatch here
    raise MedaugError(f'{e} (--executor=local runs the workers on this machine)') from None
  params = dict(name='medaug_grid', nodes=1, tasks_per_node=1, timeout_min=timeout_min,
                gpus_per_node=gpus_per_task, cpus_per_task=cpus_per_task, mem_gb=mem_gb)
  if partition:
    params['slurm_partition'] = partition
  if array_parallelism:
    params['slurm_array_parallelism'] = array_parallelism
  ex.update_parameters(**params)
  return ex


def _wait(jobs, poll_s, log):
  """Per task: its cell statuses, or None for a task that failed."""
  # Polled rather than blocked on, so that Ctrl-C stops the waiting.
  while not all(job.done() for job in jobs):
    interrupt.check('waiting for the workers (they go on)')
    time.sleep(poll_s)
  out = []
  for i, job in enumerate(jobs):
    try:
      out.append(job.result())
    except Exception as e:  # pylint: disable=broad-except
      # One failed task must not hide the cells the others finished.
      first = (str(e).strip().splitlines() or [''])[0]
      log(f'[dispatch] worker {i} (job {job.job_id}) failed: {type(e).__name__}: {first} '
          f'(log: {job.paths.stderr})')
      out.append(None)
  return out


def submit(grid, workdir, *, workers, executor='slurm', folder=None, overwrite=False,
           wait=True, report=True, partition=None, gpus_per_task=1, cpus_per_task=8,
           timeout_min=24 * 60, mem_gb=32, array_parallelism=None, log=print):
  """Runs `grid` under workdir as `workers` array tasks.

  With wait, waits for them, writes the report and returns each worker's
  cell statuses (None for a worker that failed); otherwise returns the
  submitit jobs at once.
  """
  _check(workers, executor, gpus_per_task, cpus_per_task, timeout_min, mem_gb,
         array_parallelism)
  workdir = os.path.abspath(workdir)  # tasks may start in another directory
  folder = folder or os.path.join(workdir, 'logs', 'submitit')
  ex = make_executor(executor, folder, partition=partition, gpus_per_task=gpus_per_task,
                     cpus_per_task=cpus_per_task, timeout_min=timeout_min, mem_gb=mem_gb,
                     array_parallelism=array_parallelism)
  os.makedirs(workdir, exist_ok=True)
  worker = GridWorker(grid, workdir, overwrite, shared_device=executor == 'local')
  jobs = ex.map_array(worker, range(workers))
  log(f'[dispatch] {workers} {executor} workers: jobs {", ".join(j.job_id for j in jobs)} '
      f'(logs in {folder})')
  if not wait:
    return jobs
  results = _wait(jobs, 1 if executor == 'local' else 15, log)
  if report:
    from medaug_jax import report as report_lib  # pylint: disable=g-import-not-at-top
    log(f'[dispatch] report: {report_lib.write_report(workdir)}')
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  results = cli.call(lambda: submit(
      FLAGS.config, FLAGS.workdir, workers=FLAGS.workers, executor=FLAGS.executor,
      folder=FLAGS.folder, overwrite=FLAGS.overwrite, wait=FLAGS.wait, report=FLAGS.report,
      partition=FLAGS.slurm_partition, gpus_per_task=FLAGS.gpus_per_task,
      cpus_per_task=FLAGS.cpus_per_task, timeout_min=FLAGS.timeout_min,
      mem_gb=FLAGS.mem_gb, array_parallelism=FLAGS.array_parallelism), FLAGS.workdir)
  if FLAGS.wait and any(r is None or any(s['state'] == 'failed' for s in r)
                        for r in results):
    sys.exit(1)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  cli.start(main)
