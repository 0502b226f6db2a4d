"""Sampling throughput of the diffusion generator, its ODE as one `lax.scan`
against a Python loop of jitted solver steps (issue 11: keep the faster per
backend; `generator.sampler_loop='auto'` takes diffusion.CPU_LOOP on CPU and
the scan elsewhere).

  python -m medaug_jax.bench.sampler                          # configs/diffusion.py
  python -m medaug_jax.bench.sampler --config=diffusion_cpu --num=300

Times `generate()` for `num` images (with guidance, as the grid samples: the
conditional and null halves share each network call) from freshly initialised
weights, whose values do not change the cost. The loops are timed interleaved
after a warm-up call that compiles them; the median of the repeats is
reported. Writes <out>/sampler.json and prints a Markdown table, with the
largest difference between the two loops' images (the same ODE, so float
rounding only).
"""
import datetime
import importlib
import os
import statistics
import time

from absl import app, flags

from medaug_jax import generators
from medaug_jax.bench import machine
from medaug_jax.files import write_json

FLAGS = flags.FLAGS
LOOPS = ('scan', 'python')
NUM_CLASSES = 2


def run(cfg, num=300, repeats=3, loops=LOOPS, channels=1, seed=0):
  """Rows {loop, images_per_s, median_s, times_s, first_call_s} for
  generator config `cfg` (a diffusion config's `generator`), and the largest
  absolute difference between the loops' images."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  obj = generators.get('diffusion')(cfg, NUM_CLASSES, (28, 28, channels))
  rng = np.random.RandomState(seed)
  images = rng.randint(0, 256, (8, 28, 28, channels)).astype(np.uint8)
  labels = np.arange(8) % NUM_CLASSES
  params = obj.sampling_params(obj.init(jax.random.key(seed), images, labels))
  noise = jax.random.normal(jax.random.key(seed + 1), (num, 28, 28, channels))
  want = np.arange(num) % NUM_CLASSES
  times = {loop: [] for loop in loops}
  first, out = {}, {}
  for loop in loops:
    t = time.perf_counter()
    out[loop] = obj.generate(params, noise, want, loop=loop)  # returns host arrays
    first[loop] = time.perf_counter() - t
  for _ in range(repeats):
    for loop in loops:
      t = time.perf_counter()
      obj.generate(params, noise, want, loop=loop)
      times[loop].append(time.perf_counter() - t)
  rows = [{'loop': loop, 'images_per_s': num / statistics.median(times[loop]),
           'median_s': statistics.median(times[loop]), 'times_s': times[loop],
           'first_call_s': first[loop]} for loop in loops]
  diff = (float(np.max(np.abs(out[loops[0]] - out[loops[-1]]))) if len(loops) > 1 else 0.0)
  return rows, diff


def markdown(rows):
  lines = ['| loop | images/s | median s | first call s (compiles) |', '|---|---|---|---|']
  lines += [f"| {r['loop']} | {r['images_per_s']:,.1f} | {r['median_s']:.3f} | "
            f"{r['first_call_s']:.1f} |" for r in rows]
  return '\n'.join(lines)


def main(argv):
  del argv
  import jax  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f'configs.{FLAGS.config}').get_config()
  cfg = config.generator
  if FLAGS.sample_steps:
    cfg.sample_steps = FLAGS.sample_steps
  rows, diff = run(cfg, FLAGS.num, FLAGS.repeats, tuple(FLAGS.loops), FLAGS.channels)
  report = {'date': datetime.datetime.now().isoformat(timespec='seconds'),
            'machine': machine.info(), 'jax': jax.__version__,
            'backend': jax.default_backend(),
            'devices': ', '.join(sorted({d.device_kind for d in jax.devices()})),
            'config': FLAGS.config, 'num': FLAGS.num, 'channels': FLAGS.channels,
            'sample_steps': cfg.sample_steps, 'sample_batch': cfg.sample_batch,
            'solver': cfg.solver, 'rows': rows, 'max_abs_diff': diff}
  os.makedirs(FLAGS.out, exist_ok=True)
  write_json(os.path.join(FLAGS.out, 'sampler.json'), report)
  print(f"configs/{FLAGS.config}.py on {report['devices']} ({report['backend']}): "
        f"{FLAGS.num} images, {cfg.sample_steps} {cfg.solver} steps, batches of "
        f"{cfg.sample_batch}; loops differ by at most {diff:.1e}\n" + markdown(rows))
  print(f"Written: {os.path.join(FLAGS.out, 'sampler.json')}")


if __name__ == '__main__':
  flags.DEFINE_string('config', 'diffusion', 'A diffusion config in configs/ (diffusion, '
                      'diffusion_cpu).')
  flags.DEFINE_integer('num', 300, 'Images sampled per timed call.')
  flags.DEFINE_integer('repeats', 3, 'Timed calls per loop, after a warm-up call.')
  flags.DEFINE_list('loops', list(LOOPS), 'Which loops to time.')
  flags.DEFINE_integer('channels', 1, '1 (grey) or 3 (colour).')
  flags.DEFINE_integer('sample_steps', 0, 'Solver steps (0: the config\'s).')
  flags.DEFINE_string('out', 'runs/bench_sampler', 'Folder for sampler.json.')
  app.run(main)
