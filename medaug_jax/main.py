"""Runs one experiment: python -m medaug_jax.main --config=configs/none.py --workdir=DIR"""
from absl import app, flags, logging
from ml_collections import config_flags

from medaug_jax import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs and results.')
flags.DEFINE_bool('overwrite', False, 'Delete a workdir that holds a different run.')
flags.DEFINE_bool('generator_only', False, 'Stop after the generator phase (samples in '
                  'samples.png, measures in generator.json); rerun without it to go on.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  # orbax logs every checkpoint step at INFO; keep the terminal for progress.
  logging.set_verbosity(logging.WARNING)
  from medaug_jax import run  # pylint: disable=g-import-not-at-top
  results = cli.call(lambda: run.train_and_evaluate(FLAGS.config, FLAGS.workdir,
                                                    FLAGS.overwrite, FLAGS.generator_only),
                     FLAGS.workdir)
  if FLAGS.generator_only:
    print(f'Generator phase done: samples in {FLAGS.workdir}/samples.png, measures in '
          f'{FLAGS.workdir}/generator.json; run again without --generator_only for the '
          'classifier.')
    return
  sel, best = results['selected'], results['best_test']
  print(f"{results['dataset']} {results['method']} seed {results['seed']}: "
        f"test AUC {sel['test_auc']:.3f} ACC {sel['test_acc']:.3f} at epoch "
        f"{sel['epoch']} (val AUC {sel['val_auc']:.3f}); best test over epochs "
        f"(the paper's figure) AUC {best['auc']:.3f} ACC {best['acc']:.3f}. "
        f"Results in {FLAGS.workdir}/results.json")


if __name__ == '__main__':
  cli.start(main)
