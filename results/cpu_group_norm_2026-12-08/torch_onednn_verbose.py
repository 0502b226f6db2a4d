"""The torch eager twin's train step (oneDNN 3.12, as torch 2.13 bundles it)
under oneDNN's verbose log: ms a step by primitive, kernel and pass.
python results/cpu_group_norm_2026-12-08/torch_onednn_verbose.py MODEL"""
import collections, io, os, re, sys
from absl import flags
from medaug_jax.bench import throughput, torch_twins
flags.FLAGS(['x'])
import torch
torch.set_num_threads(2)
model = sys.argv[1]
o = throughput.options(models=[model], channels=[1], gen_block=1, torch_compile=False)
impl = throughput.torch_impls(model, 1, o, 'cpu')[0]
impl.run(2)
import tempfile
tmp = tempfile.TemporaryFile('w+')
w = tmp.fileno()
saved = os.dup(1)
sys.stdout.flush(); os.dup2(w, 1)
with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
  impl.run(1)
sys.stdout.flush(); os.dup2(saved, 1)
tmp.seek(0); text = tmp.read()
by = collections.Counter(); n = collections.Counter(); tot = collections.Counter()
for line in text.splitlines():
  f = line.split(',')
  if len(f) > 5 and f[0] == 'onednn_verbose' and 'exec' in f:
    i = f.index('exec')
    prim, impl_name, prop = f[i + 2], f[i + 3], f[i + 4]
    ms = float(f[-1])
    by[(prim, impl_name, prop)] += ms; n[(prim, impl_name, prop)] += 1; tot[(prim, prop)] += ms
for k, v in sorted(by.items(), key=lambda kv: -kv[1]):
  print(f'{v:8.1f} ms {n[k]:3d} {k}')
for k, v in sorted(tot.items(), key=lambda kv: -kv[1]):
  print(f'TOTAL {k}: {v:.1f} ms')
