#!/bin/bash
# The measurements in this folder, one after another on an otherwise idle machine.
set -x
cd "$(dirname "$0")/../.."
D=results/cpu_joint_d_2026-12-08
B="python -m medaug_jax.bench --models=dcgan --channels=1,3 --repeats=3 --noclassic --noepoch --nowithout_onednn --gen_block=3"
.venv/bin/python $D/joint_d_ab.py 2>&1 | grep -v '^W' > $D/joint_d_ab.log
PATH=.venv/bin:$PATH $B --out=$D/bench_separate
PATH=.venv/bin:$PATH $B --out=$D/bench_joint --generator_set=joint_d=True
