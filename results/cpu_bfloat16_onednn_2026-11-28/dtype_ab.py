"""The ResNet-18 benchmark step (or eval pass) in bfloat16 and in float32,
built in one process and timed in alternating blocks:

  .venv/bin/python results/cpu_bfloat16_onednn_2026-11-28/dtype_ab.py resnet_train 8
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                                'cpu_concurrency_gn_2026-11-28'))
import alternate  # pylint: disable=wrong-import-position


def step(model, dtype):
  return alternate.step(model, 1, dtype=dtype)


if __name__ == '__main__':
  model = sys.argv[1]
  alternate.alternate(model, {'bfloat16': step(model, 'bfloat16'),
                              'float32': step(model, 'float32')}, int(sys.argv[2]))
