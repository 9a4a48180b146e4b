"""timm models (PyTorch Image Models) as backbones, behind the optional extra ``spt[timm]``."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

__all__ = ["TIMM_EXTRA", "TimmBackbone", "from_timm"]

TIMM_EXTRA = "pip install 'spt[timm]'"


class TimmBackbone(nn.Module):
    """A timm model without its classifier: images to pooled features ``(B, embed_dim)``.

    timm's own ``embed_dim`` is not always the output width (a Swin's is its first stage),
    so the wrapper states the output width as ``embed_dim`` (timm's ``num_features``), the
    attribute the builders of ``spt.methods`` check.

    Attributes:
        model: The timm model, built with ``num_classes=0``.
        embed_dim: Width of the features.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.embed_dim = int(getattr(model, "num_features"))  # noqa: B009

    def forward(self, images: Tensor) -> Tensor:
        """``(B, C, H, W) -> (B, embed_dim)``: the model's pooled features."""
        features: Tensor = self.model(images)
        return features


def from_timm(name: str, pretrained: bool = False, **kwargs: Any) -> TimmBackbone:
    """Build a timm model by name as a backbone that maps images to ``(B, D)`` features.

    Args:
        name: A name from ``timm.list_models()`` (``"vit_small_patch16_224"``,
            ``"resnet50"``), or a Hugging Face Hub id that timm reads
            (``"hf-hub:timm/..."``, not checked here).
        pretrained: Load timm's pretrained weights (downloads them; off by default).
        **kwargs: Passed to ``timm.create_model`` (``img_size=32``, ``drop_path_rate=0.1``,
            ``in_chans=1``, ...). ``num_classes`` is always 0 (no classifier head).

    Returns:
        A :class:`TimmBackbone` with ``embed_dim``.

    Raises:
        ImportError: If timm is not installed (``pip install 'spt[timm]'``).
        ValueError: If ``name`` is not a timm model, or ``num_classes`` is passed.

    Examples:
        >>> backbone = from_timm("resnet18")
        >>> backbone.embed_dim
        512
    """
    try:
        import timm
    except ImportError:
        raise ImportError(f"spt.backbone.from_timm needs timm: {TIMM_EXTRA}") from None
    if "num_classes" in kwargs:
        raise ValueError(
            f"from_timm: num_classes={kwargs['num_classes']!r}; the backbone has no "
            "classifier (num_classes=0); put a head on its features instead"
        )
    if ":" not in name and not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:8]
        raise ValueError(
            f"from_timm: name={name!r} is not a timm model; similar names: "
            f"{close or timm.list_models()[:8]}"
        )
    model = timm.create_model(name, pretrained=pretrained, num_classes=0, **kwargs)
    return TimmBackbone(model)
