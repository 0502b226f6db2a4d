#!/usr/bin/env bash
# Step-throughput benchmark: our JAX steps against PyTorch (eager and
# torch.compile) on this machine; writes <out>/bench.json and <out>/bench.md.
#
#   launch/bench.sh                          # full table -> runs/bench (< 10 min on 2 CPU cores)
#   launch/bench.sh runs/bench_quick --quick --notorch
#   launch/bench.sh runs/bench_gpu --resnet_block=20 --gen_block=50 --num_seeds=4
#
# PyTorch is optional: pip install '.[bench]' (on these machines torch==2.13.0
# is a local CPU wheel). Without it the PyTorch columns stay empty.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${1:-runs/bench}"
shift $(( $# < 1 ? $# : 1 ))
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"

echo "bench -> ${OUT} (python ${PYTHON}, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'))"
exec "${PYTHON}" -m medaug_jax.bench --out="${OUT}" "$@"
