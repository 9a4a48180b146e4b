"""Every private attribute of Lightning that spt_module reads or sets, one function each.

Lightning gives no public way to ask these questions; when a Lightning release moves one of
these attributes, the function raises an ``AttributeError`` (nothing falls back to a guess)
and ``tests/test_lightning_internals.py`` fails against the locked version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import lightning.pytorch as pl
    from lightning.pytorch.strategies import ModelParallelStrategy

__all__ = [
    "attached_trainer",
    "epoch_completed",
    "logs_this_step",
    "put_devices_on_data_parallel_axis",
]


def attached_trainer(module: pl.LightningModule) -> pl.Trainer | None:
    """The Trainer ``module`` is attached to, or None (``module.trainer`` raises instead)."""
    return module._trainer


def logs_this_step(trainer: pl.Trainer) -> bool:
    """Whether ``self.log(..., on_step=True)`` is written at this training step.

    True on every ``log_every_n_steps``-th step (and on the last batch of an epoch), as
    Lightning's logger connector decides; reading it per step costs one attribute lookup.
    """
    return bool(trainer._logger_connector.should_update_logs)


def epoch_completed(trainer: pl.Trainer) -> bool:
    """Whether the training epoch now ending ran all its batches (not cut by ``max_steps``)."""
    return bool(trainer.fit_loop.epoch_loop._num_ready_batches_reached())


def put_devices_on_data_parallel_axis(strategy: ModelParallelStrategy) -> None:
    """Resolve ``"auto"`` mesh sizes as plain FSDP2 data parallelism: tensor parallel 1.

    Lightning's ``ModelParallelStrategy`` resolves ``"auto"`` to all devices of a node on the
    tensor-parallel axis; this puts every process of the world on the data-parallel axis.
    Call it in ``setup_environment`` before the parent's, when ``num_processes`` is known.
    """
    if strategy._tensor_parallel_size == "auto":
        strategy._tensor_parallel_size = 1
    if strategy._data_parallel_size == "auto":
        strategy._data_parallel_size = strategy.num_nodes * strategy.num_processes
