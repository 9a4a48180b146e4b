"""Build every optimizer and scheduler of a module from one ``optim`` spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from spt_optim._config import EntryConfig, parse_optim
from spt_optim.length import TrainingLength
from spt_optim.optimizers import build_optimizer
from spt_optim.routing import route_parameters
from spt_optim.schedulers import build_scheduler
from spt_optim.weight_decay import norm_parameter_names

__all__ = ["OptimizerEntry", "build_optimizers", "configure_optimizers", "length_from_module"]


@dataclass
class OptimizerEntry:
    """One optimizer with its scheduler and how to step them.

    Attributes:
        name: Route name (``"default"`` for a single optimizer).
        optimizer: The optimizer.
        scheduler: Its scheduler, or None.
        interval: ``"step"`` or ``"epoch"``: when the scheduler steps.
        frequency: The optimizer steps every this many accumulated batches.
        scheduler_frequency: The scheduler steps every this many intervals.
        monitor: Metric for ReduceLROnPlateau (default ``"val_loss"``), else None unless given.
        gradient_clip_val: Per-optimizer clipping value (None: use the Trainer's).
        gradient_clip_algorithm: ``"norm"``, ``"value"`` or None (use the Trainer's).
        parameter_names: Qualified names of the parameters it optimizes.
        parameters: Those parameters, in the same order.
        modules: The route's regex, None for a single optimizer.

    Examples:
        >>> import torch
        >>> model = torch.nn.Linear(2, 2)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
        >>> entry = OptimizerEntry("head", opt, sched, interval="epoch", monitor="val_loss")
        >>> config = entry.lightning_dict()["lr_scheduler"]
        >>> config["interval"], config["frequency"], config["name"], config["monitor"]
        ('epoch', 1, 'head', 'val_loss')
    """

    name: str
    optimizer: Optimizer
    scheduler: LRScheduler | ReduceLROnPlateau | None
    interval: str = "step"
    frequency: int = 1
    scheduler_frequency: int = 1
    monitor: str | None = None
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str | None = None
    parameter_names: list[str] = field(default_factory=list)
    parameters: list[nn.Parameter] = field(default_factory=list, repr=False)
    modules: str | None = None

    def lightning_dict(self) -> dict[str, Any]:
        """This entry in the dict format ``LightningModule.configure_optimizers`` returns.

        Returns:
            ``{"optimizer": opt}``, plus ``"lr_scheduler": {"scheduler", "interval",
            "frequency" (the scheduler's), "name", and "monitor" when set}``.
        """
        out: dict[str, Any] = {"optimizer": self.optimizer}
        if self.scheduler is not None:
            config: dict[str, Any] = {
                "scheduler": self.scheduler,
                "interval": self.interval,
                "frequency": self.scheduler_frequency,
                "name": self.name,
            }
            if self.monitor is not None:
                config["monitor"] = self.monitor
            out["lr_scheduler"] = config
        return out


def length_from_module(module: nn.Module) -> TrainingLength | None:
    """The training length of the Lightning Trainer attached to ``module``, if any.

    The accumulation is the one the module applies: ``module.trainer_settings`` (where
    ``spt_module.Module`` keeps what it took over from the Trainer) when the module has it,
    else the Trainer's ``accumulate_grad_batches``. Duck-typed: reads ``module.trainer`` (a
    LightningModule raises RuntimeError when none is attached; a plain ``nn.Module`` has no
    such attribute), so lightning is never imported.

    Args:
        module: A LightningModule, or any ``nn.Module``.

    Returns:
        :meth:`TrainingLength.from_trainer` of the attached trainer, or None without one.

    Examples:
        >>> from torch import nn
        >>> length_from_module(nn.Linear(2, 2)) is None
        True
    """
    try:
        trainer = module.trainer
    except (AttributeError, RuntimeError):
        return None
    if trainer is None:
        return None
    settings = getattr(module, "trainer_settings", None)
    accumulate = None if settings is None else settings.accumulate_grad_batches
    return TrainingLength.from_trainer(trainer, accumulate_grad_batches=accumulate)


def _build_entry(
    config: EntryConfig,
    named: list[tuple[str, nn.Parameter]],
    no_decay: set[str],
    length: TrainingLength | None,
) -> OptimizerEntry:
    if not named:
        raise ValueError(
            f"optim entry {config.name!r} (modules {config.modules!r}) received no trainable "
            "parameters: the modules it matches are frozen or their parameters went to other "
            "routes; remove the entry or change its pattern"
        )
    optimizer = build_optimizer(
        config.optimizer,
        named,
        exclude_bias_and_norm=config.exclude_bias_and_norm,
        no_decay_names=no_decay,
    )
    scheduler = None
    if config.scheduler is not None:
        scheduler = build_scheduler(
            config.scheduler,
            optimizer,
            length,
            interval=config.interval,
            optimizer_frequency=config.frequency,
            scheduler_frequency=config.scheduler_frequency,
        )
    return OptimizerEntry(
        name=config.name,
        optimizer=optimizer,
        scheduler=scheduler,
        interval=config.interval,
        frequency=config.frequency,
        scheduler_frequency=config.scheduler_frequency,
        monitor=config.monitor,
        gradient_clip_val=config.gradient_clip_val,
        gradient_clip_algorithm=config.gradient_clip_algorithm,
        parameter_names=[n for n, _ in named],
        parameters=[p for _, p in named],
        modules=config.modules,
    )


def build_optimizers(
    module: nn.Module,
    optim: Any = None,
    length: TrainingLength | None = None,
    *,
    unmatched: str | None = None,
) -> list[OptimizerEntry]:
    """Build the optimizers and schedulers that ``optim`` describes for ``module``.

    Args:
        module: The model; parameters come from ``module.named_parameters()``, frozen
            ones are skipped.
        optim: None (AdamW with torch's defaults + CosineAnnealingLR), False (none), an
            optimizer spec, a single-optimizer dict ``{"optimizer", "scheduler",
            "interval", "frequency", "scheduler_frequency", "monitor", "gradient_clip_val",
            "gradient_clip_algorithm", "exclude_bias_and_norm", "name"}``, or a
            multi-optimizer dict ``{name: {"modules": regex, ...same keys}}`` routed with
            :func:`spt_optim.route_parameters`. An optimizer missing from a dict is AdamW,
            a scheduler missing from a dict is CosineAnnealingLR; ``"scheduler": None``
            means none.
        length: Training length for scheduler defaults; None reads the attached Lightning
            Trainer if there is one (see :func:`length_from_module`).
        unmatched: Policy for parameters no route takes (``"warn"``, ``"error"``,
            ``"ignore"``, ``"freeze"``; see :func:`spt_optim.route_parameters`); overrides
            an ``"unmatched"`` key of the multi-optimizer dict.

    Returns:
        One entry per optimizer, in the order of the spec.

    Raises:
        ValueError: For bad specs, patterns matching no module, or an entry with no
            parameters.

    Examples:
        >>> from torch import nn
        >>> model = nn.Module()
        >>> model.backbone = nn.Linear(4, 4)
        >>> model.projector = nn.Linear(4, 2)
        >>> entries = build_optimizers(
        ...     model,
        ...     {
        ...         "backbone_opt": {"modules": "backbone", "optimizer": {"type": "SGD"}},
        ...         "projector_opt": {"modules": "projector", "optimizer": "Adam"},
        ...     },
        ...     TrainingLength(max_epochs=2, batches_per_epoch=10),
        ... )
        >>> [(e.name, type(e.optimizer).__name__, e.scheduler.T_max) for e in entries]
        [('backbone_opt', 'SGD', 20), ('projector_opt', 'Adam', 20)]
    """
    configs, policy = parse_optim(optim)
    if not configs:
        return []
    if length is None:
        length = length_from_module(module)
    needs_norm = any(c.exclude_bias_and_norm for c in configs)
    no_decay = norm_parameter_names(module) if needs_norm else set()
    if configs[0].modules is None:
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        return [_build_entry(configs[0], named, no_decay, length)]
    routes = {c.name: c.modules for c in configs if c.modules is not None}
    routed = route_parameters(module, routes, unmatched=unmatched or policy)
    return [_build_entry(c, routed[c.name], no_decay, length) for c in configs]


def _check_automatic(owner: str, entries: list[OptimizerEntry]) -> None:
    """Refuse settings that Lightning's automatic optimization would silently ignore."""
    fix = (
        "set self.automatic_optimization = False and step the optimizers yourself "
        "(as spt_module.Module does)"
    )
    for entry in entries:
        if entry.frequency != 1:
            raise ValueError(
                f"optim entry {entry.name!r}: 'frequency' is {entry.frequency}, but {owner} uses "
                "Lightning's automatic optimization, which steps the optimizer on every "
                f"accumulated batch; remove 'frequency' or {fix}"
            )
        clip = (entry.gradient_clip_val, entry.gradient_clip_algorithm)
        if clip != (None, None):
            raise ValueError(
                f"optim entry {entry.name!r}: per-optimizer clipping {clip} is ignored by "
                f"Lightning's automatic optimization in {owner}; pass "
                f"Trainer(gradient_clip_val=..., gradient_clip_algorithm=...) instead, or {fix}"
            )


def configure_optimizers(
    module: nn.Module, optim: Any = None, *, length: TrainingLength | None = None
) -> Any:
    """What ``LightningModule.configure_optimizers`` returns, built from ``optim``.

    Use it in any LightningModule: ``return spt_optim.configure_optimizers(self, {...})``.
    Schedule lengths come from the attached Trainer (:func:`length_from_module`); a run
    resumed from a checkpoint still restores its DataLoader's position.

    Args:
        module: The LightningModule (or any ``nn.Module``, then give ``length``).
        optim: The spec, as in :func:`build_optimizers`.
        length: Overrides the length read from the Trainer.

    Returns:
        None for ``optim=False``; one ``{"optimizer", "lr_scheduler"}`` dict for one
        optimizer; a list of such dicts for several.

    Raises:
        ValueError: As :func:`build_optimizers`; also when the module uses Lightning's
            automatic optimization and an entry sets what only manual optimization can
            honour (an optimizer ``frequency`` other than 1, per-optimizer clipping).

    Examples:
        >>> from torch import nn
        >>> length = TrainingLength(total_batches=100)
        >>> out = configure_optimizers(nn.Linear(2, 2), "SGD", length=length)
        >>> out["lr_scheduler"]["scheduler"].T_max, out["lr_scheduler"]["interval"]
        (100, 'step')
    """
    entries = build_optimizers(module, optim, length)
    if getattr(module, "automatic_optimization", False) is True:
        _check_automatic(type(module).__name__, entries)
    if not entries:
        return None
    if len(entries) == 1:
        return entries[0].lightning_dict()
    return [entry.lightning_dict() for entry in entries]
