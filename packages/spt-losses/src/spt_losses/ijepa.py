"""I-JEPA: predicted target-block features against layer-normalised target features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses._checks import check_rank
from spt_losses._precision import compute_dtype

__all__ = ["IJEPALoss"]

Distance = Literal["smooth_l1", "l2"]
DISTANCES = ("smooth_l1", "l2")


class IJEPALoss(nn.Module):
    """I-JEPA loss (Assran et al., 2023, "Self-Supervised Learning from Images with a
    Joint-Embedding Predictive Architecture").

    For each of the M target blocks the predictor's outputs at the block's positions are
    compared with the target encoder's features of the same patches, layer-normalised over
    the feature dimension without affine parameters (`F.layer_norm(t, (D,))`, as the
    authors' code does; it acts per token, so normalising before or after selecting the
    block's tokens is the same) and detached (the target encoder is an EMA, no gradient).
    The distance, per block:

    - `"smooth_l1"` (the authors' code): `F.smooth_l1_loss(pred, target, beta=beta)`,
      the mean over samples, tokens and feature dimensions;
    - `"l2"` (the paper's text, "the average L2 distance"): the squared L2 norm of each
      token's error `||pred - target||^2` (summed over the D features), averaged over
      samples and tokens.

    The loss is the mean over blocks of the per-block values, the paper's
    `(1/M) sum_i D(s_hat_y(i), s_y(i))`. Blocks may hold different numbers of tokens; with
    equal sizes (the authors' collator trims them so) it is the mean over every token of
    every block, as in their code. The two distances differ in scale by about D.

    Computed with autocast disabled, in the inputs' precision promoted to at least float32.
    On one rank the value is the mean over its own samples; it needs no communication.

    Args:
        distance: "smooth_l1" (default) or "l2".
        beta: threshold of the smooth-L1 distance. Default 1.0 (PyTorch's, the authors').
        normalize_targets: layer-normalise the targets (default True, as published).

    Shapes:
        - predictions: one (B, K, D) tensor (one block), an (M, B, K, D) tensor, or a
          sequence of M tensors (B, K_m, D).
        - targets: the same layout and shapes as `predictions`.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = IJEPALoss()
        >>> predictions = [torch.randn(2, 6, 8) for _ in range(4)]  # 4 target blocks
        >>> targets = [torch.randn(2, 6, 8) for _ in range(4)]
        >>> loss = loss_fn(predictions, targets)
    """

    def __init__(
        self, distance: Distance = "smooth_l1", beta: float = 1.0, normalize_targets: bool = True
    ) -> None:
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(
                f"IJEPALoss: distance must be one of {DISTANCES}; got {distance!r} "
                "('smooth_l1' is the authors' code, 'l2' the paper's text)"
            )
        if not beta > 0:
            raise ValueError(f"IJEPALoss: beta must be > 0; got {beta}")
        self.distance: Distance = distance
        self.beta = float(beta)
        self.normalize_targets = bool(normalize_targets)

    def extra_repr(self) -> str:
        return (
            f"distance={self.distance!r}, beta={self.beta}, "
            f"normalize_targets={self.normalize_targets}"
        )

    def forward(
        self, predictions: Tensor | Sequence[Tensor], targets: Tensor | Sequence[Tensor]
    ) -> Tensor:
        """Computes the loss.

        Args:
            predictions: predictor outputs of the target blocks, (B, K_m, D) per block.
            targets: target-encoder features of the same tokens, (B, K_m, D) per block.

        Returns:
            Scalar loss.

        Raises:
            ValueError: no block, a different number of prediction and target blocks, a
                block that is not (B, K, D), or a prediction and target of different shapes.
        """
        preds, tgts = _blocks("predictions", predictions), _blocks("targets", targets)
        if len(preds) != len(tgts):
            raise ValueError(
                f"IJEPALoss needs one target per predicted block; got {len(preds)} "
                f"prediction and {len(tgts)} target blocks"
            )
        for i, (p, t) in enumerate(zip(preds, tgts, strict=True)):
            check_rank(f"predictions[{i}]", p, 3, "(B, K, D)")
            if p.shape != t.shape:
                raise ValueError(
                    f"predictions[{i}] and targets[{i}] must have the same shape (B, K, D); "
                    f"got {tuple(p.shape)} and {tuple(t.shape)}"
                )
        dtype = compute_dtype(*preds, *tgts)
        with torch.autocast(device_type=preds[0].device.type, enabled=False):
            total = preds[0].new_zeros((), dtype=dtype)
            for p, t in zip(preds, tgts, strict=True):
                pred, target = p.to(dtype), t.detach().to(dtype)
                if self.normalize_targets:
                    target = F.layer_norm(target, (target.shape[-1],))
                if self.distance == "smooth_l1":
                    total = total + F.smooth_l1_loss(pred, target, beta=self.beta)
                else:
                    total = total + (pred - target).square().sum(dim=-1).mean()
        return total / len(preds)


def _blocks(name: str, x: Tensor | Sequence[Tensor]) -> list[Tensor]:
    if isinstance(x, Tensor):
        if x.ndim == 3:
            return [x]
        if x.ndim == 4:
            return list(x.unbind(0))
        raise ValueError(
            f"{name} must be a (B, K, D) or (M, B, K, D) tensor or a sequence of (B, K, D) "
            f"tensors; got a tensor of shape {tuple(x.shape)}"
        )
    blocks = list(x)
    if not blocks:
        raise ValueError(f"IJEPALoss needs at least one target block; got an empty {name}")
    return blocks
