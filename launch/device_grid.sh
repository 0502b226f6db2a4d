#!/usr/bin/env bash
# One call on a borrowed GPU machine: run (or resume) a grid with WORKERS
# processes until LIMIT seconds have passed, then pack what finished into $OUT.
#
#   LIMIT=540 WORKERS=6 bash launch/device_grid.sh configs/grid_wide.py runs/wide \
#       --config.order=methods --config.base.quality.cas=false
#
# The machine has no network. Prepare beside the checkout, and send along as
# ignored paths:
#   .whl/     pip download --no-deps --python-version 3.12 --only-binary=:all: -d .whl \
#               ml_collections dm-pix tensorboardX medmnist
#             (what the machine's python lacks; jax, flax, optax and orbax are there)
#   .devdata/ the MedMNIST npz files (cp ../shared/data/*.npz .devdata/)
#   <workdir> to resume a grid: finished runs and generator phases are kept;
#             checkpoints are too large to carry, so unfinished phases restart.
# Returned in $OUT: grid.tgz (the workdir without checkpoints, generated images
# and TensorBoard events: results, per-epoch metrics, samples, worker logs),
# generated.tgz.part-* (the generated.npz files, which a later call needs to
# skip finished generator phases; cat the parts together, then untar),
# gpu_util.csv (every 2 s) and machine.txt. The device tool returns files of
# at most 16 MiB: a 21 MB tarball with the images once came back as nothing.
# A grid cut by LIMIT stops its workers with SIGTERM at a step boundary; the
# same command on a still-warm machine resumes from checkpoints.
set -uo pipefail
cd "$(dirname "$0")/.."
CONFIG="$1"; WORKDIR="$2"; shift 2
T0=$(date +%s); LIMIT=${LIMIT:-540}; OUT=${OUT:-/tmp/device_out}
mkdir -p "${OUT}"
left() { echo $(( T0 + LIMIT - $(date +%s) )); }

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:${PWD} MEDMNIST_ROOT=${PWD}/.devdata MEDAUG_CACHE=/tmp/medaug_cache
export PYTHON=python3 PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  lscpu | grep -E 'Model name|^CPU\(s\)'
  git log -1 --format='commit %H'
  git status --short | grep -v '^??'
  python3 -c "import jax, flax, optax; from importlib.metadata import version as v; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'orbax', v('orbax-checkpoint'), jax.devices())"
} > "${OUT}/machine.txt" 2>&1
# MPS runs the workers' kernels side by side instead of time-sliced. A warm
# machine may still have the daemon of an earlier call running.
if pgrep -f nvidia-cuda-mps-control >/dev/null || timeout 20 nvidia-cuda-mps-control -d; then
  echo "MPS: on" >> "${OUT}/machine.txt"
else
  echo "MPS: off" >> "${OUT}/machine.txt"
fi
cat "${OUT}/machine.txt"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 2 \
  >> "${OUT}/gpu_util.csv" 2>&1 &
echo "== grid ($(left)s left)"
# Leave time for the workers' final checkpoints and the tarball.
WORKERS=${WORKERS:-6} timeout -k 30 -s TERM $(( $(left) - 45 )) \
  launch/local.sh "${CONFIG}" "${WORKDIR}" "$@" > "${OUT}/grid.log" 2>&1
echo "grid exit $? ($(left)s left)"; tail -3 "${OUT}/grid.log"
tar czf "${OUT}/grid.tgz" --exclude=checkpoints --exclude='.lock' --exclude=generated.npz \
  --exclude='events.out.*' "${WORKDIR}"
find "${WORKDIR}" -name generated.npz -not -path '*/checkpoints/*' -print0 \
  | tar czf - --null -T - | split -b 15M - "${OUT}/generated.tgz.part-"
ls -la "${OUT}"; echo "done ($(left)s left)"
