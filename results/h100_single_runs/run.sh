#!/usr/bin/env bash
# Second device call: one BreastMNIST run each of dcgan (its config's budget)
# and diffusion (1000 generator epochs), side by side on the GPU, for their
# sample grids and wall times.
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD MEDMNIST_ROOT=$PWD/.devdata MEDAUG_CACHE=/tmp/medaug_cache
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
{ date -u; nvidia-smi --query-gpu=name --format=csv,noheader; } > $OUT/machine2.txt
timeout 20 nvidia-cuda-mps-control -d && echo "MPS: on" >> $OUT/machine2.txt
run() {  # method, extra flags
  local t=$(date +%s.%N)
  timeout -k 5 ${RUN_S:-165} python3 -m medaug_jax.main --config=configs/$1.py \
    --workdir=runs/gpu_runs/breastmnist-$1 --config.classifier.checkpoint_every=100 "${@:2}" > $OUT/$1.log 2>&1
  echo "$1 exit $? wall $(python3 -c "import time; print(round(time.time() - $t, 1))") s" >> $OUT/$1.log
}
run dcgan & run diffusion --config.generator.epochs=1000 &
wait
tail -3 $OUT/dcgan.log $OUT/diffusion.log
tar czf $OUT/gpu_runs.tgz --exclude=checkpoints --exclude='*.npz' --exclude='.lock' runs/gpu_runs
echo "done in $(( $(date +%s) - T0 ))s"; ls -la $OUT
