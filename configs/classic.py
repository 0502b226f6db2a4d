"""Classic augmentation alone: no generator, the 'standard' policy of
medaug_jax/transforms.py in the classifier's train step (strengths in
configs/default.py, classifier.augment_params). Combine it with a generator
in a grid as '<generator>+classic'."""
from configs import default


def get_config():
  config = default.get_config()
  config.method = 'classic'
  config.classifier.augment = 'standard'
  return config
