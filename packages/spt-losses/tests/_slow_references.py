"""Slow references written from the papers, shared by several test files.

- `reference_sinkhorn`: SwAV's Sinkhorn-Knopp (the teacher of DINOv2's centring) with loops
  over Python floats; no gradient (the codes are targets).
- `reference_sigreg`: LeJEPA's SIGReg with a complex characteristic function per direction
  and per knot of the full grid [-t_max, t_max], and the trapezoid rule written out; torch
  scalars throughout, so autograd gives its gradient.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def reference_sinkhorn(scores: Tensor, epsilon: float, iterations: int) -> Tensor:
    """(N, K) scores -> (N, K) codes, each row a distribution; N = 0 gives (0, K)."""
    rows = scores.detach().double().tolist()
    n, k = len(rows), scores.shape[1]
    if n == 0:
        return torch.zeros(0, k, dtype=torch.float64)
    q = [[math.exp(rows[b][j] / epsilon) for b in range(n)] for j in range(k)]  # (K, N)
    total = sum(sum(row) for row in q)
    q = [[x / total for x in row] for row in q]
    for _ in range(iterations):
        for j in range(k):  # every prototype gets mass 1/K
            row_sum = sum(q[j])
            q[j] = [x / row_sum / k for x in q[j]]
        for b in range(n):  # every sample gets mass 1/N
            col_sum = sum(q[j][b] for j in range(k))
            for j in range(k):
                q[j][b] = q[j][b] / col_sum / n
    return torch.tensor([[q[j][b] * n for j in range(k)] for b in range(n)], dtype=torch.float64)


def epps_pulley_integrand(projection: Tensor, t: float) -> Tensor:
    """`|phi_N(t) - exp(-t^2/2)|^2 * exp(-t^2/2)` for one direction's (N,) projections."""
    n = projection.shape[0]
    real = sum(torch.cos(t * projection[i]) for i in range(n)) / n
    imag = sum(torch.sin(t * projection[i]) for i in range(n)) / n
    gaussian = math.exp(-0.5 * t * t)
    return ((real - gaussian) ** 2 + imag**2) * gaussian


def reference_sigreg(
    embeddings: Tensor, directions: Tensor, t_max: float = 5.0, num_points: int = 17
) -> Tensor:
    """Mean over the columns of `directions` of N * trapezoid rule of the integrand."""
    n = embeddings.shape[0]
    knots = [-t_max + 2 * t_max * i / (num_points - 1) for i in range(num_points)]
    dt = knots[1] - knots[0]
    statistics = []
    for m in range(directions.shape[1]):
        projection = embeddings @ directions[:, m]  # (N,)
        values = [epps_pulley_integrand(projection, t) for t in knots]
        integral = dt * (sum(values[1:-1]) + (values[0] + values[-1]) / 2)
        statistics.append(n * integral)
    return sum(statistics) / len(statistics)


def closed_form_epps_pulley(projection: Tensor) -> Tensor:
    """The exact integral over the real line, N * int |phi_N - phi|^2 exp(-t^2/2) dt:
    `sqrt(2 pi)/N sum_jk exp(-(x_j - x_k)^2 / 2) - 2 sqrt(pi) sum_j exp(-x_j^2 / 4)
    + N sqrt(2 pi / 3)` (Gaussian integrals of the expanded square)."""
    x = projection.double()
    n = x.shape[0]
    pairs = torch.exp(-0.5 * (x[:, None] - x[None, :]) ** 2).sum()
    return (
        math.sqrt(2 * math.pi) / n * pairs
        - 2 * math.sqrt(math.pi) * torch.exp(-0.25 * x**2).sum()
        + n * math.sqrt(2 * math.pi / 3)
    )
