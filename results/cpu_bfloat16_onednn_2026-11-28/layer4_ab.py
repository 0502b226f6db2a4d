"""The bfloat16 ResNet-18 train step with layer4's three 3x3 convs on 4x4
maps as Winograd matmuls in float32 (what conv_cpu picks) and as oneDNN's
bfloat16 convs, in one process, alternating blocks:

  .venv/bin/python results/cpu_bfloat16_onednn_2026-11-28/layer4_ab.py 8
"""
import sys

import dtype_ab  # pylint: disable=g-bad-import-order
from medaug_jax.ops import conv_cpu

if __name__ == '__main__':
  winograd = dtype_ab.step('resnet_train', 'bfloat16')
  conv_cpu._ONEDNN_MIN_STRIDE1_PIXELS = 0  # pylint: disable=protected-access
  onednn_bf16 = dtype_ab.step('resnet_train', 'bfloat16')
  dtype_ab.alternate.alternate('resnet_train bfloat16', {'winograd_f32': winograd,
                                                         'onednn_bf16': onednn_bf16},
                               int(sys.argv[1]))
