"""Class-conditional diffusion (medaug_jax/generators/diffusion.py), budget
for a GPU.

Objective: rectified flow / flow matching (Liu et al., 2022, "Flow Straight
and Fast", arXiv:2209.03003; Lipman et al., 2022, arXiv:2210.02747) rather
than DDPM or EDM: its loss is one mean squared error on the straight path's
velocity, with no noise schedule, loss weighting or preconditioning to get
wrong, and its nearly straight paths sample well in few deterministic Heun
steps. Classifier-free guidance (Ho & Salimans, 2022, arXiv:2207.12598) with
10% label dropout, and an EMA of the weights, as in both papers' lineage.

UNet: width 64, channels (64, 128, 128) at 28, 14 and 7 pixels, 2 residual
blocks per level, self-attention at 7x7 (about 6M parameters). Adam 2e-4
(DDPM's rate) for 2000 epochs: about 9,000 steps at batch 128 on
BreastMNIST's 546 images, 5,000 on the 300-image subsets, which is short for
diffusion and why the EMA decay is 0.999 rather than 0.9999.
"""
from configs import default


def get_config():
  config = default.get_config()
  config.method = 'diffusion'
  g = config.generator
  g.epochs = 2000
  g.lr = 2e-4
  g.b1 = 0.9
  g.width = 64
  g.channel_mult = (1, 2, 2)  # levels at 28, 14, 7 pixels; at most 3
  g.num_blocks = 2  # residual blocks per level
  g.attention = True  # self-attention at 7x7 and in the middle block
  g.norm_groups = 8  # GroupNorm groups; width x every mult must divide by it
  g.label_dropout = 0.1  # fraction of labels replaced by the null class
  g.guidance = 1.0  # v(y) + guidance (v(y) - v(null)); 0 = conditional only
  g.ema = 0.999
  # or 'bfloat16': bfloat16 activations and convolutions, float32 weights and
  # loss, as config.classifier.dtype. For accelerators: on a 2-core AMX Xeon
  # it was no faster than float32, and slower at small widths (BENCHMARKS.md,
  # "bfloat16 generators").
  g.dtype = 'float32'
  g.solver = 'heun'  # or 'euler'
  g.sample_steps = 20  # Heun: 2 network evaluations per step
  g.sample_batch = 256  # images per jitted sampling call
  g.sampler_loop = 'auto'  # 'scan' | 'python'; auto: see diffusion.CPU_LOOP
  g.checkpoint_every = 100
  g.print_every = 50
  return config
