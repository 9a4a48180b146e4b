"""KoLeo: the Kozachenko-Leonenko entropy estimator as a spreading regulariser (DINOv2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses._checks import check_rank
from spt_losses._precision import compute_dtype

__all__ = ["KoLeoLoss"]


class KoLeoLoss(nn.Module):
    """KoLeo regulariser (Sablayrolles et al., 2019, "Spreading vectors for similarity
    search"), as DINOv2 uses it on the student's class tokens (Oquab et al., 2023).

    The rows are L2-normalised, then

        loss = -(1 / B) * sum_i log(min_{j != i} ||x_i - x_j|| + eps),

    the differential-entropy estimator of Kozachenko and Leonenko up to constants: it
    pushes every point away from its nearest neighbour. The neighbour is chosen without
    gradient (the largest cosine similarity, which on the sphere is the smallest
    distance); the gradient flows through the distance to both points. Duplicate points
    are at distance 0: their term is `-log(eps)`, finite, and the gradient of the norm at 0
    is taken as 0 (its subgradient), so the loss and its gradient stay finite.

    DINOv2 computes it on each rank's own samples, once per global view (its loss adds the
    views' values, weight 0.1); no sample of another rank enters the nearest-neighbour
    search, and this class does the same: it never communicates across ranks. Computed with
    autocast disabled, in the input's precision promoted to at least float32.

    Args:
        eps: added to the distance inside the log, and the normalisation's epsilon.
            Default 1e-8 (DINOv2).

    Shapes:
        - embeddings: (B, D) with B >= 2, e.g. student class tokens of one global view.
        - output: scalar tensor.

    Examples:
        >>> loss = KoLeoLoss()(torch.randn(8, 16))
        >>> loss.shape
        torch.Size([])
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"KoLeoLoss: eps must be > 0; got {eps}")
        self.eps = float(eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"

    def forward(self, embeddings: Tensor) -> Tensor:
        """Computes the loss.

        Args:
            embeddings: (B, D) vectors, normalised here.

        Returns:
            Scalar loss.

        Raises:
            ValueError: not 2-D, or fewer than two rows (no neighbour to find).
        """
        check_rank("embeddings", embeddings, 2, "(B, D)")
        if embeddings.shape[0] < 2:
            raise ValueError(
                f"KoLeoLoss needs at least 2 embeddings (each is compared with its nearest "
                f"neighbour); got shape {tuple(embeddings.shape)}"
            )
        dtype = compute_dtype(embeddings)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = F.normalize(embeddings.to(dtype), p=2, dim=-1, eps=self.eps)  # (B, D)
            with torch.no_grad():
                cosine = x @ x.t()  # (B, B)
                cosine.fill_diagonal_(-torch.inf)  # a point is not its own neighbour
                nearest = cosine.argmax(dim=1)  # (B,)
            distance = torch.linalg.vector_norm(x - x[nearest], dim=-1)  # (B,)
            return -torch.log(distance + self.eps).mean()
