"""Turn a CPU recipe of :mod:`spt_data.transforms` into the same recipe on the device."""

from __future__ import annotations

from typing import Any

from torch import nn
from torchvision.transforms import v2

from spt_data import transforms as cpu
from spt_data.gpu.blur import GaussianBlur
from spt_data.gpu.color import ColorJitter
from spt_data.gpu.compose import GPUCompose
from spt_data.gpu.crop import RandomResizedCrop
from spt_data.gpu.flip import RandomHorizontalFlip
from spt_data.gpu.grayscale import RandomGrayscale
from spt_data.gpu.multicrop import MultiCropGPUTransform
from spt_data.gpu.multiview import MultiViewGPUTransform
from spt_data.gpu.normalize import Normalize, ToFloat
from spt_data.gpu.solarize import RandomSolarize

__all__ = ["from_cpu"]

_SUPPORTED = (
    "Compose, MultiViewTransform, RGB (dropped: the batch is already RGB), RandomResizedCrop "
    "(bilinear), RandomHorizontalFlip, ColorJitter, RandomGrayscale, RandomSolarize, "
    "GaussianBlur, ToImage"
)


def _range(value: Any, identity: float) -> tuple[float, float]:
    """torchvision stores an unused factor as ``None``."""
    if value is None:
        return (identity, identity)
    return (float(value[0]), float(value[1]))


def _jitter(t: cpu.ColorJitter) -> ColorJitter:
    op: Any = t.op
    return ColorJitter(
        brightness=_range(op.brightness, 1.0),
        contrast=_range(op.contrast, 1.0),
        saturation=_range(op.saturation, 1.0),
        hue=_range(op.hue, 0.0),
        p=t.p,
    )


def _op(t: Any) -> nn.Module | None:
    """The device op for one CPU transform (``None``: nothing to do on an RGB batch)."""
    op: Any = getattr(t, "op", None)
    if isinstance(t, cpu.RGB):
        return None
    if isinstance(t, cpu.RandomResizedCrop):
        if op.interpolation != v2.InterpolationMode.BILINEAR:
            raise ValueError(
                f"from_cpu: {t!r} uses {op.interpolation}; the device crop is bilinear only"
            )
        size = (int(op.size[0]), int(op.size[1]))
        return RandomResizedCrop(size, op.scale, op.ratio, p=t.p, antialias=bool(op.antialias))
    if isinstance(t, cpu.RandomHorizontalFlip):
        return RandomHorizontalFlip(p=t.p)
    if isinstance(t, cpu.ColorJitter):
        return _jitter(t)
    if isinstance(t, cpu.RandomGrayscale):
        return RandomGrayscale(p=t.p)
    if isinstance(t, cpu.RandomSolarize):
        return RandomSolarize(t.threshold, p=t.p)
    if isinstance(t, cpu.GaussianBlur):
        kx, ky = op.kernel_size
        return GaussianBlur((int(kx), int(ky)), sigma=(op.sigma[0], op.sigma[1]), p=t.p)
    if isinstance(t, cpu.ToImage):
        if t.mean is None or t.std is None:
            return ToFloat()
        return Normalize(t.mean, t.std)
    raise ValueError(f"from_cpu: no device op for {t!r}; supported: {_SUPPORTED}")


def _key(t: Any, key: str | None) -> str | None:
    own = getattr(t, "key", None)
    if own is not None and key is not None and own != key:
        raise ValueError(
            f"from_cpu: the recipe transforms two keys, {key!r} and {own!r}; a device recipe "
            "augments one image entry"
        )
    return own if own is not None else key


def from_cpu(transform: Any) -> GPUCompose | MultiViewGPUTransform:
    """Build the device recipe that does what a CPU recipe of ``spt_data.transforms`` does.

    Each CPU transform maps to the device op with the same parameters, in the same order, so
    a recipe is written once and run either per sample in DataLoader workers or batched after
    the transfer. ``RGB`` is dropped (feed 3-channel uint8 batches, e.g. from
    :func:`~spt_data.gpu.uint8_loader`); ``ToImage`` becomes ``Normalize`` (or ``ToFloat``
    without statistics). Draws are per sample on the device, so the two pipelines agree in
    distribution, not image for image.

    Args:
        transform: A ``Compose``, a ``MultiViewTransform`` of them, or one transform.

    Returns:
        A ``GPUCompose`` (or a ``MultiViewGPUTransform`` for a multi-view transform, a
        ``MultiCropGPUTransform`` for a ``MultiCropTransform``).

    Raises:
        ValueError: a transform has no device counterpart (``Resize``, ``CenterCrop``, a
            custom callable ...), or the recipe transforms more than one key.

    Examples:
        >>> from spt_data import static, transforms
        >>> view = transforms.Compose(
        ...     transforms.RandomResizedCrop((32, 32), scale=(0.2, 1.0)),
        ...     transforms.RandomHorizontalFlip(p=0.5),
        ...     transforms.ToImage(**static.CIFAR10),
        ... )
        >>> [type(op).__name__ for op in from_cpu(view).ops]
        ['RandomResizedCrop', 'RandomHorizontalFlip', 'Normalize']
    """
    if isinstance(transform, cpu.MultiViewTransform):
        views = [_compose(t) for t in transform.transforms]
        keys = {view.key for view in views}
        if len(keys) > 1:
            raise ValueError(f"from_cpu: the views transform different keys {sorted(keys)}")
        if isinstance(transform, cpu.MultiCropTransform):
            n_global = transform.n_global
            return MultiCropGPUTransform(
                views[:n_global], views[n_global:], n_global, transform.n_local, key=views[0].key
            )
        return MultiViewGPUTransform(views, key=views[0].key)
    return _compose(transform)


def _compose(transform: Any) -> GPUCompose:
    steps = transform.transforms if isinstance(transform, cpu.Compose) else [transform]
    ops: list[nn.Module] = []
    key: str | None = None
    for t in steps:
        key = _key(t, key)
        op = _op(t)
        if op is not None:
            ops.append(op)
    return GPUCompose(*ops, key=key or "image")
