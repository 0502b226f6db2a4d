"""The benchmark's dcgan and UNet steps with the one-pass group norm and with
Flax's (onednn.turned_off('group_norm')), built in one process and timed in
alternating blocks:
python results/cpu_group_norm_2026-12-08/gn_ab.py [DTYPE [MODEL ...]]
(DTYPE float32 by default; models diffusion and dcgan)."""
import sys
sys.path.insert(0, 'results/cpu_concurrency_gn_2026-11-28')
import alternate  # pylint: disable=wrong-import-position
from medaug_jax.ops import onednn  # pylint: disable=wrong-import-position

dtype = sys.argv[1] if len(sys.argv) > 1 else 'float32'
for model in sys.argv[2:] or ['diffusion', 'dcgan']:
  for ch in (1, 3):
    ours = alternate.step(model, ch, gen_block=3, dtype=dtype)
    with onednn.turned_off('group_norm'):
      flax = alternate.step(model, ch, gen_block=3, dtype=dtype)
    alternate.alternate(f'{model} ch={ch} {dtype}', {'one_pass': ours, 'flax': flax}, 6)
