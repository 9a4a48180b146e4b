"""VICReg: variance, invariance and covariance regularisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses import _distributed
from spt_losses._checks import check_rank, check_same_shape
from spt_losses._precision import compute_dtype


class VICRegLoss(nn.Module):
    """VICReg loss (Bardes, Ponce & LeCun, 2022, "VICReg: Variance-Invariance-Covariance
    Regularization for Self-Supervised Learning").

    `sim_coeff * mse(z1, z2) + std_coeff * (v(z1) + v(z2)) / 2 + cov_coeff * (c(z1) + c(z2))`
    with `v(z) = mean_j relu(1 - sqrt(var_j(z) + eps))` (unbiased variance over the batch)
    and `c(z) = sum_{j != k} cov(z)_{jk}^2 / D`.

    Under DDP the embeddings are gathered with gradient, so all three terms are statistics
    of the global batch and every rank returns the same value. The statistics are computed
    with autocast disabled, in the inputs' precision promoted to at least float32.

    Args:
        sim_coeff: weight of the invariance (mean squared error) term. Default 25.0.
        std_coeff: weight of the variance term. Default 25.0.
        cov_coeff: weight of the covariance term. Default 1.0.
        eps: added to the variance before the square root. Default 1e-4.

    Shapes:
        - z1, z2: (B, D) embeddings of two views, B >= 2 over the global batch.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = VICRegLoss()
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss_fn(z1, z2).shape
        torch.Size([])
    """

    def __init__(
        self,
        sim_coeff: float = 25.0,
        std_coeff: float = 25.0,
        cov_coeff: float = 1.0,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        self.sim_coeff = float(sim_coeff)
        self.std_coeff = float(std_coeff)
        self.cov_coeff = float(cov_coeff)
        self.eps = float(eps)

    def extra_repr(self) -> str:
        return (
            f"sim_coeff={self.sim_coeff}, std_coeff={self.std_coeff}, "
            f"cov_coeff={self.cov_coeff}, eps={self.eps}"
        )

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
            x = _distributed.gather(z1.to(dtype))  # (N, D), N = global batch
            y = _distributed.gather(z2.to(dtype))
            invariance = F.mse_loss(x, y)
            variance = (self._variance(x) + self._variance(y)) / 2
            covariance = self._covariance(x) + self._covariance(y)
        return self.sim_coeff * invariance + self.std_coeff * variance + self.cov_coeff * covariance

    def _variance(self, z: Tensor) -> Tensor:
        std = torch.sqrt(z.var(dim=0) + self.eps)  # (D,)
        return F.relu(1 - std).mean()

    @staticmethod
    def _covariance(z: Tensor) -> Tensor:
        n, d = z.shape
        z = z - z.mean(dim=0)
        cov = (z.T @ z) / (n - 1)  # (D, D)
        off_diagonal = cov.pow(2).sum() - cov.diagonal().pow(2).sum()
        return off_diagonal / d
