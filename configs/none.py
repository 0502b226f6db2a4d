"""The paper's baseline: no augmentation."""
from configs import default


def get_config():
  return default.get_config()
