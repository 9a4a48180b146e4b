"""NNCLR: the nearest neighbour of a projection in a support set is its positive."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses import _distributed
from spt_losses._checks import check_rank, check_same_shape
from spt_losses._precision import compute_dtype


@torch.no_grad()
def nearest_neighbours(z: Tensor, support: Tensor) -> Tensor:
    """The support-set row of highest cosine similarity to each row of `z`, without gradient.

    Args:
        z: (B, D) projections.
        support: (Q, D) support set (e.g. `MemoryBank.contents()`), Q >= 1.

    Returns:
        (B, D) rows of `support` as stored (not normalised), detached.

    Raises:
        ValueError: inputs that are not 2-D, of different widths, or an empty support set.

    Examples:
        >>> support = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> nearest_neighbours(torch.tensor([[0.1, 0.9]]), support)
        tensor([[0., 2.]])
    """
    check_rank("z", z, 2, "(B, D)")
    check_rank("support", support, 2, "(Q, D)")
    if support.shape[0] == 0 or support.shape[1] != z.shape[1]:
        raise ValueError(
            f"support must be a non-empty (Q, D) set with the width of z; got support "
            f"{tuple(support.shape)} and z {tuple(z.shape)}"
        )
    dtype = compute_dtype(z, support)
    similarity = F.normalize(z.to(dtype), dim=1) @ F.normalize(support.to(dtype), dim=1).T
    return support[similarity.argmax(dim=1)].detach()  # (B, Q) -> (B, D)


class NNCLRLoss(nn.Module):
    """Contrastive loss of NNCLR (Dwibedi, Aytar, Tompson, Sermanet, Zisserman, 2021, "With
    a Little Help from My Friends: Nearest-Neighbor Contrastive Learning of Visual
    Representations"), one direction of it.

    Eq. 2 of the paper: with `u_i = NN(z_i, Q)` the nearest neighbour of view a's projection
    in the support set and `v_k` the predictor's output for view b of sample k (both
    L2-normalised), `L_i = -log exp(u_i.v_i / t) / sum_k exp(u_i.v_k / t)`, k over the
    global batch, averaged over i. The paper's symmetric loss is
    `(loss(NN(z1), p2) + loss(NN(z2), p1)) / 2` (what `spt.forward.nnclr` computes). Use
    `nearest_neighbours` for `u`; it carries no gradient, as in the paper.

    Under DDP the predictions are gathered with gradient and query i on rank r has positive
    `r * B + i`; the value on a rank is the mean over its own rows, and the mean over ranks
    is the loss of the global batch. Every rank must hold the same B.

    Args:
        temperature: softmax temperature, > 0. Default 0.1 (the paper).

    Shapes:
        - neighbours: (B, D); predictions: (B, D).
        - output: scalar tensor.

    Examples:
        >>> loss_fn = NNCLRLoss(temperature=0.1)
        >>> loss_fn(torch.randn(4, 8), torch.randn(4, 8)).shape
        torch.Size([])
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"NNCLRLoss: temperature must be > 0; got {temperature}")
        self.temperature = float(temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(self, neighbours: Tensor, predictions: Tensor) -> Tensor:
        """Computes the loss.

        Args:
            neighbours: (B, D) nearest neighbours of one view's projections.
            predictions: (B, D) predictor outputs of the other view, row i from sample i.

        Returns:
            Scalar loss.

        Raises:
            ValueError: inputs that are not 2-D or of different shapes.
        """
        check_rank("neighbours", neighbours, 2, "(B, D)")
        check_rank("predictions", predictions, 2, "(B, D)")
        check_same_shape(["neighbours", "predictions"], [neighbours, predictions])
        dtype = compute_dtype(neighbours, predictions)
        u = F.normalize(neighbours.to(dtype), dim=1)
        v = _distributed.gather(F.normalize(predictions.to(dtype), dim=1))  # (W*B, D)
        logits = u @ v.T / self.temperature  # (B, W*B)
        batch = u.shape[0]
        labels = _distributed.rank() * batch + torch.arange(batch, device=u.device)
        return F.cross_entropy(logits, labels)


__all__ = ["NNCLRLoss", "nearest_neighbours"]
