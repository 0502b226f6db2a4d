"""Sums oneDNN's verbose exec lines between the markers of onednn_in_step.py:
milliseconds per step by primitive, implementation, pass and shape."""
import sys, collections
lines = open(sys.argv[1]).read().splitlines()
i = lines.index('=== MEASURE'); j = [k for k, l in enumerate(lines) if l.startswith('=== END')][0]
print(lines[j])
agg = collections.defaultdict(lambda: [0.0, 0])
for l in lines[i+1:j]:
  if not l.startswith('onednn_verbose') or ',exec,' not in l: continue
  f = l.split(',')
  # onednn_verbose,[timestamp,]exec,cpu,kind,impl,prop,mds...,attrs,aux,desc,time
  k = f.index('exec')
  kind, impl, prop = f[k+2], f[k+3], f[k+4]
  desc, ms = f[-2], float(f[-1])
  key = (kind, impl, prop, desc)
  agg[key][0] += ms / 3; agg[key][1] += 1
tot = collections.defaultdict(float)
for (kind, impl, prop, desc), (ms, n) in sorted(agg.items(), key=lambda kv: -kv[1][0]):
  tot[kind] += ms
  print(f'{ms:8.2f} ms/step  x{n/3:.0f}  {kind:22s} {impl:28s} {prop:20s} {desc}')
print({k: round(v, 1) for k, v in tot.items()}, 'sum', round(sum(tot.values()), 1))
