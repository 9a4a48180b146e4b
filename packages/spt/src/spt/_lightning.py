"""The one place where spt reads Lightning's private attributes.

Lightning keeps some state that spt needs behind underscore names. Every such read goes
through a named function here, and ``tests/test_lightning_private.py`` checks each one
against the installed Lightning, so a rename in Lightning fails a test instead of silently
changing behaviour. No function falls back to a default when the attribute is missing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import lightning as pl

__all__ = [
    "attached_trainer",
    "cluster_environment",
    "epoch_accumulators",
    "is_last_batch",
    "logged_step",
    "resume_epoch_accumulators",
    "set_process_group_timeout",
    "with_distributed_sampler",
]


def attached_trainer(module: Any) -> pl.Trainer | None:
    """The Trainer a LightningModule is attached to, or ``None`` before it is.

    ``LightningModule.trainer`` raises while the module is not attached; the private
    ``_trainer`` holds ``None`` then, which is what code that runs both inside and outside a
    fit (a forward function called by hand, an EMA pair built before ``fit``) needs.

    Args:
        module: A ``LightningModule``; any other object (a plain ``nn.Module``) has no
            Trainer.

    Returns:
        The attached Trainer, or ``None``.

    Examples:
        >>> from torch import nn
        >>> attached_trainer(nn.Linear(2, 2)) is None
        True
    """
    if not isinstance(module, pl.LightningModule):
        return None
    trainer: pl.Trainer | None = module._trainer
    return trainer


def cluster_environment(trainer: pl.Trainer) -> Any:
    """The Trainer's cluster environment (``SLURMEnvironment``, ``LightningEnvironment``, ...).

    Strategies that hold one expose it as ``strategy.cluster_environment``; the others (a
    single-device strategy) leave it on the private accelerator connector.

    Args:
        trainer: A ``lightning.Trainer``.

    Returns:
        The cluster environment Lightning selected (or was given in ``plugins``).

    Raises:
        AttributeError: If the Trainer has no ``_accelerator_connector`` (a Lightning that
            moved it; this function must follow).
    """
    environment = getattr(trainer.strategy, "cluster_environment", None)
    if environment is not None:
        return environment
    return trainer._accelerator_connector.cluster_environment


def is_last_batch(trainer: pl.Trainer) -> bool:
    """Whether the batch that just ran is the last one of the training epoch.

    Args:
        trainer: A ``lightning.Trainer`` in ``on_train_batch_end``.

    Returns:
        Lightning's ``fit_loop.epoch_loop.batch_progress.is_last_batch``.
    """
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def set_process_group_timeout(trainer: pl.Trainer, timeout: timedelta) -> bool:
    """Give the process group that the Trainer's strategy will create this ``timeout``.

    Lightning's multi-process strategies (DDP, FSDP, ``ModelParallelStrategy``, DeepSpeed) keep
    the ``timeout=`` of their constructor in ``_timeout`` and pass it to
    ``torch.distributed.init_process_group`` when ``fit`` (or ``validate``...) sets them up: a
    collective that waits longer for another process raises (gloo) or aborts the process
    (NCCL's watchdog). A timeout the user chose (anything but Lightning's default of 30
    minutes) is kept, and so is a process group that already exists.

    Args:
        trainer: A ``lightning.Trainer`` before ``fit`` sets its strategy up.
        timeout: The timeout to set.

    Returns:
        Whether the timeout was set (False in one process, for a timeout chosen in the
        strategy, or when a process group exists already).

    Raises:
        AttributeError: If a multi-process strategy has no ``_timeout`` (a Lightning that
            renamed it; this function must follow).
    """
    import torch.distributed as dist
    from lightning.pytorch.strategies import ParallelStrategy
    from torch.distributed.constants import default_pg_timeout  # Lightning's default too

    strategy = trainer.strategy
    if trainer.world_size == 1 or not isinstance(strategy, ParallelStrategy):
        return False
    if not hasattr(strategy, "_timeout"):
        raise AttributeError(
            f"spt: {type(strategy).__name__} has no '_timeout', where Lightning 2.x keeps the "
            "process group's timeout; spt._lightning.set_process_group_timeout must be updated"
        )
    if strategy._timeout != default_pg_timeout or (dist.is_available() and dist.is_initialized()):
        return False
    strategy._timeout = timeout
    return True


def with_distributed_sampler(trainer: pl.Trainer, loader: Any) -> Any:
    """``loader`` as Lightning would train on it: with its ``DistributedSampler`` under DDP.

    Lightning replaces the sampler of a train ``DataLoader`` when it trains in several
    processes (``Trainer(use_distributed_sampler=True)``, the default) and leaves any other
    object alone. A wrapper of the loader (``spt._resume.ResumableLoader``) needs the
    replacement done before it wraps, by the same code, so that each process sees the part of
    the data it would see unwrapped.

    Args:
        trainer: A ``lightning.Trainer`` whose strategy is set up (inside ``fit``).
        loader: The train DataLoader (anything else is returned as it is).

    Returns:
        A new DataLoader with Lightning's ``DistributedSampler``, or ``loader`` itself when
        Lightning would not replace its sampler (one process, a ``DistributedSampler``
        already, an iterable dataset, ``use_distributed_sampler=False``).

    Raises:
        AttributeError: If the Trainer has no ``_data_connector`` (a Lightning that moved
            it; this function must follow).
    """
    from lightning.pytorch.trainer.states import RunningStage

    return trainer._data_connector._prepare_dataloader(
        loader, shuffle=True, mode=RunningStage.TRAINING
    )


def logged_step(trainer: pl.Trainer) -> int:
    """The ``step`` Lightning gives the rows it sends to the loggers during training.

    Lightning's ``fit_loop.epoch_loop._batches_that_stepped``: in ``on_train_batch_end`` the
    step of the batch that just ran (its row is written after the hook); at the end of an
    epoch one more (Lightning writes the epoch's row with one less).

    Args:
        trainer: A ``lightning.Trainer``.

    Returns:
        The counter, 0 before the first batch.
    """
    return int(trainer.fit_loop.epoch_loop._batches_that_stepped)


def _training_results(trainer: pl.Trainer) -> Any:
    return trainer.fit_loop.epoch_loop._results


def _reduce_fx_name(reduce_fx: Any) -> str:
    return f"{getattr(reduce_fx, '__module__', None) or 'builtins'}.{reduce_fx.__name__}"


def _reduce_fx(name: str) -> Any:
    import builtins

    import torch

    module, attr = name.rsplit(".", 1)
    return getattr(torch if module == "torch" else builtins, attr)


def epoch_accumulators(trainer: pl.Trainer) -> list[dict[str, Any]]:
    """What ``self.log(..., on_epoch=True)`` accumulated so far in this training epoch.

    Lightning keeps one accumulator per logged key (a running sum and batch count for the
    mean, the running max, min or sum) in the training loop's result collection, which its
    checkpoints do not hold. Values logged as a ``torchmetrics.Metric`` are left out: their
    state is the metric's own.

    Args:
        trainer: A ``lightning.Trainer`` inside a training epoch.

    Returns:
        One plain dict per accumulator (its ``self.log`` settings and its tensors, on the
        CPU), loadable with ``torch.load(weights_only=True)``.

    Raises:
        AttributeError: If Lightning moved ``fit_loop.epoch_loop._results`` (this function
            must follow).
    """
    saved: list[dict[str, Any]] = []
    for key, result in _training_results(trainer).items():
        meta = result.meta
        if not result.is_tensor or not meta.on_epoch or result.has_reset:
            continue
        if meta.sync.group is not None:  # a process group cannot be saved
            continue
        entry: dict[str, Any] = {
            "key": key,
            "fx": meta.fx,
            "name": meta.name,
            "prog_bar": meta.prog_bar,
            "logger": meta.logger,
            "on_step": meta.on_step,
            "on_epoch": meta.on_epoch,
            "reduce_fx": _reduce_fx_name(meta.reduce_fx),
            "enable_graph": meta.enable_graph,
            "add_dataloader_idx": meta.add_dataloader_idx,
            "dataloader_idx": meta.dataloader_idx,
            "metric_attribute": meta.metric_attribute,
            "sync_dist": meta.sync.should,
            "rank_zero_only": meta.sync.rank_zero_only,
            "value": result.value.detach().cpu().clone(),
        }
        if meta.is_mean_reduction:
            entry["cumulated_batch_size"] = result.cumulated_batch_size.detach().cpu().clone()
        saved.append(entry)
    return saved


def resume_epoch_accumulators(trainer: pl.Trainer, saved: list[dict[str, Any]]) -> None:
    """Put :func:`epoch_accumulators` back, in the first batch of a resumed epoch.

    Call it from ``on_train_batch_start``. Lightning empties the accumulators of each hook
    the first time it logs in an epoch's first batch; the resumed batch is not the epoch's
    first, so the logger connector is told so (``_first_loop_iter = False``) and the epoch's
    means go on from the saved sums.

    Args:
        trainer: A ``lightning.Trainer`` in ``on_train_batch_start``.
        saved: What :func:`epoch_accumulators` returned when the checkpoint was written.

    Raises:
        AttributeError: If Lightning moved what this reads (this function must follow).
    """
    from lightning.pytorch.trainer.connectors.logger_connector.result import (
        _Metadata,
        _ResultMetric,
        _Sync,
    )

    results = _training_results(trainer)
    device = trainer.strategy.root_device
    for entry in saved:
        meta = _Metadata(
            fx=entry["fx"],
            name=entry["name"],
            prog_bar=entry["prog_bar"],
            logger=entry["logger"],
            on_step=entry["on_step"],
            on_epoch=entry["on_epoch"],
            reduce_fx=_reduce_fx(entry["reduce_fx"]),
            enable_graph=entry["enable_graph"],
            add_dataloader_idx=entry["add_dataloader_idx"],
            dataloader_idx=entry["dataloader_idx"],
            metric_attribute=entry["metric_attribute"],
        )
        # the same arguments as LightningModule.log, so that the next self.log matches them
        meta.sync = _Sync(
            _should=entry["sync_dist"],
            fn=trainer.strategy.reduce,
            _group=None,
            rank_zero_only=entry["rank_zero_only"],
        )
        result = _ResultMetric(meta, is_tensor=True)
        result.value = entry["value"].to(device)
        if "cumulated_batch_size" in entry:
            result.cumulated_batch_size = entry["cumulated_batch_size"].to(device)
        result.has_reset = False
        results[entry["key"]] = result
    trainer._logger_connector._first_loop_iter = False
