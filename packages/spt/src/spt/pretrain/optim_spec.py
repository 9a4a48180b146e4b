"""Translate the ``optimizer`` and ``scheduler`` sections of seed 003 into an ``spt_optim`` spec.

Nothing is parsed or built here beyond the translation: the spec goes to
``spt_module.Module(optim=...)``, which builds the optimizer and scheduler through
``spt_optim.build_optimizers`` at ``configure_optimizers`` time (lengths filled from the
Trainer there). This module maps seed 003's short names (adam, adamw, sgd; cosine, step,
plateau, warmup_cosine) and their keys, and converts warmup_cosine's epochs to steps.
"""

from __future__ import annotations

from typing import Any

import torch

# seed 003 name -> spt_optim (torch.optim) name
_OPTIMIZERS: dict[str, str] = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}

# seed 003 name -> (spt_optim scheduler name, seed key -> scheduler kwarg)
_SCHEDULERS: dict[str, tuple[str, dict[str, str]]] = {
    "cosine": ("CosineAnnealingLR", {"T_max": "T_max", "eta_min": "eta_min"}),
    "step": ("StepLR", {"step_size": "step_size", "gamma": "gamma"}),
    "plateau": (
        "ReduceLROnPlateau",
        {
            "mode": "mode",
            "factor": "factor",
            "patience": "patience",
            "threshold": "threshold",
            "min_lr": "min_lr",
            "cooldown": "cooldown",
        },
    ),
    "warmup_cosine": (
        "LinearWarmupCosineAnnealing",
        {
            "warmup_epochs": "warmup_steps",
            "max_epochs": "total_steps",
            "eta_min": "eta_min",
            "warmup_start_factor": "warmup_start_factor",
        },
    ),
}
_COMMON_SCHEDULER_KEYS = ("name", "interval", "monitor")


def optimizer_names() -> list[str]:
    """The optimizer names ``optimizer.name`` accepts."""
    return sorted(_OPTIMIZERS)


def scheduler_names() -> list[str]:
    """The scheduler names ``scheduler.name`` accepts."""
    return sorted(_SCHEDULERS)


def optimizer_spec(section: dict[str, Any]) -> dict[str, Any]:
    """Map an ``optimizer`` section to an ``spt_optim`` optimizer spec.

    The spec is checked by letting ``spt_optim.build_optimizer`` build it once over a
    throwaway parameter, so a keyword the optimizer does not take fails in the module's
    constructor rather than at fit start.

    Args:
        section: ``{"name": "adamw", "lr": 1e-3, "weight_decay": 0.01, ...}``; other keys are
            keyword arguments of the torch optimizer (``momentum`` for sgd, ``betas``, ...).

    Returns:
        ``{"type": "AdamW", "lr": ..., ...}``.

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
        params["betas"] = tuple(params["betas"])
    spec = {"type": _OPTIMIZERS[name], **params}
    try:
        build_optimizer(spec, [torch.nn.Parameter(torch.zeros(1))])
    except (TypeError, ValueError) as err:
        raise ValueError(f"config section optimizer={section!r} is invalid: {err}") from err
    return spec


def scheduler_spec(section: dict[str, Any], steps_per_epoch: float | None = None) -> dict[str, Any]:
    """Map a ``scheduler`` section to the scheduler part of an ``spt_optim`` spec.

    Counts in the seed's examples are epochs (``T_max``, ``step_size``, ``warmup_epochs``,
    ``max_epochs``), so schedulers step per epoch unless the section says ``interval: step``
    (then ``T_max`` and ``step_size`` count optimizer steps). ``warmup_cosine`` steps per
    optimizer step by default, its ``warmup_epochs`` and ``max_epochs`` converted with
    ``steps_per_epoch`` (left to ``spt_optim``'s defaults while that is unknown: the whole run,
    10% warmup). ``plateau`` watches ``monitor`` (default ``val/loss``). Omitted lengths
    (``T_max``, ``max_epochs``) are filled by ``spt_optim`` from the trainer's training length.

    Args:
        section: ``{"name": "warmup_cosine", "warmup_epochs": 10, "max_epochs": 100, ...}``.
        steps_per_epoch: optimizer steps per epoch, to convert epochs of ``warmup_cosine``.

    Returns:
        ``{"scheduler": {"type": ..., ...}, "interval": ..., "monitor": ...}`` (monitor only for
        plateau).

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
    type_name, keymap = _SCHEDULERS[name]
    unknown = [k for k in section if k not in keymap and k not in _COMMON_SCHEDULER_KEYS]
    if unknown:
        raise ValueError(
            f"scheduler {name!r} does not accept {', '.join(repr(k) for k in unknown)}; "
            f"accepted: {', '.join([*keymap, 'interval', 'monitor'])}"
        )
    interval = str(section.get("interval", "step" if name == "warmup_cosine" else "epoch"))
    if interval not in ("epoch", "step"):
        raise ValueError(f"scheduler.interval={interval!r} must be 'epoch' or 'step'")
    kwargs = {keymap[k]: v for k, v in section.items() if k in keymap}
    if name == "warmup_cosine" and interval == "step":
        for key in ("warmup_steps", "total_steps"):
            if key in kwargs:
                epochs = kwargs.pop(key)
                if steps_per_epoch is not None:
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
    steps_per_epoch: float | None = None,
) -> dict[str, Any]:
    """The ``optim`` argument of ``spt_module.Module`` for the two config sections.

    Args:
        optimizer: the ``optimizer`` section.
        scheduler: the ``scheduler`` section, or None for a constant learning rate.
        steps_per_epoch: optimizer steps per epoch (see ``scheduler_spec``).

    Returns:
        A single-optimizer ``spt_optim`` spec.
    """
    spec: dict[str, Any] = {"optimizer": optimizer_spec(optimizer)}
    if scheduler is None:
        spec["scheduler"] = None  # constant learning rate
    else:
        spec.update(scheduler_spec(scheduler, steps_per_epoch))
    return spec
