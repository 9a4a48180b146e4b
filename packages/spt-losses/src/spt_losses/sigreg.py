"""SIGReg: the sketched Epps-Pulley test of an isotropic Gaussian, LeJEPA's regulariser."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from spt_losses import _distributed
from spt_losses._checks import check_rank
from spt_losses._precision import compute_dtype

__all__ = ["SIGReg"]

_MAX_STEP = 2**32
_SEED_STRIDE = 2654435761  # Knuth's multiplicative hash constant: mixes seed and step


class SIGReg(nn.Module):
    """Sketched Isotropic Gaussian Regularisation (Balestriero and LeCun, 2025, "LeJEPA:
    Provable and Scalable Self-Supervised Learning Without the Heuristics", Section 4).

    The N embeddings `z_n` (D features) are projected on M random unit directions
    `a_m` (the columns of a (D, M) matrix `A`, Gaussian draws normalised to unit norm);
    each projection `x_n = a_m^T z_n` is tested against N(0, 1) with the Epps-Pulley
    statistic of its empirical characteristic function `phi_N(t) = (1/N) sum_n exp(i t x_n)`,

        EP_m = N * integral |phi_N(t) - exp(-t^2 / 2)|^2 w(t) dt,   w(t) = exp(-t^2 / 2),

    and SIGReg is the mean of `EP_m` over the M directions. The integral is the trapezoid
    rule on `num_points` equally spaced knots of [-t_max, t_max]; the integrand is even in
    `t` (real data), so it is evaluated on the non-negative knots only with the folded
    weights, which is the same sum. Under the null (Gaussian projections) the expected
    statistic is about `integral (1 - exp(-t^2)) exp(-t^2/2) dt ~ 1.06` whatever N; a
    collapsed batch (every z equal to 0) gives about 0.41 N.

    Constants, the paper's: M = 256 directions (`num_slices`, its listing's default),
    t in [-5, 5] on 17 knots, `w(t) = exp(-t^2/2)`.

    The directions change at every call: they are drawn from a `torch.Generator` on the
    embeddings' device seeded with `(seed * 2654435761 + step) mod 2**32` (32 bits: the
    CPU generator keeps no more), so every rank of a DDP run draws the same ones. `step`
    is an argument of `forward`; when it is omitted the module counts its own calls (the
    count is in the state dict, so a resumed run goes on with new directions).

    Under DDP the statistic is that of the global batch: the per-rank sums of `cos(t x_n)`
    and `sin(t x_n)` (and the sample counts) are gathered with gradient, so the value is the
    same on every rank and, once DDP averages the gradients, the gradient is that of one
    process on the concatenated batch. Ranks may hold different N. Computed with autocast
    disabled, in the embeddings' precision promoted to at least float32 (the directions
    are drawn in float32 then normalised in that precision).

    Args:
        num_slices: M, the number of random directions. Default 256.
        t_max: half-width of the integration interval. Default 5.0.
        num_points: knots of the trapezoid rule on [-t_max, t_max]; odd, so that 0 is a
            knot. Default 17.
        seed: base seed of the directions. Default 0.

    Shapes:
        - embeddings: (N, D).
        - output: scalar tensor.

    Examples:
        >>> sigreg = SIGReg(num_slices=64)
        >>> bool(sigreg(torch.randn(512, 16)) < sigreg(torch.zeros(512, 16)))
        True
    """

    def __init__(
        self, num_slices: int = 256, t_max: float = 5.0, num_points: int = 17, seed: int = 0
    ) -> None:
        super().__init__()
        if isinstance(num_slices, bool) or not isinstance(num_slices, int) or num_slices < 1:
            raise ValueError(f"SIGReg: num_slices must be an int >= 1; got {num_slices!r}")
        if not t_max > 0:
            raise ValueError(f"SIGReg: t_max must be > 0; got {t_max}")
        if (
            isinstance(num_points, bool)
            or not isinstance(num_points, int)
            or num_points < 3
            or num_points % 2 == 0
        ):
            raise ValueError(
                f"SIGReg: num_points must be an odd int >= 3 (0 is the middle knot of "
                f"[-t_max, t_max]); got {num_points!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise ValueError(f"SIGReg: seed must be an int in [0, 2**31); got {seed!r}")
        self.num_slices = num_slices
        self.t_max = float(t_max)
        self.num_points = num_points
        self.seed = seed
        self.calls = 0

    def extra_repr(self) -> str:
        return (
            f"num_slices={self.num_slices}, t_max={self.t_max}, "
            f"num_points={self.num_points}, seed={self.seed}"
        )

    def get_extra_state(self) -> dict[str, int]:
        return {"calls": self.calls}

    def set_extra_state(self, state: Any) -> None:
        self.calls = int(state["calls"])

    def knots(self, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
        """The non-negative knots `t_j` and their folded trapezoid weights, each (J,).

        `sum_j weight_j * f(t_j)` equals the trapezoid rule of an even `f` on the
        `num_points` knots of [-t_max, t_max].
        """
        half = (self.num_points - 1) // 2
        dt = self.t_max / half
        t = torch.arange(half + 1, dtype=dtype, device=device) * dt  # (J,) = 0, dt, ..., t_max
        weights = torch.full_like(t, 2 * dt)
        weights[0] = dt  # t = 0 is one knot of the full grid
        weights[-1] = dt  # the two end knots +-t_max, each of weight dt / 2
        return t, weights

    def sample_directions(
        self, dim: int, step: int, device: torch.device | str, dtype: torch.dtype
    ) -> Tensor:
        """The (dim, num_slices) unit directions of `step`, the same on every rank."""
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < _MAX_STEP:
            raise ValueError(f"SIGReg: step must be an int in [0, 2**32); got {step!r}")
        generator = torch.Generator(device=device)
        generator.manual_seed((self.seed * _SEED_STRIDE + step) % _MAX_STEP)
        directions = torch.randn(
            dim, self.num_slices, generator=generator, device=device, dtype=torch.float32
        ).to(dtype)
        norms: Tensor = torch.linalg.vector_norm(directions, dim=0, keepdim=True)
        return directions / norms

    def forward(self, embeddings: Tensor, step: int | None = None) -> Tensor:
        """SIGReg of the (global) batch on the directions of `step`.

        Args:
            embeddings: (N, D) embeddings of this rank.
            step: which directions to draw; by default the number of earlier calls
                without `step`, which then advances.

        Returns:
            Scalar statistic, averaged over the directions.

        Raises:
            ValueError: embeddings that are not 2-D, or a step outside [0, 2**32).
        """
        check_rank("embeddings", embeddings, 2, "(N, D)")
        if step is None:
            step = self.calls
            self.calls += 1
        dtype = compute_dtype(embeddings)
        directions = self.sample_directions(embeddings.shape[1], step, embeddings.device, dtype)
        return self.statistic(embeddings, directions)

    def statistic(self, embeddings: Tensor, directions: Tensor) -> Tensor:
        """Mean Epps-Pulley statistic of the projections of the global batch on `directions`.

        Args:
            embeddings: (N, D) embeddings of this rank.
            directions: (D, M) directions (unit columns), the same on every rank.

        Returns:
            Scalar statistic.
        """
        check_rank("embeddings", embeddings, 2, "(N, D)")
        check_rank("directions", directions, 2, "(D, M)")
        if directions.shape[0] != embeddings.shape[1]:
            raise ValueError(
                f"directions must have one row per embedding feature; got directions of "
                f"shape {tuple(directions.shape)} for embeddings of shape "
                f"{tuple(embeddings.shape)}"
            )
        dtype = compute_dtype(embeddings, directions)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            t, weights = self.knots(dtype, embeddings.device)
            projections = embeddings.to(dtype) @ directions.to(dtype)  # (N, M)
            angles = projections.unsqueeze(-1) * t  # (N, M, J)
            count = angles.new_full((1,), float(embeddings.shape[0]))
            # this rank's sums of cos and sin and its count, summed over ranks with gradient
            local = torch.cat([angles.cos().sum(0).flatten(), angles.sin().sum(0).flatten(), count])
            total = _distributed.gather(local.unsqueeze(0)).sum(0)
            slices = directions.shape[1]
            size = slices * t.shape[0]
            n = total[-1].detach()
            real = total[:size].view(slices, -1) / n  # (M, J): Re phi_N(t_j)
            imag = total[size : 2 * size].view(slices, -1) / n  # (M, J): Im phi_N(t_j)
            gaussian = torch.exp(-0.5 * t.square())  # phi(t) of N(0, 1), also w(t)
            error = (real - gaussian).square() + imag.square()  # |phi_N(t) - phi(t)|^2
            per_slice = n * (error * (gaussian * weights)).sum(dim=-1)  # (M,) EP statistics
            return per_slice.mean()
