#!/usr/bin/env bash
# Runs a grid on this machine (CPU or one GPU) and writes its report.
#
#   launch/local.sh                      # quick profile: 3 datasets x 4 methods x 3 seeds
#   launch/local.sh configs/grid.py runs/table2 --config.seeds='(0,1,2)'
#   WORKERS=12 launch/local.sh configs/grid_wide.py runs/wide   # one GPU, 12 processes
#
# WORKERS=N starts N grid processes on the same workdir: each claims cells by
# lock, so they share the grid without overlap. A 28x28 ResNet-18 at batch 128
# keeps only a fraction of a GPU busy, so on a GPU several workers finish a
# grid sooner (GPU memory is then taken as needed, not preallocated). Their
# output goes to <workdir>/logs/worker_<i>.log. SIGTERM/Ctrl-C reaches every
# worker: each stops at a step boundary with a checkpoint, and the same
# command resumes. On a SLURM cluster, medaug_jax.dispatch starts the workers as
# a job array instead (README, "The results table in one command").
#
# Data: MedMNIST npz files are looked up in $MEDMNIST_ROOT (default: ../shared/data
# when it exists, else ~/.medmnist, where missing files are downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG="${1:-configs/grid_quick.py}"
WORKDIR="${2:-runs/$(basename "${CONFIG}" .py)}"
shift $(( $# < 2 ? $# : 2 ))

PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
if [ -z "${MEDMNIST_ROOT:-}" ] && [ -d ../shared/data ]; then
  export MEDMNIST_ROOT="$(cd ../shared/data && pwd)"
fi

echo "config ${CONFIG} -> ${WORKDIR} (MEDMNIST_ROOT=${MEDMNIST_ROOT:-~/.medmnist}, python ${PYTHON})"
"${PYTHON}" -c 'import jax; print("devices:", jax.devices())'
start=$(date +%s)
# A failed cell makes the grid exit 1 after the report is written; keep going
# so the report below is still shown.
WORKERS="${WORKERS:-1}"
if [ "${WORKERS}" -gt 1 ]; then
  export XLA_PYTHON_CLIENT_PREALLOCATE=false
  mkdir -p "${WORKDIR}/logs"
  pids=()
  trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
  for i in $(seq 1 "${WORKERS}"); do
    "${PYTHON}" -m medaug_jax.grid --config="${CONFIG}" --workdir="${WORKDIR}" --noreport "$@" \
      > "${WORKDIR}/logs/worker_${i}.log" 2>&1 &
    pids+=($!)
  done
  echo "${WORKERS} workers: ${pids[*]} (logs in ${WORKDIR}/logs)"
  for p in "${pids[@]}"; do
    wait "${p}" || status=$?
  done
  # A trapped signal ends `wait` early; wait for the workers' checkpoints.
  for p in "${pids[@]}"; do
    while kill -0 "${p}" 2>/dev/null; do sleep 1; done
  done
else
  "${PYTHON}" -m medaug_jax.grid --config="${CONFIG}" --workdir="${WORKDIR}" "$@" || status=$?
fi
echo "grid wall time: $(( $(date +%s) - start ))s on $(uname -m), $(nproc) cores"
"${PYTHON}" -m medaug_jax.report "${WORKDIR}"
exit "${status:-0}"
