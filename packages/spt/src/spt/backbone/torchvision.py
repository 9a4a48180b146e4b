"""Torchvision classification models as backbones, with the low-resolution (CIFAR) stem."""

from __future__ import annotations

from typing import Any

from torch import nn


def from_torchvision(name: str, low_resolution: bool = False, **kwargs: Any) -> nn.Module:
    """Build a randomly initialised torchvision model by name.

    Args:
        name: A name from ``torchvision.models.list_models()``, e.g. ``"resnet18"``.
        low_resolution: Replace the stem for 32x32 inputs: the first convolution becomes
            3x3 with stride 1 and padding 1, and the max-pool is removed (as in the
            SimCLR CIFAR-10 recipe). Only models with a ``conv1``/``maxpool`` stem
            (ResNet, ResNeXt, Wide ResNet) support it.
        **kwargs: Passed to ``torchvision.models.get_model`` (``num_classes=...``).

    Returns:
        The model; replace its head (``model.fc = nn.Identity()``) to get embeddings.

    Raises:
        ValueError: If ``name`` is not a torchvision model, or ``low_resolution`` is asked
            of a model without a ResNet stem.

    Examples:
        >>> backbone = from_torchvision("resnet18", low_resolution=True)
        >>> backbone.conv1.stride
        (1, 1)
    """
    import torchvision

    available = torchvision.models.list_models()
    if name not in available:
        close = [m for m in available if name.split("_")[0] in m][:8]
        raise ValueError(
            f"from_torchvision: name={name!r} is not a torchvision model; "
            f"similar names: {close or available[:8]}"
        )
    kwargs.setdefault("weights", None)
    model: nn.Module = torchvision.models.get_model(name, **kwargs)
    if low_resolution:
        conv1 = getattr(model, "conv1", None)
        if not isinstance(conv1, nn.Conv2d) or not hasattr(model, "maxpool"):
            raise ValueError(
                f"from_torchvision: low_resolution=True needs a ResNet-style stem "
                f"(conv1 + maxpool) but {name!r} has none; use low_resolution=False"
            )
        model.conv1 = nn.Conv2d(
            conv1.in_channels, conv1.out_channels, kernel_size=3, stride=1, padding=1, bias=False
        )
        model.maxpool = nn.Identity()
    return model
