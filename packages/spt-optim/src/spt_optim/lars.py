"""LARS: layer-wise adaptive rate scaling (You, Gitman and Ginsburg, 2017)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

__all__ = ["LARS"]


class LARS(Optimizer):
    """SGD with momentum and a per-tensor trust ratio (LARS, arXiv:1708.03888).

    For each parameter tensor ``w`` with gradient ``g``:

    - ``trust = eta * ||w|| / (||g|| + weight_decay * ||w||)`` (1 when ``||w||`` or ``||g||`` is 0),
    - ``d = trust * (g + weight_decay * w)``,
    - ``buf = momentum * buf + d`` (``buf = d`` on the first step),
    - ``w = w - lr * buf`` (with ``nesterov``: ``w = w - lr * (d + momentum * buf)``).

    Tensors with at most one dimension (biases, normalization scales and shifts) are
    excluded from both the trust ratio and weight decay when ``exclude_1d`` is True, as in
    SimCLR and BYOL: for them ``d = g``.

    Args:
        params: Parameters or parameter groups.
        lr: Learning rate.
        momentum: Momentum factor.
        weight_decay: Weight decay (L2, added to the gradient before the trust ratio).
        eta: Trust coefficient.
        nesterov: Use Nesterov momentum.
        exclude_1d: Skip trust ratio and weight decay for tensors with ``ndim <= 1``.
            Can also be set per parameter group.

    Examples:
        >>> import torch
        >>> model = torch.nn.Linear(4, 2)
        >>> opt = LARS(model.parameters(), lr=0.1, weight_decay=1e-6)
        >>> model(torch.randn(8, 4)).sum().backward()
        >>> opt.step()
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
        nesterov: bool = False,
        exclude_1d: bool = True,
    ) -> None:
        for arg, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if value < 0:
                raise ValueError(f"LARS: {arg} must be >= 0, got {value}")
        if eta <= 0:
            raise ValueError(f"LARS: eta (trust coefficient) must be > 0, got {eta}")
        if nesterov and momentum <= 0:
            raise ValueError("LARS: nesterov=True needs momentum > 0")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "eta": eta,
            "nesterov": nesterov,
            "exclude_1d": exclude_1d,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one optimization step.

        Args:
            closure: Re-evaluates the model and returns the loss (optional).

        Returns:
            The loss returned by ``closure``, if given.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._update(p, group)
        return loss

    def _update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        assert p.grad is not None
        grad = p.grad
        excluded = group["exclude_1d"] and p.ndim <= 1
        if not excluded:
            wd = group["weight_decay"]
            w_norm = torch.linalg.vector_norm(p)
            g_norm = torch.linalg.vector_norm(grad)
            trust = torch.where(
                (w_norm > 0) & (g_norm > 0),
                group["eta"] * w_norm / (g_norm + wd * w_norm),
                torch.ones_like(w_norm),
            )
            grad = (grad + wd * p if wd != 0 else grad) * trust
        momentum = group["momentum"]
        if momentum != 0:
            state = self.state[p]
            if "momentum_buffer" not in state:
                buf = state["momentum_buffer"] = grad.clone()
            else:
                buf = state["momentum_buffer"]
                buf.mul_(momentum).add_(grad)
            grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
        p.add_(grad, alpha=-group["lr"])
