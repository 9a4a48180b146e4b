"""Metrics given to :class:`spt_module.Module` as ``metrics=``, per stage.

Accepted forms:

- a ``torchmetrics.Metric`` (logged under its class name);
- a dict ``{name: Metric}``: a copy for each of the train, val and test stages;
- a per-stage dict ``{"train": ..., "val": ..., "test": ...}`` whose values are either of
  the forms above.

Each metric is updated from the forward outputs: predictions from ``"logits"`` (else
``"preds"``), targets from ``"label"``, and logged once per epoch as ``{stage}/{name}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchmetrics import Metric

__all__ = ["METRIC_STAGES", "METRICS_KEYS", "build_stage_metrics", "metric_inputs"]

METRIC_STAGES = ("train", "val", "test")
#: Metric stage -> its key in the ModuleDict of metrics ("train" would shadow
#: ``nn.Module.train``, so the keys are Lightning's stage names).
METRICS_KEYS = {"train": "fit", "val": "validate", "test": "test"}
_STAGE_ALIASES = {"train": "train", "fit": "train", "val": "val", "validate": "val", "test": "test"}


def _as_named(metrics: Any, where: str) -> dict[str, Metric]:
    if isinstance(metrics, Metric):
        return {type(metrics).__name__: metrics}
    if isinstance(metrics, Mapping):
        out = {}
        for name, metric in metrics.items():
            if not isinstance(metric, Metric):
                raise TypeError(
                    f"metrics{where}[{name!r}] must be a torchmetrics.Metric, got "
                    f"{type(metric).__name__}."
                )
            out[str(name)] = metric
        return out
    raise TypeError(
        f"metrics{where} must be a torchmetrics.Metric or a dict of them, got "
        f"{type(metrics).__name__}."
    )


def _is_per_stage(metrics: Any) -> bool:
    return (
        isinstance(metrics, Mapping)
        and len(metrics) > 0
        and all(k in _STAGE_ALIASES for k in metrics)
        and not any(isinstance(v, Metric) for v in metrics.values())
    )


def build_stage_metrics(metrics: Any) -> nn.ModuleDict:
    """Normalise ``metrics=`` into ``ModuleDict({key: ModuleDict({name: Metric})})``.

    The keys are ``METRICS_KEYS`` values (``"fit"``, ``"validate"``, ``"test"``).

    Raises:
        TypeError: If a value is not a Metric (or a dict of them).
    """
    stages: dict[str, nn.ModuleDict] = {}
    if metrics is None:
        return nn.ModuleDict()
    if _is_per_stage(metrics):
        for key, value in metrics.items():
            if value is not None:
                stages[METRICS_KEYS[_STAGE_ALIASES[key]]] = nn.ModuleDict(
                    _as_named(value, f"[{key!r}]")
                )
        return nn.ModuleDict(stages)
    named = _as_named(metrics, "")
    for i, stage in enumerate(METRIC_STAGES):
        stages[METRICS_KEYS[stage]] = nn.ModuleDict(
            {name: metric if i == 0 else metric.clone() for name, metric in named.items()}
        )
    return nn.ModuleDict(stages)


def metric_inputs(outputs: Mapping[str, Any], stage: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(preds, target)`` for the metrics: ``"logits"`` (else ``"preds"``) and ``"label"``.

    Raises:
        KeyError: If either is missing from the forward outputs.
    """
    preds = outputs.get("logits", outputs.get("preds"))
    target = outputs.get("label")
    if preds is None or target is None:
        raise KeyError(
            f"Module metrics at stage {stage!r} need 'logits' (or 'preds') and 'label' in the "
            f"forward outputs; forward returned keys {sorted(map(str, outputs))}. Return them, "
            "or give metrics per stage, e.g. metrics={'val': {...}}."
        )
    return preds.detach(), target
