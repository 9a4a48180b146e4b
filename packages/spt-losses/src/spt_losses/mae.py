"""MAE reconstruction loss: mean squared error on the masked positions only."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spt_losses import _distributed
from spt_losses._checks import check_rank, check_same_shape
from spt_losses._precision import compute_dtype


class MAELoss(nn.Module):
    """Masked-autoencoder reconstruction loss (He et al., 2022, "Masked Autoencoders Are
    Scalable Vision Learners").

    The squared error is averaged over the feature dimension of each position, then over
    the masked positions only (`mask == 1`). With `norm_pix_loss=True` each target
    position is standardised over its features first (mean 0, unbiased variance 1, eps
    1e-6), as in the paper. Works for image patches (B, N, D) and for time steps (B, T, C).

    Under DDP the number of masked positions is summed across ranks, so the mean over
    ranks of the returned value is the loss of the global batch even when ranks mask
    different numbers of positions. With no masked position at all the loss is 0. Computed
    with autocast disabled, in the inputs' precision promoted to at least float32.

    Args:
        norm_pix_loss: standardise each target position over its features. Default False.

    Shapes:
        - pred: (B, N, D) reconstructions (patches or time steps).
        - target: (B, N, D) targets.
        - mask: (B, N), 1 (or True) where a position was masked and is scored.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = MAELoss(norm_pix_loss=True)
        >>> pred, target = torch.randn(2, 16, 48), torch.randn(2, 16, 48)
        >>> mask = torch.rand(2, 16) < 0.75
        >>> loss_fn(pred, target, mask).shape
        torch.Size([])
    """

    def __init__(self, norm_pix_loss: bool = False) -> None:
        super().__init__()
        self.norm_pix_loss = norm_pix_loss

    def extra_repr(self) -> str:
        return f"norm_pix_loss={self.norm_pix_loss}"

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """Computes the loss.

        Args:
            pred: (B, N, D) reconstructions.
            target: (B, N, D) targets.
            mask: (B, N) with 1 on masked positions.

        Returns:
            Scalar loss.

        Raises:
            ValueError: `pred` or `target` is not (B, N, D), their shapes differ, or `mask`
                is not (B, N).
        """
        check_rank("pred", pred, 3, "(B, N, D)")
        check_rank("target", target, 3, "(B, N, D)")
        check_same_shape(["pred", "target"], [pred, target])
        if mask.shape != pred.shape[:2]:
            raise ValueError(
                f"mask must have shape (B, N) = {tuple(pred.shape[:2])} to match pred "
                f"{tuple(pred.shape)}; got {tuple(mask.shape)}"
            )
        dtype = compute_dtype(pred, target)
        with torch.autocast(device_type=pred.device.type, enabled=False):
            target = target.to(dtype)
            if self.norm_pix_loss:
                mean = target.mean(dim=-1, keepdim=True)
                var = target.var(dim=-1, keepdim=True)
                target = (target - mean) / (var + 1e-6) ** 0.5
            per_position = (pred.to(dtype) - target).pow(2).mean(dim=-1)  # (B, N)
            weight = mask.to(per_position.dtype)
            count = _distributed.all_reduce_sum(weight.sum()) / _distributed.world_size()
            return (per_position * weight).sum() / count.clamp_min(1.0)
