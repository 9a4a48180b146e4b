"""The CIFAR-10 transforms that several seed 002 examples use without defining them.

Imported by the preambles of ``ex_002_*.py`` (``seed_sandbox`` puts this folder on
``sys.path``): one definition instead of a copy in each example.
"""

import spt
from spt.data import transforms

# The augmentations of the seed's complete SimCLR example (seed 002, lines 834-856).
simclr_transform = transforms.MultiViewTransform(
    [
        transforms.Compose(
            transforms.RGB(),
            transforms.RandomResizedCrop((32, 32), scale=(0.2, 1.0)),
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.ToImage(**spt.data.static.CIFAR10),
        ),
        transforms.Compose(
            transforms.RGB(),
            transforms.RandomResizedCrop((32, 32), scale=(0.08, 1.0)),
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.ToImage(**spt.data.static.CIFAR10),
        ),
    ]
)
train_transform = transforms.Compose(
    transforms.RGB(),
    transforms.RandomResizedCrop((32, 32)),
    transforms.RandomHorizontalFlip(p=0.5),
    transforms.ToImage(**spt.data.static.CIFAR10),
)
val_transform = transforms.Compose(
    transforms.RGB(),
    transforms.Resize((32, 32)),
    transforms.ToImage(**spt.data.static.CIFAR10),
)
