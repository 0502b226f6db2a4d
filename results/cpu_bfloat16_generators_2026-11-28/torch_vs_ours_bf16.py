"""In bfloat16 (torch_vs_ours.py of results/cpu_bn_relu_init_2026-11-28 with its arrays cast). One process: dcgan D's 4x4 stride-2 convolutions and three 3x3 ones through our oneDNN 3.2
custom calls and through torch's bundled oneDNN (channels_last tensors), alternating, best of 7.

  .venv/bin/python results/cpu_bfloat16_generators_2026-11-28/torch_vs_ours_bf16.py
"""
import time, sys
import numpy as np
import jax, jax.numpy as jnp
from medaug_jax import hostmem
from medaug_jax.ops import onednn
hostmem.keep_freed_memory(); onednn._library()
import torch
torch.set_num_threads(2)
print('torch', torch.__version__, 'oneDNN', torch.backends.mkldnn.version() if hasattr(torch.backends.mkldnn, 'version') else '?')
SHAPES = [(28, 64, 128, 4, 2, 1), (14, 128, 256, 4, 2, 1), (28, 128, 64, 3, 1, 1), (28, 64, 64, 3, 1, 1), (14, 128, 128, 3, 1, 1)]
def best(f, n=7):
  f(); ts = []
  for _ in range(n):
    t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
  return min(ts) * 1e3
rs = np.random.RandomState(0)
for H, C, O, K, S, P in SHAPES:
  OH = (H + 2 * P - K) // S + 1
  x = rs.uniform(-.5, .5, (128, H, H, C)).astype(np.float32)
  w = rs.uniform(-.5, .5, (K, K, C, O)).astype(np.float32)
  dy = rs.uniform(-.5, .5, (128, OH, OH, O)).astype(np.float32)
  jx, jw, jdy = (jnp.asarray(a).astype(jnp.bfloat16) for a in (x, w, dy))
  st, pads = (S, S), ((P, P), (P, P))
  jf = jax.jit(lambda x, w: onednn.conv(x, w, st, pads))
  jd = jax.jit(lambda dy, w: onednn.input_grad(dy, w, x.shape, st, pads))
  jwg = jax.jit(lambda x, dy: onednn.kernel_grad(x, dy, w.shape, st, pads))
  tx = torch.from_numpy(x).bfloat16().permute(0, 3, 1, 2)  # NCHW view of NHWC memory = channels_last
  tw = torch.from_numpy(w).bfloat16().permute(3, 2, 0, 1).contiguous()
  tdy = torch.from_numpy(dy).bfloat16().permute(0, 3, 1, 2)
  assert tx.is_contiguous(memory_format=torch.channels_last)
  cb = torch.ops.aten.convolution_backward
  tf = lambda: torch.nn.functional.conv2d(tx, tw, None, S, P)
  td = lambda: cb(tdy, tx, tw, None, (S, S), (P, P), (1, 1), False, (0, 0), 1, (True, False, False))
  twg = lambda: cb(tdy, tx, tw, None, (S, S), (P, P), (1, 1), False, (0, 0), 1, (False, True, False))
  ours = {'fwd': lambda: jf(jx, jw).block_until_ready(), 'bwdd': lambda: jd(jdy, jw).block_until_ready(),
          'bwdw': lambda: jwg(jx, jdy).block_until_ready()}
  theirs = {'fwd': tf, 'bwdd': td, 'bwdw': twg}
  res = {}
  for r in range(2):
    for k in ours:
      res.setdefault(k, [[], []])
      res[k][0].append(best(ours[k])); res[k][1].append(best(theirs[k]))
  print(f'{H}x{H} {C}->{O} k{K} s{S}: ' + '; '.join(f'{k} ours {min(a):.1f} torch {min(b):.1f} ms ({min(a)/min(b):.2f}x)' for k, (a, b) in res.items()), flush=True)
