"""medaug_jax: does generative augmentation help a ResNet-18 on MedMNIST?"""

__version__ = '0.1.0'
