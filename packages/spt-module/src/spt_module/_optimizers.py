"""Optimizer configuration of :class:`spt_module.Module`: entries, Lightning dicts, clipping.

The optimizers come from :func:`spt_optim.build_optimizers` (no second parser here). The
schedule length counts the accumulation the Module took over from the Trainer, and the
clipping of each optimizer is its own override, else the Trainer's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from spt_module._trainer_settings import TrainerSettings

__all__ = ["CLIP_ALGORITHMS", "lightning_configs", "resolve_clipping", "training_length"]

CLIP_ALGORITHMS = ("norm", "value")


def training_length(trainer: Any, accumulate: int) -> Any:
    """The ``spt_optim.TrainingLength`` of the run ``trainer`` is about to do.

    Args:
        trainer: The Trainer (its accumulation already reset to 1 by the Module), or None.
        accumulate: The accumulation the Module applies itself.

    Returns:
        A ``TrainingLength``, or None without a Trainer.
    """
    from spt_optim import TrainingLength

    if trainer is None:
        return None
    loads_data = trainer.train_dataloader is None
    # The Trainer's accumulation is 1 here, so this counts batches (and loads the data).
    length = TrainingLength.from_trainer(trainer)
    if loads_data and getattr(trainer, "ckpt_path", None) is not None:
        # Loaded before the checkpoint is restored, the DataLoader would miss its saved
        # position (Lightning restores a Stateful loader only when it loads the data): let
        # Lightning load it again after the restore, so resuming mid-epoch is exact.
        trainer.fit_loop._combined_loader = None
    total = length.total_batches
    if trainer.max_steps is not None and trainer.max_steps > 0:
        total = trainer.max_steps * accumulate  # max_steps counts optimizer steps
    return dataclasses.replace(length, total_batches=total, accumulate_grad_batches=accumulate)


def lightning_configs(entries: Sequence[Any]) -> list[dict[str, Any]]:
    """What ``configure_optimizers`` returns for ``entries`` under manual optimization.

    Lightning ignores (and warns about) a scheduler's ``"monitor"`` under manual
    optimization, so it is left out: the Module steps every scheduler itself.
    """
    configs = []
    for entry in entries:
        config = dict(entry.lightning_dict())
        if config.get("lr_scheduler") is not None:
            config["lr_scheduler"] = {
                k: v for k, v in config["lr_scheduler"].items() if k != "monitor"
            }
        else:
            config.pop("lr_scheduler", None)
        configs.append(config)
    return configs


def resolve_clipping(
    entries: Sequence[Any], settings: TrainerSettings
) -> list[tuple[float | None, str]]:
    """``(clip_val, algorithm)`` per entry: its own override, else the Trainer's setting.

    Raises:
        ValueError: For an algorithm other than ``"norm"`` or ``"value"``.
    """
    clip = []
    for entry in entries:
        clip_val = entry.gradient_clip_val
        algorithm = entry.gradient_clip_algorithm
        if clip_val is None:
            clip_val = settings.gradient_clip_val
            algorithm = algorithm or settings.gradient_clip_algorithm
        algorithm = (algorithm or "norm").lower()
        if algorithm not in CLIP_ALGORITHMS:
            raise ValueError(
                f"optimizer {entry.name!r}: gradient_clip_algorithm={algorithm!r} is not "
                "supported; use 'norm' or 'value'."
            )
        clip.append((float(clip_val) if clip_val else None, algorithm))
    return clip
