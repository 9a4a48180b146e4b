"""CLIP (Radford et al. 2021) as a ready module: two encoders, linear projections, the loss."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.forward import clip_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import CLIPLoss


def _text_width(text_backbone: nn.Module, text_dim: int | None) -> int:
    declared = getattr(text_backbone, "embed_dim", None)
    if text_dim is None:
        if not isinstance(declared, int):
            raise ValueError(
                f"spt.methods.clip: the text backbone ({type(text_backbone).__name__}) does not "
                "state its output width (text_backbone.embed_dim); pass text_dim="
            )
        return declared
    if isinstance(text_dim, bool) or not isinstance(text_dim, int) or text_dim < 1:
        raise ValueError(
            f"spt.methods.clip: text_dim={text_dim!r}; pass the text backbone's output width "
            "(an int >= 1)"
        )
    if isinstance(declared, int) and declared != text_dim:
        raise ValueError(
            f"spt.methods.clip: text_dim={text_dim} but the text backbone outputs {declared} "
            f"features (text_backbone.embed_dim); pass text_dim={declared}"
        )
    return text_dim


def clip(
    backbone: nn.Module,
    embed_dim: int,
    *,
    text_backbone: nn.Module,
    text_dim: int | None = None,
    proj_dim: int = 512,
    temperature: float = 0.07,
    max_scale: float = 100.0,
    learn_temperature: bool = True,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """CLIP: the image and text encoders are trained to pair each image with its caption.

    As in the paper (Figure 3 and section 2.4): each encoder's features are mapped to the
    joint space by a linear projection without bias (``W_i``, ``W_t``), L2-normalised, and
    compared by :class:`spt.losses.CLIPLoss`, the symmetric cross-entropy over the batch
    with a learned temperature (initially 0.07, the logit scale clamped at 100). The text
    encoder of the paper is :class:`spt.backbone.TextTransformer` (causal, the feature of the
    end-of-text token) over its tokenizer's ids; training batches hold ``"image"`` and
    ``"text"`` (see ``spt.data.CaptionFromLabel``), and
    :class:`spt.callbacks.ZeroShotClassifier` measures zero-shot top-1 on validation.

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)``.
        embed_dim: Width of the image backbone's output.
        text_backbone: Token ids ``(B, L)`` -> features ``(B, text_dim)``.
        text_dim: Width of the text backbone's output (None: its ``embed_dim``).
        proj_dim: Width of the joint embedding space (512).
        temperature: Initial temperature (0.07).
        max_scale: Largest logit scale (100).
        learn_temperature: Learn the temperature (True) or keep it fixed.
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.clip, backbone, projector, text_backbone,
        text_projector, clip_loss)``.

    Examples:
        >>> import spt
        >>> text = spt.backbone.TextTransformer(context_length=16, dim=32, depth=1, heads=2)
        >>> module = spt.methods.clip(
        ...     spt.backbone.SmallCNN(1, 8, embed_dim=32), 32, text_backbone=text, proj_dim=16
        ... )
        >>> module.text_projector, round(module.clip_loss.temperature(), 2)
        (Linear(in_features=32, out_features=16, bias=False), 0.07)
    """
    check_embed_dim("clip", backbone, embed_dim)
    width = _text_width(text_backbone, text_dim)
    if isinstance(proj_dim, bool) or not isinstance(proj_dim, int) or proj_dim < 1:
        raise ValueError(f"spt.methods.clip: proj_dim={proj_dim!r} must be an int >= 1")
    return spt_module.Module(
        forward=clip_forward,
        backbone=backbone,
        projector=nn.Linear(embed_dim, proj_dim, bias=False),
        text_backbone=text_backbone,
        text_projector=nn.Linear(width, proj_dim, bias=False),
        clip_loss=CLIPLoss(temperature, max_scale=max_scale, learn_temperature=learn_temperature),
        optim=optim,
        **module_kwargs,
    )
