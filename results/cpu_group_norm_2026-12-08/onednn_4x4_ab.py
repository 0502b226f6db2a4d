"""The ResNet train step with oneDNN for layer4's 4x4 stride-1 convs against
Winograd F(2x2) (what conv_cpu picks), in one process, alternating.
python results/cpu_group_norm_2026-12-08/onednn_4x4_ab.py"""
import sys
sys.path.insert(0, 'results/cpu_concurrency_gn_2026-11-28')
import alternate
from medaug_jax.ops import conv_cpu
a = alternate.step('resnet_train', 1)
conv_cpu._ONEDNN_MIN_STRIDE1_PIXELS = 0
b = alternate.step('resnet_train', 1)
alternate.alternate('train', {'onednn4x4': b, 'winograd4x4': a}, 8)
