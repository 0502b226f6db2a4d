import time, shutil, statistics
import jax, jax.numpy as jnp, numpy as np
import orbax.checkpoint as ocp
rng=np.random.default_rng(0)
sizes=[64*64*9]*20+[128*128*9]*15+[256*256*9]*15+[512*512*9]*12+[512]*100
state={f'a{i}': jnp.asarray(rng.standard_normal(s, dtype=np.float32)*0.01) for i,s in enumerate(sizes)}
opts=lambda: ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False)
ms={}
for comp in ('standard', True, False):
  d=f'/tmp/ck_{comp}'; shutil.rmtree(d, ignore_errors=True)
  if comp=='standard':
    ms[comp]=(ocp.CheckpointManager(d, options=opts()), lambda s: ocp.args.Composite(state=ocp.args.StandardSave(s), meta=ocp.args.JsonSave({'a':1})))
  else:
    ms[comp]=(ocp.CheckpointManager(d, options=opts(), item_handlers={'state': ocp.PyTreeCheckpointHandler(use_compression=comp), 'meta': ocp.JsonCheckpointHandler()}), lambda s: ocp.args.Composite(state=ocp.args.PyTreeSave(s), meta=ocp.args.JsonSave({'a':1})))
ts={k:[] for k in ms}
for i in range(10):
  for k,(m,a) in ms.items():
    t=time.perf_counter(); m.save(i, args=a(state), force=True); m.wait_until_finished(); ts[k].append(time.perf_counter()-t)
for k,v in ts.items(): print(k, 'median %.3f'%statistics.median(v[1:]), ' '.join('%.2f'%x for x in v))
