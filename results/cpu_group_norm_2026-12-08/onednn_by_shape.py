"""Sums a oneDNN verbose log (ONEDNN_VERBOSE=1) by convolution shape and pass,
with GFLOP/s (calls that ran side by side each count their own wall time).
python results/cpu_group_norm_2026-12-08/onednn_by_shape.py LOG"""
import re, sys, collections
rows = collections.defaultdict(lambda: [0, 0.0, '', 0])
other = collections.Counter()
for line in open(sys.argv[1]):
  f = line.strip().split(',')
  if len(f) < 6 or f[1] != 'exec': continue
  if f[3] != 'convolution':
    other[f[3]] += float(f[-1]); continue
  impl, prop, shape, ms = f[4], f[5], f[-2], float(f[-1])
  m = re.match(r'mb(\d+)_ic(\d+)oc(\d+)_ih(\d+)oh(\d+)kh(\d+)sh(\d+)dh\d+ph\d+_iw(\d+)ow(\d+)kw(\d+)', shape)
  mb, ic, oc, ih, oh, kh, sh, iw, ow, kw = map(int, m.groups())
  r = rows[(shape, prop)]
  r[0] += 1; r[1] += ms; r[2] = impl; r[3] = 2 * mb * ic * oc * oh * ow * kh * kw
tot = collections.Counter()
for (shape, prop), (n, ms, impl, fl) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
  tot[prop] += ms
  print(f'{ms:7.1f} ms {n:2d}x {prop:17s} {impl:40s} {shape:58s} {n*fl/ms/1e6:6.0f} GFLOP/s')
print(dict(tot), dict(other))
