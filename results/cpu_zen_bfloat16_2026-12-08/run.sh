#!/bin/bash
# bfloat16 against float32 on a CPU with AVX512-BF16 and no AMX, on an
# otherwise idle machine: torch's own convs, then our ResNet step and eval
# pass in alternating blocks in one process.
set -x
cd "$(dirname "$0")/../.."
D=results/cpu_zen_bfloat16_2026-12-08
O=results/cpu_bfloat16_onednn_2026-11-28
lscpu > $D/lscpu.txt
.venv/bin/python $O/torch_conv_bf16.py > $D/torch_conv_bf16.log 2>&1
for m in resnet_train resnet_eval; do
  .venv/bin/python $O/dtype_ab.py $m 6 2>&1 | grep -v '^W' > $D/dtype_ab_${m#resnet_}.log
done
# The benchmark, each precision against its PyTorch twin (bfloat16: torch under autocast).
B="python -m medaug_jax.bench --channels=1,3 --repeats=3 --noclassic --noepoch --nowithout_onednn --gen_block=3"
export PATH=.venv/bin:$PATH
$B --models=diffusion --out=$D/bench_generators_float32
$B --models=dcgan,diffusion --dtype=bfloat16 --out=$D/bench_generators_bfloat16
$B --models=resnet_train,resnet_eval --out=$D/bench_resnet_float32
$B --models=resnet_train,resnet_eval --dtype=bfloat16 --out=$D/bench_resnet_bfloat16
