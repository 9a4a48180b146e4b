"""Turning a composed ``spt`` config into a Trainer, a Module, data and a :class:`~spt.Manager`.

A config is a YAML file with four instantiable sections and one of plain settings::

    trainer:   {_target_: lightning.Trainer, max_epochs: 10, ...}
    module:    {_target_: spt.Module, forward: ..., backbone: {...}, optim: {...}}
    data:      {_target_: spt.data.DataModule, train: {...}, val: {...}}
    callbacks: {name: {_target_: spt.callbacks.OnlineKNN, ...}, ...}   # optional; or a list
    manager:   {seed: 0, ckpt_every_n_steps: 500, wandb: {project: x}}  # optional

``_target_`` names any importable class or function, so a config runs code: configs are
trusted input, like a Python script.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.errors import CompactHydraException
from omegaconf import DictConfig, ListConfig, OmegaConf

__all__ = ["ConfigError", "check_targets", "instantiate_section", "run_config"]

REQUIRED = ("trainer", "module", "data")
MANAGER_KEYS = (
    "seed",
    "run_dir",
    "ckpt_path",
    "ckpt_every_n_steps",
    "ckpt_keep",
    "ckpt_monitor",
    "ckpt_mode",
    "ckpt_best_k",
    "wandb",
    "save_backbone",
    "collective_timeout",
)


class ConfigError(CompactHydraException):
    """A problem in a config file; the message names the file and the key."""


def compose_config(config: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    """``config`` composed by Hydra (defaults list and overrides applied), without running it.

    Used by ``spt eval`` and ``spt embed``; no output directory is created.
    """
    from hydra import compose, initialize_config_dir

    path = Path(config).resolve()
    with initialize_config_dir(config_dir=str(path.parent), version_base="1.3"):
        return compose(config_name=path.stem, overrides=list(overrides))


def _walk_targets(node: Any, key: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, DictConfig):
        if "_target_" in node:
            target: Any = node._get_node("_target_")
            yield key, target._value()  # unresolved: no interpolation needed
        for child in node:
            if child == "_target_":
                continue
            yield from _walk_targets(
                node._get_node(child), f"{key}.{child!s}" if key else str(child)
            )
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            yield from _walk_targets(node._get_node(i), f"{key}[{i}]")


def _locate(path: str) -> Any:
    """Import ``a.b.C`` as Hydra does: the first part, then attributes, importing submodules only
    where an attribute is missing (so a function wins over a submodule of the same name)."""
    parts = path.split(".")
    if not path or not all(parts):
        raise ImportError(f"{path!r} is not a dotted path")
    obj: Any = importlib.import_module(parts[0])
    for i in range(1, len(parts)):
        try:
            obj = getattr(obj, parts[i])
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def check_targets(cfg: DictConfig, file: str | Path) -> None:
    """Import every ``_target_`` before anything is built.

    Raises:
        ConfigError: Naming the target, its key and the file, when one cannot be imported.
    """
    for key, target in _walk_targets(cfg, ""):
        if key.startswith("hydra"):
            continue
        if not isinstance(target, str):
            raise ConfigError(
                f"{file}: {key}._target_ must be a dotted path string, got {target!r}"
            )
        try:
            _locate(target)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"{file}: unknown _target_ {target!r} at key '{key}' ({exc}); "
                "check the spelling and that its package is installed"
            ) from None


def check_sections(cfg: DictConfig, file: str | Path) -> None:
    """The required sections are there and ``manager`` holds only Manager settings.

    Other top-level keys are free: values to interpolate (``${embed_dim}``).

    Raises:
        ConfigError: Naming the missing or unknown key and the file.
    """
    for key in REQUIRED:
        section: Any = cfg._get_node(key) if key in cfg else None
        if section is None or section._is_none():
            raise ConfigError(
                f"{file}: missing key '{key}'; an spt config needs {', '.join(REQUIRED)} "
                f"(each a mapping with _target_)"
            )
    manager = cfg.get("manager")
    if manager is not None:
        if not isinstance(manager, DictConfig):
            raise ConfigError(f"{file}: 'manager' must be a mapping, got {manager!r}")
        for name in manager:
            if name not in MANAGER_KEYS:
                raise ConfigError(
                    f"{file}: unknown key 'manager.{name!s}'; allowed: {', '.join(MANAGER_KEYS)}"
                )


def instantiate_section(cfg: DictConfig, key: str, file: str | Path, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(cfg[key])`` with errors that name the key and the file.

    Raises:
        ConfigError: When building the section fails (the message of the cause included).
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from omegaconf.errors import OmegaConfBaseException

    try:
        return instantiate(cfg[key], _convert_="all", **kwargs)
    except InstantiationException as exc:
        raise ConfigError(f"{file}: cannot build '{key}': {exc}") from exc
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{file}: error in '{key}': {exc}") from exc


def _callbacks(cfg: DictConfig, file: str | Path) -> list[Any]:
    node = cfg.get("callbacks")
    if node is None:
        return []
    built = instantiate_section(cfg, "callbacks", file)
    items = list(built.values()) if isinstance(built, dict) else list(built)
    return [c for c in items if c is not None]  # `callbacks.name=null` switches one off


def run_config(
    cfg: DictConfig, file: str | Path, run_dir: str | Path | None = None
) -> dict[str, float]:
    """Check, build and run one composed config; returns the final metrics.

    Args:
        cfg: The composed config (overrides applied).
        file: The YAML file it came from, for error messages.
        run_dir: The run directory when ``manager.run_dir`` is not set (Hydra's output dir).

    Raises:
        ConfigError: For a missing or unknown key or ``_target_``, or a section that fails to build.
    """
    import lightning as pl

    from spt._preflight import check_settings  # here: it imports this module
    from spt.manager import Manager

    check_sections(cfg, file)
    check_targets(cfg, file)
    check_settings(cfg, file)  # FSDP1, a bad optim spec: refused before anything is built
    manager_kwargs: dict[str, Any] = {}
    if cfg.get("manager") is not None:
        manager_kwargs = OmegaConf.to_container(cfg.manager, resolve=True)  # type: ignore[assignment]
    manager_kwargs.setdefault("run_dir", run_dir)
    if manager_kwargs.get("seed") is not None:  # seed before any weight is initialised
        pl.seed_everything(int(manager_kwargs["seed"]), workers=True)
    module = instantiate_section(cfg, "module", file)
    data = instantiate_section(cfg, "data", file)
    callbacks = _callbacks(cfg, file)
    trainer_cfg = cfg.trainer
    extra: dict[str, Any] = {}
    if "default_root_dir" not in trainer_cfg and manager_kwargs["run_dir"] is not None:
        extra["default_root_dir"] = str(manager_kwargs["run_dir"])
    trainer = instantiate_section(cfg, "trainer", file, **extra)
    if not isinstance(trainer, pl.Trainer):
        raise ConfigError(
            f"{file}: 'trainer' built a {type(trainer).__name__}, not a lightning.Trainer"
        )
    if callbacks:
        trainer.callbacks.extend(callbacks)  # type: ignore[attr-defined]
    try:
        manager = Manager(
            trainer=trainer, module=module, data=data, config=_recorded(cfg), **manager_kwargs
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{file}: {exc}") from exc
    return manager()


def _recorded(cfg: DictConfig) -> dict[str, Any]:
    """The composed config as ``results.json`` records it (resolved where it can be)."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException:
        container = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(container, dict)
    return {str(k): v for k, v in container.items()}
