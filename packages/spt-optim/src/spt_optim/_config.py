"""Normalise the ``optim`` spec into one config per optimizer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch.optim.lr_scheduler import ReduceLROnPlateau

from spt_optim.schedulers import DEFAULT_MONITOR, default_interval, resolve_scheduler

__all__ = ["DEFAULT_OPTIMIZER", "DEFAULT_SCHEDULER", "EntryConfig", "parse_optim"]

DEFAULT_OPTIMIZER = "AdamW"
DEFAULT_SCHEDULER = "CosineAnnealingLR"
_ENTRY_KEYS = frozenset(
    {
        "optimizer",
        "scheduler",
        "interval",
        "frequency",
        "scheduler_frequency",
        "monitor",
        "gradient_clip_val",
        "gradient_clip_algorithm",
        "exclude_bias_and_norm",
    }
)
_SINGLE_KEYS = _ENTRY_KEYS | {"name"}
_ROUTE_KEYS = _ENTRY_KEYS | {"modules"}


@dataclass(frozen=True)
class EntryConfig:
    """One optimizer's settings, every default filled in."""

    name: str
    modules: str | None
    optimizer: Any
    scheduler: Any
    interval: str
    frequency: int
    scheduler_frequency: int
    monitor: str | None
    gradient_clip_val: float | None
    gradient_clip_algorithm: str | None
    exclude_bias_and_norm: bool


def _pick(where: str, key: str, beside: Any, inside: Any) -> Any:
    if beside is not None and inside is not None and beside != inside:
        raise ValueError(
            f"optim {where}: {key!r} is {beside!r} beside the optimizer but {inside!r} inside "
            "the scheduler dict; give it in one place"
        )
    return beside if beside is not None else inside


def _positive_int(where: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"optim {where}: {key!r} must be an int >= 1, got {value!r}")
    return value


def _entry(name: str, raw: Mapping[str, Any], valid: frozenset[str]) -> EntryConfig:
    where = f"entry {name!r}"
    unknown = sorted(set(raw) - valid)
    if unknown:
        raise ValueError(f"optim {where}: unknown key(s) {unknown}; valid keys are {sorted(valid)}")
    scheduler = raw.get("scheduler", DEFAULT_SCHEDULER)
    interval, monitor, scheduler_frequency = raw.get("interval"), raw.get("monitor"), None
    if scheduler is not None and scheduler is not False:
        resolved, options = resolve_scheduler(scheduler)
        interval = _pick(where, "interval", interval, options.interval)
        interval = interval or default_interval(resolved)
        monitor = _pick(where, "monitor", monitor, options.monitor)
        if monitor is None and resolved.is_a(ReduceLROnPlateau):
            monitor = DEFAULT_MONITOR
        scheduler_frequency = _pick(
            where, "scheduler_frequency", raw.get("scheduler_frequency"), options.frequency
        )
    else:
        scheduler = None
    interval = interval or "step"
    if interval not in ("step", "epoch"):
        raise ValueError(f"optim {where}: 'interval' must be 'step' or 'epoch', got {interval!r}")
    algorithm = raw.get("gradient_clip_algorithm")
    if algorithm not in (None, "norm", "value"):
        raise ValueError(
            f"optim {where}: 'gradient_clip_algorithm' must be 'norm', 'value' or None, "
            f"got {algorithm!r}"
        )
    clip = raw.get("gradient_clip_val")
    if clip is not None and clip < 0:
        raise ValueError(f"optim {where}: 'gradient_clip_val' must be >= 0, got {clip!r}")
    return EntryConfig(
        name=name,
        modules=raw.get("modules"),
        optimizer=raw.get("optimizer", DEFAULT_OPTIMIZER),
        scheduler=scheduler,
        interval=interval,
        frequency=_positive_int(where, "frequency", raw.get("frequency", 1)),
        scheduler_frequency=_positive_int(where, "scheduler_frequency", scheduler_frequency or 1),
        monitor=monitor,
        gradient_clip_val=None if clip is None else float(clip),
        gradient_clip_algorithm=algorithm,
        exclude_bias_and_norm=bool(raw.get("exclude_bias_and_norm", False)),
    )


def parse_optim(optim: Any) -> tuple[list[EntryConfig], str]:
    """Turn an ``optim`` spec into entry configs and the ``unmatched`` policy.

    Forms: None (AdamW + CosineAnnealingLR), False (no optimizer), an optimizer spec alone
    (``"SGD"``, ``{"type": ...}``, partial, class), a single-optimizer dict with an
    ``"optimizer"`` key (or with single-optimizer keys only, the optimizer then being
    AdamW), or a multi-optimizer dict ``{name: {"modules": regex, ...}}``
    (which may also hold ``"unmatched": "warn" | "error" | "ignore" | "freeze"``).
    """
    if optim is None:
        return [_entry("default", {}, _SINGLE_KEYS)], "warn"
    if optim is False:
        return [], "warn"
    if not isinstance(optim, Mapping):
        return [_entry("default", {"optimizer": optim}, _SINGLE_KEYS)], "warn"
    if "optimizer" in optim or (optim and set(optim) <= _SINGLE_KEYS):
        # {"scheduler": "StepLR"} alone: a single optimizer, the default AdamW
        name = str(optim.get("name", "default"))
        return [_entry(name, optim, _SINGLE_KEYS)], "warn"
    if "type" in optim:
        return [_entry("default", {"optimizer": optim}, _SINGLE_KEYS)], "warn"
    unmatched = "warn"
    entries: list[EntryConfig] = []
    for name, raw in optim.items():
        if name == "unmatched" and isinstance(raw, str):
            unmatched = raw
            continue
        if not isinstance(raw, Mapping) or "modules" not in raw:
            raise ValueError(
                f"optim entry {name!r}: a multi-optimizer spec maps names to dicts with a "
                f"'modules' regex, got {raw!r}; for a single optimizer write "
                '{"optimizer": ..., "scheduler": ...}'
            )
        entries.append(_entry(str(name), raw, _ROUTE_KEYS))
    if not entries:
        raise ValueError("optim: the multi-optimizer dict holds no optimizer entry")
    return entries, unmatched
