"""oneDNN calls that find another in flight run on one thread (dyn) or on
all (plain), in one process, alternating blocks of two steps. LIBDYN: the
wrapper built from onednn.cc with onednn_one_thread_when_busy.diff applied
(PROVENANCE.md): LIBDYN=... python one_thread_when_busy_ab.py MODEL CH BLOCKS"""
import os
import pathlib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from medaug_jax.ops import onednn  # pylint: disable=wrong-import-position

onednn.build = lambda: pathlib.Path(os.environ['LIBDYN'])
lib = onednn._library()  # pylint: disable=protected-access
import alternate  # pylint: disable=wrong-import-position

model, ch, blocks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
impl = alternate.step(model, ch)
lib.medaug_set_dyn(1)
impl.run(2)  # the one-thread primitives made before timing
alternate.alternate(f'{model} {ch}', {'plain': impl, 'dyn': impl}, blocks,
                    before=lambda name: lib.medaug_set_dyn(int(name == 'dyn')))
