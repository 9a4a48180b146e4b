"""Gradient clipping of each optimizer of :class:`spt_module.Module`, resolved once.

An optimizer clips with its own ``gradient_clip_val`` / ``gradient_clip_algorithm`` from the
``optim`` spec, else with the Trainer's settings that the Module took over. The result is a
:class:`Clipping` per optimizer, resolved at train start; the step path only looks it up.
"""

from __future__ import annotations

from dataclasses import dataclass

from spt_module._trainer_settings import TrainerSettings
from spt_optim import OptimizerEntry

__all__ = ["CLIP_ALGORITHMS", "Clipping", "resolve_clipping"]

CLIP_ALGORITHMS = ("norm", "value")


@dataclass(frozen=True)
class Clipping:
    """How one optimizer clips its gradients before it steps.

    Attributes:
        value: The threshold (a norm or an absolute value), None for no clipping.
        algorithm: ``"norm"`` (``clip_grad_norm_``) or ``"value"`` (``clip_grad_value_``).
    """

    value: float | None = None
    algorithm: str = "norm"

    def __post_init__(self) -> None:
        if self.algorithm not in CLIP_ALGORITHMS:
            raise ValueError(
                f"Clipping: algorithm={self.algorithm!r} is not supported; use 'norm' or 'value'."
            )


def resolve_clipping(entry: OptimizerEntry, settings: TrainerSettings) -> Clipping:
    """The clipping of ``entry``: its own override, else the Trainer's setting.

    Args:
        entry: The optimizer entry (its ``gradient_clip_val`` / ``gradient_clip_algorithm``
            come from the ``optim`` spec).
        settings: What the Module took over from the Trainer.

    Raises:
        ValueError: For an algorithm other than ``"norm"`` or ``"value"``, naming the
            optimizer.
    """
    value = entry.gradient_clip_val
    algorithm = entry.gradient_clip_algorithm
    if value is None:
        value = settings.gradient_clip_val
        algorithm = algorithm or settings.gradient_clip_algorithm
    algorithm = (algorithm or "norm").lower()
    if algorithm not in CLIP_ALGORITHMS:
        raise ValueError(
            f"optimizer {entry.name!r}: gradient_clip_algorithm={algorithm!r} is not "
            "supported; use 'norm' or 'value'."
        )
    return Clipping(float(value) if value else None, algorithm)
