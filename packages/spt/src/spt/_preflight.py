"""What the ``spt`` command refuses before Hydra starts: nothing is built, no directory made.

:func:`check_command_line` composes the config once with the command line's overrides and
refuses, with a message naming the key, the value and the fix:

- an override of a key that its section's ``_target_`` does not take
  (:mod:`spt._overrides`);
- ``trainer.strategy=fsdp`` (FSDP1), with spt's advice to use ``fsdp2``, which Lightning's
  "requires a GPU accelerator" would otherwise hide on a CPU;
- an ``module.optim`` spec that cannot build (unknown optimizer, scheduler or argument, a
  string where a number goes), checked by :func:`spt_optim.validate_optim`.

The last two are :func:`check_settings`, which :func:`spt._hydra.run_config` also runs on each
job of a ``-m`` sweep before building anything. A config that does not compose is left to
Hydra, which reports it.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from spt._overrides import check_override_keys, composable, key_overrides

__all__ = ["check_command_line", "check_settings"]

_MULTIRUN = ("-m", "--multirun")


def _target(cfg: DictConfig, key: str) -> Any:
    """The object named by ``<key>._target_``, or None."""
    from spt._hydra import _locate

    node = OmegaConf.select(cfg, key, throw_on_missing=False, throw_on_resolution_failure=False)
    if not isinstance(node, DictConfig) or "_target_" not in node:
        return None
    target = node._get_node("_target_")._value()  # type: ignore[union-attr]
    if not isinstance(target, str):
        return None
    try:
        return _locate(target)
    except (ImportError, AttributeError):
        return None  # named by check_targets


def _builds_a_module(target: Any) -> bool:
    """Whether ``target`` is ``spt.Module`` (or a subclass) or a builder of ``spt.methods``."""
    from spt_module import Module

    if inspect.isclass(target):
        return issubclass(target, Module)
    return inspect.isfunction(target) and target.__module__.startswith("spt.methods")


_SKIP = object()


def _has_target(value: Any) -> bool:
    if isinstance(value, dict):
        return "_target_" in value or any(_has_target(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_target(v) for v in value)
    return False


def _plain_optim(cfg: DictConfig) -> Any:
    """``module.optim`` as plain values; ``_SKIP`` when Hydra builds part of it (a partial) or
    it does not resolve (the Module checks it when built)."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        value = OmegaConf.select(cfg, "module.optim", throw_on_missing=True)
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
    except OmegaConfBaseException:
        return _SKIP
    return _SKIP if _has_target(value) else value


def check_settings(cfg: DictConfig, file: str | Path) -> None:
    """Refuse the settings of a composed config that would fail once things are built.

    Raises:
        spt._hydra.ConfigError: For ``trainer.strategy`` FSDP1 or a ``module.optim`` spec that
            cannot build, naming the file and the key.
    """
    from spt._hydra import ConfigError
    from spt_module.fsdp import reject_fsdp1
    from spt_optim import validate_optim

    strategy = OmegaConf.select(
        cfg, "trainer.strategy", throw_on_missing=False, throw_on_resolution_failure=False
    )
    if isinstance(strategy, DictConfig):
        strategy = _target(cfg, "trainer.strategy")
    try:
        reject_fsdp1(strategy, where=f"{file}: trainer.strategy")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    module = cfg.get("module")
    if not isinstance(module, DictConfig) or "optim" not in module:
        return
    if not _builds_a_module(_target(cfg, "module")):
        return
    optim = _plain_optim(cfg)
    if optim is _SKIP:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Module warns about quoted numbers when built
        try:
            validate_optim(optim)
        except (TypeError, ValueError) as exc:
            text = str(exc)
            where = f"module.{text}" if text.startswith("optim") else f"module.optim: {text}"
            raise ConfigError(f"{file}: {where}") from None


def check_command_line(config: Path, args: Sequence[str], file: str) -> str | None:
    """The first problem of ``config`` with the overrides in ``args``, or None.

    Args:
        config: The YAML file.
        args: The arguments after it (overrides and Hydra flags).
        file: The file as the user wrote it, for messages.
    """
    from spt._hydra import ConfigError, compose_config

    overrides = key_overrides(args)
    if overrides is None:
        return None
    keys = {o.text for o in overrides}
    others = [
        a
        for a in args
        if "=" in a and not a.startswith(("-", "hydra.")) and a not in keys and "," not in a
    ]
    composed = [c for c in (composable(o) for o in overrides) if c is not None]
    try:
        cfg = compose_config(config, [*others, *composed])
    except Exception:  # Hydra reports what does not compose, in its own words
        return None
    message = check_override_keys(cfg, overrides)
    if message is not None:
        return f"{file}: {message}"
    if any(a in _MULTIRUN for a in args) or any(o.sweeps for o in overrides):
        return None  # each job is checked by run_config
    try:
        check_settings(cfg, file)
    except ConfigError as exc:
        return str(exc)
    return None
