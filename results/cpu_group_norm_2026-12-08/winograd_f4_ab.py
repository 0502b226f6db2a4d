"""The ResNet train step with Winograd F(4x4, 3x3) for layer4's 4x4 maps
against F(2x2, 3x3), in one process, alternating: no gain, not kept.
python results/cpu_group_norm_2026-12-08/winograd_f4_ab.py"""
import sys
sys.path.insert(0, 'results/cpu_concurrency_gn_2026-11-28')
import alternate
from medaug_jax.ops import conv_cpu
a = alternate.step('resnet_train', 1)
f2 = conv_cpu.winograd_conv3x3
def patched(x, w):
  if x.shape[1] * x.shape[2] <= 16:
    return conv_cpu.winograd_f4_conv3x3(x, w)
  return f2(x, w)
conv_cpu.winograd_conv3x3 = patched
b = alternate.step('resnet_train', 1)
alternate.alternate('train', {'f4': b, 'f2': a}, 8)
