"""Sums a ONEDNN_VERBOSE=1 log of verbose_step.py or torch_step.py (ours:
oneDNN 3.2's format; torch's bundled oneDNN: 'v1,primitive,' more): per
timed step its wall time and oneDNN's summed execution time, then, for the
last step, execution time by implementation, pass and shape.

  .venv/bin/python results/cpu_bfloat16_generators_2026-11-28/verbose_summary.py LOG
"""
import collections
import sys

steps, current, wall = [], None, []
for line in open(sys.argv[1]):
  if line.startswith('=====START'):
    current = []
  elif line.startswith('=====END'):
    steps.append(current)
    wall.append(float(line.split()[1]))
    current = None
  elif current is not None and line.startswith('onednn_verbose') and ',exec,' in line:
    f = line.rstrip('\n').split(',')
    at = f.index('exec')
    impl, prop = f[at + 3].split(':')[0], f[at + 4]
    current.append((f'{prop} {f[at + 2]} {impl}', f[-2], float(f[-1])))
for i, (w, s) in enumerate(zip(wall, steps)):
  print(f'step {i}: wall {w:.1f} ms, oneDNN execution {sum(t for *_, t in s):.1f} ms, '
        f'{len(s)} calls')
by = collections.defaultdict(lambda: [0.0, 0])
for kind, shape, t in steps[-1]:
  by[(kind, shape)][0] += t
  by[(kind, shape)][1] += 1
print('\nlast step, by pass and shape:\n\n| ms | calls | pass, primitive, implementation | shape |\n|---|---|---|---|')
for (kind, shape), (t, n) in sorted(by.items(), key=lambda kv: -kv[1][0]):
  if t >= 1.0:
    print(f'| {t:.1f} | {n} | {kind} | {shape} |')
