"""Barlow Twins: redundancy reduction through the cross-correlation matrix."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spt_losses import _distributed
from spt_losses._checks import check_rank, check_same_shape
from spt_losses._precision import compute_dtype


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins loss (Zbontar et al., 2021, "Barlow Twins: Self-Supervised Learning
    via Redundancy Reduction").

    Each embedding dimension is standardised over the batch (mean 0, biased variance 1, as
    a BatchNorm without affine parameters), the (D, D) cross-correlation
    `C = z1_norm.T @ z2_norm / N` is formed and the loss is
    `scale * (sum_j (1 - C_jj)^2 + lambd * sum_{j != k} C_jk^2)`.

    Under DDP the embeddings are gathered with gradient, so `C` is the cross-correlation of
    the global batch and every rank returns the same value. Computed with autocast
    disabled, in the inputs' precision promoted to at least float32.

    Args:
        lambd: weight of the off-diagonal (redundancy) term. Default 5e-3.
        scale: factor on the whole loss (the first paper version used 1/32). Default 1.0.
        eps: added to the variance when standardising. Default 1e-5 (BatchNorm's).

    Shapes:
        - z1, z2: (B, D) embeddings of two views, B >= 2 over the global batch.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = BarlowTwinsLoss()
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss_fn(z1, z2).shape
        torch.Size([])
    """

    def __init__(self, lambd: float = 5e-3, scale: float = 1.0, eps: float = 1e-5) -> None:
        super().__init__()
        self.lambd = float(lambd)
        self.scale = float(scale)
        self.eps = float(eps)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}, scale={self.scale}, eps={self.eps}"

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        """Computes the loss.

        Args:
            z1: (B, D) embeddings of the first view.
            z2: (B, D) embeddings of the second view.

        Returns:
            Scalar loss.

        Raises:
            ValueError: `z1` or `z2` is not (B, D), or their shapes differ.
        """
        check_rank("z1", z1, 2, "(B, D)")
        check_rank("z2", z2, 2, "(B, D)")
        check_same_shape(["z1", "z2"], [z1, z2])
        dtype = compute_dtype(z1, z2)
        with torch.autocast(device_type=z1.device.type, enabled=False):
            x = self._standardise(_distributed.gather(z1.to(dtype)))  # (N, D)
            y = self._standardise(_distributed.gather(z2.to(dtype)))
            c = (x.T @ y) / x.shape[0]  # (D, D)
            diagonal = c.diagonal()
            on_diagonal = (1 - diagonal).pow(2).sum()
            off_diagonal = c.pow(2).sum() - diagonal.pow(2).sum()
        return self.scale * (on_diagonal + self.lambd * off_diagonal)

    def _standardise(self, z: Tensor) -> Tensor:
        mean = z.mean(dim=0)
        var = z.var(dim=0, unbiased=False)
        return (z - mean) / torch.sqrt(var + self.eps)
