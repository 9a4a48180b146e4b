"""SwAV: prototypes, and the swapped prediction of Sinkhorn codes across crops."""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses._checks import check_rank
from spt_losses._precision import compute_dtype
from spt_losses.sinkhorn import sinkhorn_knopp

__all__ = ["Prototypes", "SwAVLoss"]


class Prototypes(nn.Module):
    """SwAV's K prototypes: a bias-free linear layer whose rows stay on the unit sphere.

    `forward(z)` gives the scores `z @ weight.T`. The paper normalises the prototypes at the
    start of every iteration and drops their gradient during the first iterations; here
    both happen around the steps of the optimizer that trains `weight`, once
    :meth:`follow` registered its hooks on it (``spt.forward.swav_forward`` does it at its
    first training step):

    - after each optimizer step (and once in `follow`) the rows are L2-normalised, so
      every forward pass, evaluation and checkpoint sees unit prototypes; this equals the
      paper's normalisation before each iteration's forward;
    - before each of the first `freeze_iterations` optimizer steps the gradient of
      `weight` is set to None, as in the paper (the optimizer skips the prototypes: no
      update, no weight decay, no momentum). Gradient clipping, which runs before the
      step, still counts that gradient in its norm.

    The number of optimizer steps so far is the buffer `num_steps`, so a resumed run keeps
    the prototypes frozen for the remaining iterations only.

    Args:
        dim: width of the (normalised) projections.
        num_prototypes: K, the number of prototypes. Paper: 3000.
        freeze_iterations: optimizer steps during which the prototypes do not move.
            Paper: 313 (one ImageNet epoch at batch 4096).

    Shapes:
        - input: (B, dim).
        - output: (B, num_prototypes).

    Examples:
        >>> prototypes = Prototypes(16, num_prototypes=10)
        >>> prototypes(torch.randn(4, 16)).shape
        torch.Size([4, 10])
    """

    num_steps: Tensor

    def __init__(self, dim: int, num_prototypes: int = 3000, freeze_iterations: int = 313) -> None:
        super().__init__()
        if dim < 1 or num_prototypes < 1:
            raise ValueError(
                f"Prototypes needs dim >= 1 and num_prototypes >= 1; got dim={dim}, "
                f"num_prototypes={num_prototypes}"
            )
        if freeze_iterations < 0:
            raise ValueError(f"Prototypes freeze_iterations must be >= 0; got {freeze_iterations}")
        self.dim = dim
        self.num_prototypes = num_prototypes
        self.freeze_iterations = int(freeze_iterations)
        self.weight = nn.Parameter(torch.empty(num_prototypes, dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's initialisation
        self.register_buffer("num_steps", torch.zeros((), dtype=torch.long))
        self._hooks: list[Any] = []
        self._followed: weakref.ref[torch.optim.Optimizer] | None = None
        self._thawed = freeze_iterations == 0  # host flag: no device sync once unfrozen
        self.register_load_state_dict_post_hook(_recheck_thawed)  # type: ignore[no-untyped-call]

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_prototypes={self.num_prototypes}, "
            f"freeze_iterations={self.freeze_iterations}"
        )

    def forward(self, z: Tensor) -> Tensor:
        """Scores of the projections against the prototypes: (B, dim) -> (B, K)."""
        return z @ self.weight.t()

    @property
    def frozen(self) -> bool:
        """Whether the next optimizer step leaves the prototypes unchanged."""
        if self._thawed:
            return False
        self._thawed = int(self.num_steps) >= self.freeze_iterations
        return not self._thawed

    @torch.no_grad()
    def normalize_(self) -> None:
        """L2-normalises each prototype (row of `weight`) in place."""
        self.weight.copy_(F.normalize(self.weight, dim=1))

    def follow(self, optimizer: torch.optim.Optimizer) -> None:
        """Normalise now and after every step of `optimizer`; freeze for the first steps.

        Idempotent; following a new optimizer (a new fit) drops the hooks on the old one.
        """
        if self.followed is optimizer:
            return
        for hook in self._hooks:
            hook.remove()

        def _before_step(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            if self.frozen:
                self.weight.grad = None

        def _after_step(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            self.num_steps += 1
            self.normalize_()

        self._hooks = [
            optimizer.register_step_pre_hook(_before_step),
            optimizer.register_step_post_hook(_after_step),
        ]
        self._followed = weakref.ref(optimizer)
        self.normalize_()

    @property
    def followed(self) -> torch.optim.Optimizer | None:
        """The optimizer whose steps normalise (and unfreeze) the prototypes, if any."""
        return None if self._followed is None else self._followed()

    def __getstate__(self) -> dict[str, Any]:
        # The hooks belong to one fit; a pickled copy follows no optimizer.
        state = dict(super().__getstate__())  # type: ignore[no-untyped-call]
        state["_hooks"] = []
        state["_followed"] = None
        return state


def _recheck_thawed(module: nn.Module, incompatible_keys: object) -> None:
    assert isinstance(module, Prototypes)
    module._thawed = module.freeze_iterations == 0


class SwAVLoss(nn.Module):
    """SwAV loss (Caron et al., 2020, "Unsupervised Learning of Visual Features by
    Contrasting Cluster Assignments"): swapped prediction over multiple crops.

    For each of the first `n_global_views` crops `i` (the global crops), codes
    `q_i = sinkhorn_knopp(scores_i)` are computed without gradient, over the global batch
    under DDP and, when given, together with the scores of a queue of earlier global-crop
    projections (only the current batch's codes are used). Every crop `v` predicts
    `p_v = softmax(scores_v / temperature)`. The loss is the mean over the pairs
    `(i, v != i)` of `-mean_b sum_k q_i[b, k] log p_v[b, k]`, which is the paper's
    `sum_i sum_{v != i} loss / (V - 1) / n_global`.

    The value returned on a rank is the mean over its own samples; under DDP its mean
    over ranks is the loss of the global batch. Computed with autocast disabled, in the
    scores' precision promoted to at least float32.

    Args:
        temperature: softmax temperature of the predictions. Paper: 0.1.
        epsilon: Sinkhorn regularisation. Paper: 0.05.
        sinkhorn_iterations: Sinkhorn iterations. Paper: 3.

    Shapes:
        - scores: list of V tensors (B, K), global crops first.
        - queue_scores: None, or a list of `n_global_views` tensors (Q, K) (Q may be 0),
          replicated on every rank.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = SwAVLoss()
        >>> scores = [torch.randn(8, 10, requires_grad=True) for _ in range(4)]
        >>> loss_fn(scores).backward()
    """

    def __init__(
        self, temperature: float = 0.1, epsilon: float = 0.05, sinkhorn_iterations: int = 3
    ) -> None:
        super().__init__()
        for name, value in [("temperature", temperature), ("epsilon", epsilon)]:
            if not value > 0:
                raise ValueError(f"SwAVLoss {name} must be > 0; got {value}")
        if sinkhorn_iterations < 1:
            raise ValueError(
                f"SwAVLoss sinkhorn_iterations must be >= 1; got {sinkhorn_iterations}"
            )
        self.temperature = float(temperature)
        self.epsilon = float(epsilon)
        self.sinkhorn_iterations = int(sinkhorn_iterations)

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, epsilon={self.epsilon}, "
            f"sinkhorn_iterations={self.sinkhorn_iterations}"
        )

    def codes(self, scores: Tensor, queue_scores: Tensor | None = None) -> Tensor:
        """Sinkhorn codes (B, K) of `scores`, with the queue's scores in the normalisation."""
        return sinkhorn_knopp(
            scores, self.epsilon, self.sinkhorn_iterations, shared_scores=queue_scores
        )

    def forward(
        self,
        scores: Sequence[Tensor],
        queue_scores: Sequence[Tensor] | None = None,
        n_global_views: int = 2,
    ) -> Tensor:
        """Computes the loss.

        Args:
            scores: V tensors (B, K) of prototype scores, the global crops first.
            queue_scores: per global crop, the (Q, K) scores of its queue, or None.
            n_global_views: how many of the first crops give codes. Paper: 2.

        Returns:
            Scalar loss.

        Raises:
            ValueError: fewer than two crops, `n_global_views` not in [1, V], a queue list
                of the wrong length, or scores that are not (B, K) with one B and K.
        """
        self._check(scores, queue_scores, n_global_views)
        dtype = compute_dtype(*scores)
        with torch.autocast(device_type=scores[0].device.type, enabled=False):
            codes = [
                self.codes(scores[i], None if queue_scores is None else queue_scores[i])
                for i in range(n_global_views)
            ]
            log_p = [F.log_softmax(s.to(dtype) / self.temperature, dim=-1) for s in scores]
            total = log_p[0].new_zeros(())
            pairs = 0
            for i, q in enumerate(codes):
                for v, log_pv in enumerate(log_p):
                    if v == i:
                        continue
                    total = total - (q.to(dtype) * log_pv).sum(dim=-1).mean()
                    pairs += 1
        return total / pairs

    @staticmethod
    def _check(
        scores: Sequence[Tensor], queue_scores: Sequence[Tensor] | None, n_global_views: int
    ) -> None:
        if len(scores) < 2:
            raise ValueError(
                "SwAVLoss needs at least two crops (codes of one predict another); "
                f"got {len(scores)}"
            )
        if not 1 <= n_global_views <= len(scores):
            raise ValueError(
                f"SwAVLoss n_global_views must be in [1, {len(scores)}] (the number of crops); "
                f"got {n_global_views}"
            )
        first = scores[0]
        for v, s in enumerate(scores):
            check_rank(f"scores[{v}]", s, 2, "(B, K)")
            if s.shape != first.shape:
                raise ValueError(
                    f"scores[{v}] must have the shape (B, K) = {tuple(first.shape)} of scores[0]; "
                    f"got {tuple(s.shape)}"
                )
        if queue_scores is not None and len(queue_scores) != n_global_views:
            raise ValueError(
                f"SwAVLoss queue_scores must hold one (Q, K) tensor per global crop "
                f"({n_global_views}); got {len(queue_scores)}"
            )
