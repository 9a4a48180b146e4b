"""torchmetrics for callbacks: one copy per stage, logged as ``{name}/{stage}/{metric}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import Metric

__all__ = ["StageMetrics", "TopOneAccuracy", "log_metrics", "metric_dict"]


def metric_dict(owner: str, metrics: Any) -> dict[str, Metric] | None:
    """Validate a ``metrics=`` argument: None, one Metric, or a mapping of names to Metrics.

    Raises:
        TypeError: If a value is not a ``torchmetrics.Metric``.
    """
    if metrics is None:
        return None
    if isinstance(metrics, Metric):
        return {type(metrics).__name__.lower(): metrics}
    if isinstance(metrics, Mapping):
        out: dict[str, Metric] = {}
        for key, value in metrics.items():
            if not isinstance(value, Metric):
                raise TypeError(
                    f"{owner}: metrics[{key!r}] is a {type(value).__name__}, not a "
                    "torchmetrics.Metric; pass e.g. "
                    "{'top1': torchmetrics.classification.MulticlassAccuracy(10)}"
                )
            out[str(key)] = value
        return out
    raise TypeError(
        f"{owner}: metrics={metrics!r} must be None, a torchmetrics.Metric or a dict of them"
    )


def log_metrics(
    pl_module: pl.LightningModule, prefix: str, values: Mapping[str, Tensor], **log_kwargs: Any
) -> None:
    """Log each of ``values`` as ``{prefix}/{key}`` through ``pl_module.log``.

    How the callbacks log their metrics: the probe's and the kNN's ``{name}/{stage}/{metric}``
    at the end of a stage, the monitors' ``{name}/{value}`` on the step.

    Args:
        pl_module: The LightningModule being trained.
        prefix: What comes before each key, e.g. ``"knn/val"``.
        values: Key to 0-dim tensor (logged without a host sync).
        **log_kwargs: Passed to ``LightningModule.log`` (``on_step=``, ``on_epoch=``, ...).
    """
    for key, value in values.items():
        pl_module.log(f"{prefix}/{key}", value, **log_kwargs)


class TopOneAccuracy(Metric):
    """Fraction of samples whose highest score is their label (micro top-1 accuracy).

    Needs no number of classes: ``preds`` is ``(N, C)`` scores (any ``C``) or ``(N,)`` labels.
    """

    full_state_update = False
    correct: Tensor
    total: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Count the correct predictions of a batch."""
        predicted = preds.argmax(dim=1) if preds.ndim == 2 else preds
        # In place: ``self.correct += ...`` would go through nn.Module.__setattr__ every step.
        self.correct.add_((predicted == target).sum())
        self.total.add_(target.numel())

    def compute(self) -> Tensor:
        """Correct / total."""
        return self.correct / self.total.clamp(min=1)


class StageMetrics(nn.Module):
    """Independent copies of the same metrics for the train and val stages.

    Args:
        metrics: Names to metrics; each stage gets its own clone.
    """

    def __init__(self, metrics: Mapping[str, Metric]) -> None:
        super().__init__()
        self.train_metrics = nn.ModuleDict({k: m.clone() for k, m in metrics.items()})
        self.val_metrics = nn.ModuleDict({k: m.clone() for k, m in metrics.items()})
        self._updated = {"train": False, "val": False}

    def stage(self, stage: str) -> nn.ModuleDict:
        """The metrics of ``stage`` (``"train"`` or ``"val"``)."""
        return self.train_metrics if stage == "train" else self.val_metrics

    def update(self, stage: str, preds: Tensor, target: Tensor) -> None:
        """Update every metric of ``stage`` with a batch (no host sync)."""
        for metric in self.stage(stage).values():
            cast(Metric, metric).update(preds, target)
        self._updated[stage] = True

    def compute_and_reset(self, stage: str) -> dict[str, Tensor]:
        """Every metric of ``stage`` computed over the epoch (synced across ranks), then reset.

        Returns an empty dict when nothing was updated since the last reset.
        """
        if not self._updated[stage]:
            return {}
        values: dict[str, Tensor] = {}
        for key, module in self.stage(stage).items():
            metric = cast(Metric, module)
            value = metric.compute()
            if isinstance(value, Tensor) and value.numel() == 1:
                values[key] = value.detach().reshape(()).to(torch.float32)
            metric.reset()
        self._updated[stage] = False
        return values
