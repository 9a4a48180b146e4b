"""Augmentation recipes of the papers, for the CPU (per sample) and the device (batched).

Each function takes the crop size (and ``mean``/``std``, the local crops where the method has
them) and returns the CPU multi-view transform of :mod:`spt_data.transforms`; with
``gpu=True`` it returns the same recipe as batched ops of :mod:`spt_data.gpu` (built with
:func:`spt_data.gpu.from_cpu`, so both forms have the same parameters, op for op). Views come
in the order the forward functions read: the global views first, then the local ones.

The parameters are those the papers give for ImageNet at 224 pixels; the Gaussian-blur
kernel is 10% of the crop side (23 at 224), as SimCLR prescribes. The CPU form takes PIL
images, uint8 or float tensors (``RGB()`` first makes them three-channel); the device form
takes three-channel uint8 batches (``spt_data.gpu.uint8_loader``).

Examples:
    >>> import torch
    >>> from spt_data import recipes
    >>> views = recipes.swav(64, local_size=32, n_local=2)(
    ...     {"image": torch.zeros(3, 80, 80, dtype=torch.uint8)}
    ... )
    >>> [tuple(v["image"].shape) for v in views]
    [(3, 64, 64), (3, 64, 64), (3, 32, 32), (3, 32, 32)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spt_data import static
from spt_data import transforms as T
from spt_data.gpu.convert import from_cpu

__all__ = ["blur_kernel_size", "byol", "dino", "moco_v2", "simclr", "supervised", "swav"]

_MEAN: tuple[float, ...] = static.ImageNet["mean"]
_STD: tuple[float, ...] = static.ImageNet["std"]


def blur_kernel_size(size: int) -> int:
    """The odd Gaussian-blur kernel of about 10% of the image side (SimCLR): 224 -> 23."""
    return max(3, (size // 10) // 2 * 2 + 1)


def _check_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"recipes: {name} must be a positive int (pixels), got {value!r}")
    return value


def _view(
    size: int,
    scale: tuple[float, float],
    jitter: tuple[float, float, float, float],
    blur: float,
    solarize: float,
    mean: Sequence[float],
    std: Sequence[float],
) -> T.Compose:
    """Crop, flip, colour jitter (p=0.8), grayscale (p=0.2), blur, solarize, normalise."""
    brightness, contrast, saturation, hue = jitter
    steps: list[Any] = [
        T.RGB(),
        T.RandomResizedCrop(size, scale=scale),
        T.RandomHorizontalFlip(p=0.5),
        T.ColorJitter(brightness, contrast, saturation, hue, p=0.8),
        T.RandomGrayscale(p=0.2),
    ]
    if blur > 0:
        steps.append(T.GaussianBlur(blur_kernel_size(size), sigma=(0.1, 2.0), p=blur))
    if solarize > 0:
        steps.append(T.RandomSolarize(threshold=0.5, p=solarize))
    steps.append(T.ToImage(mean=mean, std=std))
    return T.Compose(*steps)


def _out(transform: Any, gpu: bool) -> Any:
    return from_cpu(transform) if gpu else transform


def simclr(
    size: int = 224,
    *,
    mean: Sequence[float] = _MEAN,
    std: Sequence[float] = _STD,
    gpu: bool = False,
) -> Any:
    """SimCLR's two views (Chen et al. 2020, "A Simple Framework for Contrastive Learning").

    Appendix A: random resized crop (scale 0.08-1), horizontal flip, colour distortion of
    strength s=1 (jitter 0.8, 0.8, 0.8, 0.2 with p=0.8; grayscale p=0.2), Gaussian blur with
    p=0.5, sigma 0.1-2.0 and a kernel of 10% of the side. Both views use the same recipe.

    Args:
        size: Crop side in pixels.
        mean: Per-channel means of the normalisation (ImageNet's by default).
        std: Per-channel standard deviations.
        gpu: Return the batched device recipe instead of the CPU one.

    Returns:
        A 2-view ``MultiViewTransform`` (``MultiViewGPUTransform`` with ``gpu=True``).
    """
    size = _check_size("size", size)
    view = _view(size, (0.08, 1.0), (0.8, 0.8, 0.8, 0.2), 0.5, 0.0, mean, std)
    return _out(T.MultiViewTransform([view, view]), gpu)


def byol(
    size: int = 224,
    *,
    mean: Sequence[float] = _MEAN,
    std: Sequence[float] = _STD,
    gpu: bool = False,
) -> Any:
    """BYOL's two asymmetric views (Grill et al. 2020, "Bootstrap Your Own Latent"), Table 6.

    Random resized crop (scale 0.08-1), flip, colour jitter (0.4, 0.4, 0.2, 0.1) with p=0.8,
    grayscale p=0.2; Gaussian blur with p=1.0 on the first view and p=0.1 on the second;
    solarisation with p=0.0 on the first and p=0.2 on the second.

    Args:
        size: Crop side in pixels.
        mean: Per-channel means of the normalisation.
        std: Per-channel standard deviations.
        gpu: Return the batched device recipe.

    Returns:
        A 2-view ``MultiViewTransform`` (``MultiViewGPUTransform`` with ``gpu=True``).
    """
    size = _check_size("size", size)
    jitter = (0.4, 0.4, 0.2, 0.1)
    first = _view(size, (0.08, 1.0), jitter, 1.0, 0.0, mean, std)
    second = _view(size, (0.08, 1.0), jitter, 0.1, 0.2, mean, std)
    return _out(T.MultiViewTransform([first, second]), gpu)


def moco_v2(
    size: int = 224,
    *,
    mean: Sequence[float] = _MEAN,
    std: Sequence[float] = _STD,
    gpu: bool = False,
) -> Any:
    """MoCo v2's two views (Chen, Fan, Girshick, He 2020, "Improved Baselines with MoCo").

    The paper's code (``main_moco.py --aug-plus``): random resized crop (scale 0.2-1),
    colour jitter (0.4, 0.4, 0.4, 0.1) with p=0.8, grayscale p=0.2, Gaussian blur with p=0.5
    (sigma 0.1-2.0), horizontal flip. Both views use the same recipe.

    Args:
        size: Crop side in pixels.
        mean: Per-channel means of the normalisation.
        std: Per-channel standard deviations.
        gpu: Return the batched device recipe.

    Returns:
        A 2-view ``MultiViewTransform`` (``MultiViewGPUTransform`` with ``gpu=True``).
    """
    size = _check_size("size", size)
    view = _view(size, (0.2, 1.0), (0.4, 0.4, 0.4, 0.1), 0.5, 0.0, mean, std)
    return _out(T.MultiViewTransform([view, view]), gpu)


def swav(
    size: int = 224,
    *,
    local_size: int = 96,
    n_local: int = 6,
    global_scale: tuple[float, float] = (0.14, 1.0),
    local_scale: tuple[float, float] = (0.05, 0.14),
    mean: Sequence[float] = _MEAN,
    std: Sequence[float] = _STD,
    gpu: bool = False,
) -> Any:
    """SwAV's multi-crop (Caron et al. 2020, "Unsupervised Learning of Visual Features by
    Contrasting Cluster Assignments").

    2 global crops of 224 pixels (scale 0.14-1) and 6 local crops of 96 (scale 0.05-0.14);
    each with flip, colour distortion of strength 1 (jitter 0.8, 0.8, 0.8, 0.2 with p=0.8;
    grayscale p=0.2) and Gaussian blur with p=0.5 (the paper's ``main_swav.py``).

    Args:
        size: Global crop side.
        local_size: Local crop side.
        n_local: Number of local crops.
        global_scale: Area range of the global crops.
        local_scale: Area range of the local crops.
        mean: Per-channel means of the normalisation.
        std: Per-channel standard deviations.
        gpu: Return the batched device recipe.

    Returns:
        A ``MultiCropTransform`` (``MultiCropGPUTransform`` with ``gpu=True``): 2 global
        views, then ``n_local`` local ones.
    """
    size, local_size = _check_size("size", size), _check_size("local_size", local_size)
    jitter = (0.8, 0.8, 0.8, 0.2)
    glob = _view(size, global_scale, jitter, 0.5, 0.0, mean, std)
    local = _view(local_size, local_scale, jitter, 0.5, 0.0, mean, std)
    return _out(T.MultiCropTransform(glob, local, n_global=2, n_local=n_local), gpu)


def dino(
    size: int = 224,
    *,
    local_size: int = 96,
    n_local: int = 8,
    global_scale: tuple[float, float] = (0.4, 1.0),
    local_scale: tuple[float, float] = (0.05, 0.4),
    mean: Sequence[float] = _MEAN,
    std: Sequence[float] = _STD,
    gpu: bool = False,
) -> Any:
    """DINO's multi-crop (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision
    Transformers"), ``DataAugmentationDINO`` of the paper's code.

    Every crop: flip, colour jitter (0.4, 0.4, 0.2, 0.1) with p=0.8, grayscale p=0.2. The
    blur/solarisation schedule over the views: first global crop blur p=1.0; second global
    crop blur p=0.1 and solarisation p=0.2; local crops blur p=0.5. Global crops of 224 pixels
    (scale 0.4-1), ``n_local`` local crops of 96 (scale 0.05-0.4).

    Args:
        size: Global crop side.
        local_size: Local crop side.
        n_local: Number of local crops (8 in the paper's ViT-S/16 runs).
        global_scale: Area range of the global crops.
        local_scale: Area range of the local crops.
        mean: Per-channel means of the normalisation.
        std: Per-channel standard deviations.
        gpu: Return the batched device recipe.

    Returns:
        A ``MultiCropTransform`` (``MultiCropGPUTransform`` with ``gpu=True``).
    """
    size, local_size = _check_size("size", size), _check_size("local_size", local_size)
    jitter = (0.4, 0.4, 0.2, 0.1)
    first = _view(size, global_scale, jitter, 1.0, 0.0, mean, std)
    second = _view(size, global_scale, jitter, 0.1, 0.2, mean, std)
    local = _view(local_size, local_scale, jitter, 0.5, 0.0, mean, std)
    return _out(T.MultiCropTransform([first, second], local, n_global=2, n_local=n_local), gpu)


def supervised(
    size: int = 224,
    *,
    mean: Sequence[float] = _MEAN,
    std: Sequence[float] = _STD,
    gpu: bool = False,
) -> Any:
    """The standard supervised ImageNet training view (He et al. 2016, "Deep Residual Learning").

    Random resized crop (scale 0.08-1) and horizontal flip, then normalisation: one view.

    Args:
        size: Crop side in pixels.
        mean: Per-channel means of the normalisation.
        std: Per-channel standard deviations.
        gpu: Return the batched device recipe.

    Returns:
        A ``Compose`` of one view (``GPUCompose`` with ``gpu=True``).
    """
    size = _check_size("size", size)
    view = T.Compose(
        T.RGB(),
        T.RandomResizedCrop(size, scale=(0.08, 1.0)),
        T.RandomHorizontalFlip(p=0.5),
        T.ToImage(mean=mean, std=std),
    )
    return _out(view, gpu)
