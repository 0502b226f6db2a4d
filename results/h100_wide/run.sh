#!/usr/bin/env bash
# One device call: GPU bench rows of the new generators, then the wide grid
# with concurrent workers until the deadline, then report and tarball to $OUT.
T0=$(date +%s); LIMIT=${LIMIT:-580}
left() { echo $(( T0 + LIMIT - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD MEDMNIST_ROOT=$PWD/.devdata MEDAUG_CACHE=/tmp/medaug_cache
export PYTHON=python3 PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; lscpu | grep -E 'Model name|^CPU\(s\)'; git log -1 --format='commit %H'; git status --short; } > $OUT/machine.txt 2>&1
python3 -c "import jax, flax, optax, torch, orbax.checkpoint; from importlib.metadata import version as v; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'orbax', v('orbax-checkpoint'), 'torch', torch.__version__, jax.devices())" >> $OUT/machine.txt 2>&1
cat $OUT/machine.txt
# MPS lets the workers' kernels run side by side instead of time-sliced.
if timeout 20 nvidia-cuda-mps-control -d >/dev/null 2>&1 && timeout 60 python3 -c "import jax.numpy as j; print(float(j.ones(3).sum()))" >/dev/null 2>&1; then
  echo "MPS: on" | tee -a $OUT/machine.txt
else
  echo quit | nvidia-cuda-mps-control >/dev/null 2>&1; echo "MPS: off" | tee -a $OUT/machine.txt
fi
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 2 > $OUT/gpu_util.csv 2>&1 &
echo "== bench ($(left)s left)"
timeout -k 10 ${BENCH_S:-150} python3 -m medaug_jax.bench --out=$OUT/bench --models=dcgan,cvae_conv,diffusion --channels=1 --repeats=3 --gen_block=30 --noepoch --noclassic > $OUT/bench.log 2>&1
tail -20 $OUT/bench.log
echo "== grid ($(left)s left)"
G=$(( $(left) - 45 ))
WORKERS=${WORKERS:-12} timeout -k 40 -s TERM $G launch/local.sh configs/grid_wide.py runs/wide \
  --config.order=methods --config.methods=none,classic,diffusion,diffusion+classic,dcgan,dcgan+classic,cvae_conv,cgan,cvae,ae \
  --config.base.quality.cas=false --config.base.classifier.checkpoint_every=100 \
  --config.generators.diffusion.epochs=${DIFF_EPOCHS:-400} > $OUT/grid.log 2>&1
echo "grid exit $? ($(left)s left)"; tail -5 $OUT/grid.log
ls runs/wide/report.md >/dev/null 2>&1 || timeout 60 python3 -m medaug_jax.report runs/wide >> $OUT/grid.log 2>&1
tar czf $OUT/wide.tgz --exclude=checkpoints --exclude='*.npz' --exclude='.lock' runs/wide
ls -la $OUT; echo "done ($(left)s left)"
