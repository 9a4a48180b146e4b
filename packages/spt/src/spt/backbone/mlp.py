"""The MLP projector of SimCLR, BYOL, VICReg and Barlow Twins."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


class MLP(nn.Sequential):
    """Linear layers with batch norm and ReLU between them, none after the last.

    Args:
        in_dim: Input features.
        hidden_dims: Widths of the hidden layers (may be empty: a single linear layer).
        out_dim: Output features.
        norm: ``"batch"``, ``"layer"`` or ``None`` after each hidden linear layer.
        last_norm: Add a BatchNorm1d without affine after the last layer (Barlow Twins).

    Examples:
        >>> projector = MLP(512, [2048], 256)  # 512 -> 2048 -> BN -> ReLU -> 256
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        norm: str | None = "batch",
        last_norm: bool = False,
    ) -> None:
        if norm not in ("batch", "layer", None):
            raise ValueError(f"MLP: norm={norm!r}; use 'batch', 'layer' or None")
        layers: list[nn.Module] = []
        width = in_dim
        for hidden in hidden_dims:
            layers.append(nn.Linear(width, hidden, bias=norm is None))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(hidden))
            elif norm == "layer":
                layers.append(nn.LayerNorm(hidden))
            layers.append(nn.ReLU(inplace=True))
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        if last_norm:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
        super().__init__(*layers)
