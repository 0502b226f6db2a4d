"""Our side of the race for a few epochs: whole run and per-epoch seconds."""
import json, shutil, sys, time
from medaug_jax.bench import end_to_end
from medaug_jax import run as run_lib, trainer
trainer.SHORT_TAIL_MIN_STEPS = 0  # the short last step of a long run, in two epochs
config = end_to_end.recipe(int(sys.argv[1]), 'breastmnist', None, '/work/shared/data')
shutil.rmtree('/tmp/fe_wd', ignore_errors=True)
t = time.perf_counter()
run_lib.train_and_evaluate(config, '/tmp/fe_wd')
total = time.perf_counter() - t
eps = [json.loads(l)['epoch_s'] for l in open('/tmp/fe_wd/metrics.jsonl') if '"epoch_s"' in l and 'classifier' in l]
print(f'RESULT total {total:.1f} epochs {eps} outside {total - sum(eps):.1f}', flush=True)
