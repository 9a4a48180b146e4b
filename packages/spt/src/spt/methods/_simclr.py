"""SimCLR (Chen et al. 2020) as a ready module, and the checks every builder shares."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.forward import simclr_forward
from spt_losses import NTXEntLoss


def check_embed_dim(method: str, backbone: nn.Module, embed_dim: int) -> None:
    """Fail at build time when ``embed_dim`` cannot be the backbone's output width.

    A backbone that states its width (``backbone.embed_dim``, as :class:`spt.backbone.SmallCNN`
    and :class:`spt.backbone.VisionTransformer` do) must agree with ``embed_dim``; otherwise
    the heads would fail at the first step with a shape error inside torch.
    """
    if not isinstance(embed_dim, int) or isinstance(embed_dim, bool) or embed_dim < 1:
        raise ValueError(
            f"spt.methods.{method}: embed_dim={embed_dim!r}; pass the backbone's output width "
            "(an int >= 1)"
        )
    declared = getattr(backbone, "embed_dim", None)
    if isinstance(declared, int) and declared != embed_dim:
        raise ValueError(
            f"spt.methods.{method}: embed_dim={embed_dim} but the backbone outputs "
            f"{declared} features (backbone.embed_dim); pass embed_dim={declared}"
        )


def simclr(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 2048,
    proj_dim: int = 128,
    temperature: float = 0.5,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """SimCLR: NT-Xent between the projections of two (or more) views.

    The projector is the paper's MLP ``embed_dim -> hidden_dim -> BN -> ReLU -> proj_dim``.
    The paper's temperature is 0.5 for its batch of 4096 at the default; small batches
    often train better at 0.1-0.2 (pass ``temperature``).

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)``.
        embed_dim: Width of the backbone's output.
        hidden_dim: Hidden width of the projector (2048).
        proj_dim: Output width of the projector (128).
        temperature: NT-Xent temperature (0.5).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module`` (``hparams``, ``metrics``, more components).

    Returns:
        ``spt.Module(forward=spt.forward.simclr, backbone, projector, simclr_loss)``.

    Examples:
        >>> import spt
        >>> module = spt.methods.simclr(spt.backbone.SmallCNN(1, 8, embed_dim=32), 32)
        >>> module.projector[0].out_features, module.simclr_loss.temperature
        (2048, 0.5)
    """
    check_embed_dim("simclr", backbone, embed_dim)
    return spt_module.Module(
        forward=simclr_forward,
        backbone=backbone,
        projector=MLP(embed_dim, [hidden_dim], proj_dim),
        simclr_loss=NTXEntLoss(temperature=temperature),
        optim=optim,
        **module_kwargs,
    )
