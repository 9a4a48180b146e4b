"""The ``optimizer`` and ``scheduler`` sections as an ``spt_optim`` spec: a table of names.

Nothing is built here: the spec goes to ``spt_module.Module(optim=...)``, which builds it
with ``spt_optim`` at ``configure_optimizers`` time (omitted lengths filled from the run).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["build_optim_spec", "optimizer_names", "optimizer_spec", "scheduler_names"]

# optimizer.name -> torch.optim class name
_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}

# scheduler.name -> (spt_optim scheduler, section key -> scheduler argument, default interval).
# The counts of the epoch schedulers are epochs; warmup_cosine's epochs become optimizer
# steps (it steps every optimizer step, so its warm-up is smooth).
_SCHEDULERS: dict[str, tuple[str, dict[str, str], str]] = {
    "cosine": ("CosineAnnealingLR", {"T_max": "T_max", "eta_min": "eta_min"}, "epoch"),
    "step": ("StepLR", {"step_size": "step_size", "gamma": "gamma"}, "epoch"),
    "plateau": (
        "ReduceLROnPlateau",
        {k: k for k in ("mode", "factor", "patience", "threshold", "min_lr", "cooldown")},
        "epoch",
    ),
    "warmup_cosine": (
        "LinearWarmupCosineAnnealing",
        {
            "warmup_epochs": "warmup_steps",
            "max_epochs": "total_steps",
            "eta_min": "eta_min",
            "warmup_start_factor": "warmup_start_factor",
        },
        "step",
    ),
}
_EPOCH_COUNTS = ("warmup_steps", "total_steps")  # warmup_cosine arguments given in epochs


def optimizer_names() -> list[str]:
    """The names ``optimizer.name`` accepts."""
    return sorted(_OPTIMIZERS)


def scheduler_names() -> list[str]:
    """The names ``scheduler.name`` accepts."""
    return sorted(_SCHEDULERS)


def optimizer_spec(section: dict[str, Any]) -> dict[str, Any]:
    """Map an ``optimizer`` section to an ``spt_optim`` spec, checked by building it once.

    Args:
        section: ``{"name": "adamw", "lr": 1e-3, ...}``; the other keys are keyword arguments
            of the torch optimizer (``weight_decay``, ``momentum`` for sgd, ``betas``, ...).

    Raises:
        ValueError: unknown name (lists the known ones) or a keyword the optimizer rejects.

    Examples:
        >>> optimizer_spec({"name": "sgd", "lr": 0.01, "momentum": 0.9})
        {'type': 'SGD', 'lr': 0.01, 'momentum': 0.9}
    """
    from spt_optim import build_optimizer

    name = str(section["name"]).lower()
    if name not in _OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer.name={section['name']!r}; known: {', '.join(optimizer_names())}"
        )
    params = {k: v for k, v in section.items() if k != "name"}
    if isinstance(params.get("betas"), list):
        params["betas"] = tuple(params["betas"])  # YAML has lists, torch wants a tuple
    spec = {"type": _OPTIMIZERS[name], **params}
    try:  # a keyword the optimizer does not take fails in the constructor, not at fit start
        build_optimizer(spec, [torch.nn.Parameter(torch.zeros(1))])
    except (TypeError, ValueError) as err:
        raise ValueError(f"config section optimizer={section!r} is invalid: {err}") from err
    return spec


def scheduler_spec(section: dict[str, Any], steps_per_epoch: int | None = None) -> dict[str, Any]:
    """Map a ``scheduler`` section to the scheduler keys of an ``spt_optim`` spec.

    Schedulers step per epoch (``T_max``, ``step_size`` count epochs) unless the section says
    ``interval: step``; ``warmup_cosine`` steps per optimizer step, its ``warmup_epochs`` and
    ``max_epochs`` multiplied by ``steps_per_epoch`` (left to ``spt_optim``'s defaults while
    that is unknown: the whole run, 10% warm-up). ``plateau`` watches ``monitor`` (default
    ``val/loss``).

    Raises:
        ValueError: unknown name (lists the known ones) or a key the scheduler does not take.

    Examples:
        >>> scheduler_spec({"name": "step", "step_size": 30, "gamma": 0.1})["scheduler"]
        {'type': 'StepLR', 'step_size': 30, 'gamma': 0.1}
    """
    name = str(section["name"]).lower()
    if name not in _SCHEDULERS:
        raise ValueError(
            f"unknown scheduler.name={section['name']!r}; known: {', '.join(scheduler_names())}"
        )
    type_name, keymap, default_interval = _SCHEDULERS[name]
    unknown = [k for k in section if k not in keymap and k not in ("name", "interval", "monitor")]
    if unknown:
        raise ValueError(
            f"scheduler {name!r} does not accept {', '.join(repr(k) for k in unknown)}; "
            f"accepted: {', '.join([*keymap, 'interval', 'monitor'])}"
        )
    interval = str(section.get("interval", default_interval))
    if interval not in ("epoch", "step"):
        raise ValueError(f"scheduler.interval={interval!r} must be 'epoch' or 'step'")
    kwargs = {keymap[k]: v for k, v in section.items() if k in keymap}
    if name == "warmup_cosine" and interval == "step":
        for key in _EPOCH_COUNTS:
            epochs = kwargs.pop(key, None)
            if epochs is not None and steps_per_epoch is not None:
                kwargs[key] = max(round(float(epochs) * steps_per_epoch), 0)
        if "total_steps" in kwargs:
            kwargs["total_steps"] = max(kwargs["total_steps"], 1)
            kwargs.setdefault("warmup_steps", 0)
    spec: dict[str, Any] = {"scheduler": {"type": type_name, **kwargs}, "interval": interval}
    if name == "plateau":
        spec["monitor"] = str(section.get("monitor", "val/loss"))
    elif "monitor" in section:
        raise ValueError(f"scheduler.monitor is only used by 'plateau', not by {name!r}")
    return spec


def build_optim_spec(
    optimizer: dict[str, Any],
    scheduler: dict[str, Any] | None,
    steps_per_epoch: int | None = None,
) -> dict[str, Any]:
    """The ``optim`` argument of ``spt_module.Module`` for the two config sections.

    Args:
        optimizer: the ``optimizer`` section.
        scheduler: the ``scheduler`` section, or None for a constant learning rate.
        steps_per_epoch: optimizer steps per epoch (see :func:`scheduler_spec`).
    """
    spec: dict[str, Any] = {"optimizer": optimizer_spec(optimizer)}
    if scheduler is None:
        spec["scheduler"] = None  # constant learning rate
    else:
        spec.update(scheduler_spec(scheduler, steps_per_epoch))
    return spec
