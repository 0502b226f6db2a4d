#!/usr/bin/env bash
# Runs a grid on this machine (CPU or one GPU) and writes its report.
#
#   launch/local.sh                      # quick profile: 3 datasets x 4 methods x 3 seeds
#   launch/local.sh configs/grid.py runs/table2 --config.seeds='(0,1,2)'
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
"${PYTHON}" -m medaug_jax.grid --config="${CONFIG}" --workdir="${WORKDIR}" "$@" || status=$?
echo "grid wall time: $(( $(date +%s) - start ))s on $(uname -m), $(nproc) cores"
"${PYTHON}" -m medaug_jax.report "${WORKDIR}"
exit "${status:-0}"
