"""Class-conditional diffusion sized for a 2-core CPU (configs/diffusion.py
shrunk): a BreastMNIST generator phase (546 training images, then 300
sampled) in about 20 minutes.

UNet: width 16, channels (16, 32, 32) at 28, 14 and 7 pixels, 1 residual
block per level, no attention (about 196k parameters). Adam 1e-3 (the short
budget needs the larger rate; the EMA smooths it) for 200 epochs.

Estimate, measured on this 2-core machine while other jobs shared it: a
jitted train step at batch 128 took 1.06-1.45 s (median about 1.15 s) after
compiling; 200 epochs x ceil(546 / 128) = 5 steps = 1,000 steps ~ 19 min.
Sampling 300 images with guidance (600 per network call), 10 Heun steps:
33-38 s. With about 30 s of compilation the phase takes about 20 minutes,
leaving a third of a 30-minute budget as margin for a busier machine.
Measured on an idle machine of that kind: 19.1 minutes start to finish
(results/cpu_breast_diffusion_cpu), and 14.3 minutes once its thin layers ran
as XLA's convolution (results/cpu_breast_diffusion_cpu_thin). Since then the
last step of a CPU epoch runs its 34 images, not a padded 128
(trainer.last_batch_rows): 546 rows an epoch instead of 640. On a 2-core AMD
EPYC with oneDNN's convolutions and the one-pass group norm: 149 s
(results/cpu_breast_diffusion_cpu_gn_2026-12-08).
"""
from configs import diffusion


def get_config():
  config = diffusion.get_config()
  g = config.generator
  g.epochs = 200
  g.lr = 1e-3
  g.width = 16
  g.channel_mult = (1, 2, 2)
  g.num_blocks = 1
  g.attention = False
  g.ema = 0.995  # over ~1,000 steps; 0.999 would still lag the weights
  g.sample_steps = 10
  g.sample_batch = 300  # the whole request in one call
  g.checkpoint_every = 20
  g.print_every = 10
  return config
