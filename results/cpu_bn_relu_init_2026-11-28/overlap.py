"""How much of the oneDNN custom calls' wall time in a step has another XLA op
(not oneDNN) running on another thread beside it, from a jax.profiler trace:

  .venv/bin/python results/cpu_bn_relu_init_2026-11-28/overlap.py dcgan 3
"""
import glob, gzip, json, sys, tempfile, time, collections
from absl import flags
import jax
from medaug_jax import hostmem
from medaug_jax.bench import profile, throughput
hostmem.keep_freed_memory()
model, ch = sys.argv[1], int(sys.argv[2])
flags.FLAGS(['x'])
run, hlo = profile._step_fn(model, ch, True)
labels = profile.op_labels(hlo)
run(3)
with tempfile.TemporaryDirectory() as d:
  jax.profiler.start_trace(d); t0 = time.perf_counter(); run(3); wall = time.perf_counter() - t0; jax.profiler.stop_trace()
  with gzip.open(glob.glob(f'{d}/**/*.trace.json.gz', recursive=True)[0]) as f:
    ev = json.load(f)['traceEvents']
ops = [e for e in ev if e.get('ph') == 'X' and profile._is_op(e.get('name', ''))]
is_dnn = lambda e: (labels.get(e['name']) or '').startswith('medaug_onednn')
dnn = [e for e in ops if is_dnn(e)]
other = [e for e in ops if not is_dnn(e) and e['dur'] > 0]
# intervals of other ops per thread
import bisect
other.sort(key=lambda e: e['ts'])
starts = [e['ts'] for e in other]
tot = ovl = 0.0
by_label = collections.defaultdict(float)
for e in dnn:
  a, b = e['ts'], e['ts'] + e['dur']
  tot += e['dur']
  # union of overlapping other-op intervals on other threads, clipped to [a, b]
  iv = []
  i = bisect.bisect_left(starts, a - 5e5)
  for o in other[i:]:
    if o['ts'] >= b: break
    if o['tid'] == e['tid']: continue
    lo, hi = max(a, o['ts']), min(b, o['ts'] + o['dur'])
    if hi > lo: iv.append((lo, hi)); by_label[labels.get(o['name']) or o['name']] += hi - lo
  iv.sort(); cur = None; u = 0.0
  for lo, hi in iv:
    if cur is None or lo > cur[1]:
      if cur: u += cur[1] - cur[0]
      cur = [lo, hi]
    else: cur[1] = max(cur[1], hi)
  if cur: u += cur[1] - cur[0]
  ovl += u
print(f'{model} ch{ch}: wall/step {wall/3*1e3:.0f} ms; oneDNN calls {len(dnn)/3:.0f}/step, {tot/3e3:.0f} ms/step; '
      f'with another XLA op beside them {ovl/3e3:.0f} ms/step ({100*ovl/tot:.0f}%)')
for k, v in sorted(by_label.items(), key=lambda kv: -kv[1])[:12]:
  print(f'  {v/3e3:7.1f} ms/step beside: {k}')
