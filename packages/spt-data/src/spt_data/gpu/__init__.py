"""Batched augmentation on the device, with an independent random draw per sample and per view.

Every op takes an image batch (N, C, H, W), uint8 (0-255) or float (0-1), works in float
[0, 1] and returns float; the random ops have ``p`` (an independent Bernoulli per sample),
draw their parameters per sample, and take an optional ``torch.Generator`` (in the
constructor, or ``generator=`` at call time) for reproducible draws. They run on CPU and
CUDA; only torch and torchvision are imported.

SimCLR's two CIFAR-10 views (the second one with solarization), one-to-one::

    from spt_data import static
    from spt_data.gpu import *

    def recipe(scale, solarize):
        ops = [
            RandomResizedCrop((32, 32), scale=scale),
            RandomHorizontalFlip(p=0.5),
            ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8),
            RandomGrayscale(p=0.2),
        ]
        ops += [RandomSolarize(threshold=0.5, p=0.2)] if solarize else []
        return GPUCompose(*ops, Normalize(**static.CIFAR10))

    gpu_transform = MultiViewGPUTransform([recipe((0.2, 1.0), False), recipe((0.08, 1.0), True)])
    views = gpu_transform({"image": uint8_images, "label": labels})  # list of 2 dicts

``from_cpu(cpu_recipe)`` builds the same thing from a recipe of ``spt_data.transforms``;
``MultiCropGPUTransform`` makes global views then smaller local ones (multi-crop), and
``spt_data.recipes`` holds the papers' recipes (``recipes.swav(224, gpu=True)``).

A DataModule or dataset exposes it as ``gpu_transform`` and feeds uint8 batches
(``uint8_loader``); see ``spt_data.gpu.loading``.
"""

from spt_data.gpu.blur import GaussianBlur
from spt_data.gpu.color import ColorJitter
from spt_data.gpu.compose import GPUCompose
from spt_data.gpu.convert import from_cpu
from spt_data.gpu.crop import RandomResizedCrop, resized_crop
from spt_data.gpu.flip import RandomHorizontalFlip
from spt_data.gpu.grayscale import RandomGrayscale
from spt_data.gpu.loading import transfer_batch, uint8_loader
from spt_data.gpu.multicrop import MultiCropGPUTransform
from spt_data.gpu.multiview import MultiViewGPUTransform
from spt_data.gpu.normalize import Normalize, ToFloat
from spt_data.gpu.solarize import RandomSolarize

__all__ = [
    "ColorJitter",
    "GPUCompose",
    "GaussianBlur",
    "MultiCropGPUTransform",
    "MultiViewGPUTransform",
    "Normalize",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomSolarize",
    "ToFloat",
    "from_cpu",
    "resized_crop",
    "transfer_batch",
    "uint8_loader",
]
