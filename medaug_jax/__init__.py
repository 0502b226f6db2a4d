"""medaug_jax: does generative augmentation help a ResNet-18 on MedMNIST?"""
from medaug_jax import hostmem as _hostmem

__version__ = '0.1.0'
_hostmem.keep_freed_memory()
