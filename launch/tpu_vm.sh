#!/usr/bin/env bash
# Runs a grid on a Cloud TPU VM: a single host (v4-8, v5e-8, ...) or a pod
# slice with several hosts (v4-32, v5e-32, ...), where every host runs the
# same program and jax.distributed.initialize() joins them into one set of
# devices (the grid's --multihost flag).
#
# From your workstation (gcloud configured):
#   TPU=my-tpu ZONE=us-central2-b REPO_URL=https://github.com/<you>/medaug_jax.git \
#     launch/tpu_vm.sh [CONFIG] [WORKDIR] [--config.overrides ...]
# Create the TPU first, e.g.
#   gcloud compute tpus tpu-vm create my-tpu --zone=us-central2-b \
#     --accelerator-type=v4-8 --version=tpu-ubuntu2204-base
#
# On a pod slice each host writes its own copy of the workdir; the report is
# written by process 0. Copy it back with
#   gcloud compute tpus tpu-vm scp --zone=$ZONE --worker=0 --recurse \
#     my-tpu:medaug_jax/runs/table2 ./runs/
set -euo pipefail

: "${TPU:?set TPU to the TPU VM name}"
: "${ZONE:?set ZONE to its zone}"
: "${REPO_URL:?set REPO_URL to the git URL of this repository}"
BRANCH="${BRANCH:-main}"
CONFIG="${1:-configs/grid.py}"
WORKDIR="${2:-runs/table2}"
shift $(( $# < 2 ? $# : 2 ))
EXTRA="$*"

# The vmapped seeds fill the TPU; bfloat16 is the TPU's fast matmul type.
REMOTE=$(cat <<EOS
set -euo pipefail
if [ ! -d medaug_jax ]; then git clone --branch ${BRANCH} ${REPO_URL} medaug_jax; fi
cd medaug_jax && git pull --ff-only
python3 -m pip install -q -U pip
python3 -m pip install -q 'jax[tpu]' -f https://storage.googleapis.com/jax-releases/libtpu_releases.html
python3 -m pip install -q -e . && python3 -m pip install -q --no-deps medmnist
export MEDAUG_MULTIHOST=1
nohup python3 -m medaug_jax.grid --config=${CONFIG} --workdir=${WORKDIR} \
    --config.base.vmap_seeds=auto ${EXTRA} > grid.log 2>&1 &
echo "started on \$(hostname); log: ~/medaug_jax/grid.log"
EOS
)

gcloud compute tpus tpu-vm ssh "${TPU}" --zone="${ZONE}" --worker=all --command="${REMOTE}"
echo "Follow it with:"
echo "  gcloud compute tpus tpu-vm ssh ${TPU} --zone=${ZONE} --worker=0 --command='tail -f medaug_jax/grid.log'"
echo "The grid resumes where it stopped if you run this script again (e.g. after preemption)."
