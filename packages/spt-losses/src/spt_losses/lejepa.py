"""LeJEPA: every view predicts the mean of the global views, plus SIGReg."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from spt_losses._checks import check_rank
from spt_losses._precision import compute_dtype
from spt_losses.sigreg import SIGReg

__all__ = ["LeJEPALoss"]


class LeJEPALoss(nn.Module):
    """LeJEPA objective (Balestriero and LeCun, 2025, "LeJEPA: Provable and Scalable
    Self-Supervised Learning Without the Heuristics"), as in the paper's listing.

    With V views of B samples, the first `n_global_views` of them global, and `mu_b` the
    mean of the global views' embeddings of sample b:

        prediction = mean over views v, samples b and features d of (mu_b - z_vb)^2,
        sigreg     = mean over views v of SIGReg(z_v),
        loss       = (1 - lambd) * prediction + lambd * sigreg.

    Every view (global ones included) predicts the global mean; nothing is detached (no
    stop-gradient, no teacher). SIGReg (:class:`spt_losses.SIGReg`) sees each view's
    embeddings of the global batch, all views on the same random directions, drawn once
    per call. The paper's weight is `lambd = 0.05`. Under DDP the prediction term is the
    mean over this rank's samples (its mean over ranks is the global one) and the SIGReg
    term is the global batch's, the same on every rank. Computed with autocast disabled,
    in the embeddings' precision promoted to at least float32.

    Args:
        lambd: weight of SIGReg, in [0, 1]. Default 0.05.
        num_slices: SIGReg's number of random directions. Default 256.
        t_max: SIGReg's integration half-width. Default 5.0.
        num_points: SIGReg's trapezoid knots on [-t_max, t_max]. Default 17.
        seed: base seed of SIGReg's directions. Default 0.

    Shapes:
        - views: V tensors (B, D), global views first.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = LeJEPALoss(num_slices=32)
        >>> views = [torch.randn(8, 16) for _ in range(4)]  # 2 global + 2 local views
        >>> loss = loss_fn(views, n_global_views=2)
    """

    def __init__(
        self,
        lambd: float = 0.05,
        num_slices: int = 256,
        t_max: float = 5.0,
        num_points: int = 17,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0 <= lambd <= 1:
            raise ValueError(f"LeJEPALoss: lambd must be in [0, 1]; got {lambd}")
        self.lambd = float(lambd)
        self.sigreg = SIGReg(num_slices=num_slices, t_max=t_max, num_points=num_points, seed=seed)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}"

    def forward(
        self, views: Sequence[Tensor], n_global_views: int = 2, step: int | None = None
    ) -> Tensor:
        """Computes the loss.

        Args:
            views: V tensors (B, D) of embeddings, the global views first.
            n_global_views: how many of the first views are global. Default 2.
            step: which SIGReg directions to draw (see :class:`spt_losses.SIGReg`).

        Returns:
            Scalar loss.
        """
        terms = self.terms(views, n_global_views, step)
        return (1 - self.lambd) * terms["prediction"] + self.lambd * terms["sigreg"]

    def terms(
        self, views: Sequence[Tensor], n_global_views: int = 2, step: int | None = None
    ) -> dict[str, Tensor]:
        """The two terms, unweighted: `{"prediction": ..., "sigreg": ...}`.

        Raises:
            ValueError: no view, `n_global_views` outside [1, V], or views that are not
                all (B, D) of the first view's shape.
        """
        self._check(views, n_global_views)
        dtype = compute_dtype(*views)
        first = views[0]
        if step is None:
            step = self.sigreg.calls
            self.sigreg.calls += 1
        directions = self.sigreg.sample_directions(first.shape[1], step, first.device, dtype)
        with torch.autocast(device_type=first.device.type, enabled=False):
            z = torch.stack([v.to(dtype) for v in views])  # (V, B, D)
            centers = z[:n_global_views].mean(dim=0)  # (B, D)
            prediction = (centers - z).square().mean()
            sigreg = torch.stack([self.sigreg.statistic(v, directions) for v in z]).mean()
        return {"prediction": prediction, "sigreg": sigreg}

    @staticmethod
    def _check(views: Sequence[Tensor], n_global_views: int) -> None:
        if len(views) == 0:
            raise ValueError("LeJEPALoss needs at least one view; got none")
        if not 1 <= n_global_views <= len(views):
            raise ValueError(
                f"LeJEPALoss: n_global_views must be in [1, {len(views)}] (the number of "
                f"views); got {n_global_views}"
            )
        for i, v in enumerate(views):
            check_rank(f"views[{i}]", v, 2, "(B, D)")
            if v.shape != views[0].shape:
                raise ValueError(
                    f"every view must have the shape of views[0], {tuple(views[0].shape)}; "
                    f"views[{i}] has shape {tuple(v.shape)}"
                )
