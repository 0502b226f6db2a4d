#!/usr/bin/env bash
# The two device calls that made this folder's dcgan cells (2026-11-26, one
# H200), run from the repository root with .whl/, .devdata/ and runs/wide
# (holding results/h100_wide's none/classic cells and the PneumoniaMNIST dcgan
# generators of results/h200_wide_attempt) carried to the machine.
set -euo pipefail
GRID=(configs/grid_wide.py runs/wide --config.order=methods
      --config.methods=none,classic,dcgan,dcgan+classic
      --config.base.quality.cas=false --config.base.classifier.checkpoint_every=100)
LIMIT=545 WORKERS=5 bash launch/device_grid.sh "${GRID[@]}"   # call 1
LIMIT=290 WORKERS=5 bash launch/device_grid.sh "${GRID[@]}"   # call 2, same warm machine
python -m medaug_jax.report runs/wide
