#!/usr/bin/env bash
# One device call: the generator cells of the wide grid (issues 10/11) beside
# the none/classic cells already run on an H100 (results/h100_wide), with
# WORKERS concurrent grid processes until the deadline, then a tarball to $OUT.
T0=$(date +%s); LIMIT=${LIMIT:-545}
left() { echo $(( T0 + LIMIT - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD MEDMNIST_ROOT=$PWD/.devdata MEDAUG_CACHE=/tmp/medaug_cache
export PYTHON=python3 PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; lscpu | grep -E 'Model name|^CPU\(s\)'; git log -1 --format='commit %H'; git status --short | grep -v '^??'; } > $OUT/machine.txt 2>&1
python3 -c "import jax, flax, optax, orbax.checkpoint; from importlib.metadata import version as v; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'orbax', v('orbax-checkpoint'), jax.devices())" >> $OUT/machine.txt 2>&1
if timeout 20 nvidia-cuda-mps-control -d >/dev/null 2>&1 && timeout 60 python3 -c "import jax.numpy as j; print(float(j.ones(3).sum()))" >/dev/null 2>&1; then
  echo "MPS: on" >> $OUT/machine.txt
else
  echo quit | nvidia-cuda-mps-control >/dev/null 2>&1; echo "MPS: off" >> $OUT/machine.txt
fi
cat $OUT/machine.txt
# The finished none/classic cells of the H100 call: the grid skips them (same
# semantic config) and the report pairs the new cells with them by seed.
for d in breastmnist pneumoniamnist retinamnist; do
  mkdir -p runs/wide/$d && cp -r results/h100_wide/$d/none results/h100_wide/$d/classic runs/wide/$d/
done
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 2 > $OUT/gpu_util.csv 2>&1 &
echo "== grid ($(left)s left)"
G=$(( $(left) - 25 ))
WORKERS=${WORKERS:-6} timeout -k 15 -s TERM $G launch/local.sh configs/grid_wide.py runs/wide \
  --config.order=methods \
  --config.methods=none,classic,dcgan,diffusion,dcgan+classic,diffusion+classic,cvae_conv,cgan,cvae,ae \
  --config.base.quality.cas=false --config.base.classifier.checkpoint_every=100 \
  --config.generators.diffusion.epochs=${DIFF_EPOCHS:-400} > $OUT/grid.log 2>&1
echo "grid exit $? ($(left)s left)"; tail -3 $OUT/grid.log
# Generated images (generated.npz, under 1 MB a seed) come back so that a
# later call resumes from finished generator phases; checkpoints do not fit.
tar czf $OUT/wide.tgz --exclude=checkpoints --exclude='.lock' runs/wide
ls -la $OUT; echo "done ($(left)s left)"
