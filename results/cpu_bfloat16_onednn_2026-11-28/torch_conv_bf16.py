"""torch's own convolutions (its bundled oneDNN), float32 against bfloat16,
forward and backward, batch 128, channels-last, two threads: how much this
CPU's bfloat16 arithmetic (AMX) gives a layer, and how much that moves from
one run to the next on this VM.

  .venv/bin/python results/cpu_bfloat16_onednn_2026-11-28/torch_conv_bf16.py
"""
import time

import torch

torch.set_num_threads(2)
for shape, (ci, co, hw) in [('28x28x64', (64, 64, 28)), ('14x14x128', (128, 128, 14)),
                            ('7x7x256', (256, 256, 7))]:
  for dt in (torch.float32, torch.bfloat16):
    x = torch.randn(128, ci, hw, hw).to(dt).contiguous(
        memory_format=torch.channels_last).requires_grad_()
    conv = torch.nn.Conv2d(ci, co, 3, padding=1, bias=False).to(dt).to(
        memory_format=torch.channels_last)
    for _ in range(3):
      conv(x).sum().backward()
    ts = []
    for _ in range(5):
      t = time.perf_counter()
      y = conv(x)
      t1 = time.perf_counter()
      y.backward(torch.ones_like(y))
      ts.append((t1 - t, time.perf_counter() - t1))
    print(shape, dt, f'fwd {min(a for a, _ in ts) * 1e3:.1f} ms '
          f'bwd {min(b for _, b in ts) * 1e3:.1f} ms')
