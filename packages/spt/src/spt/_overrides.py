"""Overrides of keys that their section does not take, refused before anything is built.

For ``trainer.max_epoch=3`` Hydra advises ``+trainer.max_epoch=3``, which composes and then
fails when the Trainer is built, after the module and the data. Here an override
``[+|++]a.b.key=value`` whose section ``a.b`` has a ``_target_`` is checked against the
signature of that target: a key it does not take is refused with the closest names
(``difflib``), e.g. ``trainer.max_epoch: lightning.Trainer takes no argument 'max_epoch'; did
you mean max_epochs?``. A target that takes ``**kwargs`` accepts any key; the ``manager``
section takes the Manager settings (:data:`spt._hydra.MANAGER_KEYS`).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = ["KeyOverride", "accepted_keys", "check_override_keys", "composable", "key_overrides"]

# Keys Hydra reads itself in every ``_target_`` section.
HYDRA_KEYS = frozenset({"_target_", "_args_", "_partial_", "_convert_", "_recursive_"})


@dataclass(frozen=True)
class KeyOverride:
    """One command-line override of a config key (not of a config group).

    Attributes:
        key: The dotted key, ``"trainer.max_epoch"``.
        text: The override as typed, ``"+trainer.max_epoch=3"``.
        deletes: Whether it removes the key (``~key``).
        sweeps: Whether its value is a sweep (``key=1,2``, for ``-m``).
    """

    key: str
    text: str
    deletes: bool = False
    sweeps: bool = False


def key_overrides(args: Sequence[str]) -> list[KeyOverride] | None:
    """The overrides among ``args`` that set dotted config keys; None when Hydra cannot parse them.

    Group selections (``db=mysql``, ``group@pkg=x``), top-level keys and ``hydra.*`` are left
    out: they are not arguments of a ``_target_``.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException

    plain = [a for a in args if ("=" in a and not a.startswith("-")) or a.startswith("~")]
    try:
        parsed = OverridesParser.create().parse_overrides(plain)
    except HydraException:
        return None  # Hydra reports the syntax error itself
    found = []
    for override, text in zip(parsed, plain, strict=True):
        key = override.key_or_group
        if "." not in key or override.package is not None or key.startswith("hydra."):
            continue
        deletes = override.type is OverrideType.DEL
        found.append(KeyOverride(key, text, deletes, override.is_sweep_override()))
    return found


def composable(override: KeyOverride) -> str | None:
    """``override`` in the form that composes whether or not its key exists: ``++key=value``.

    None for a sweep or a deletion (left out of the config that is checked).
    """
    if override.sweeps or override.deletes:
        return None
    return "++" + override.text.lstrip("+")


def accepted_keys(target: Any) -> list[str] | None:
    """The keyword arguments ``target`` takes; None when it takes any (``**kwargs``) or its
    signature cannot be read."""
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [name for name, p in parameters.items() if p.kind in keyword]


def _closest(key: str, valid: Sequence[str]) -> str:
    matches = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    if matches:
        return f"did you mean {matches[0]}?"
    return f"it takes: {', '.join(valid)}"


def _section(cfg: DictConfig, key: str) -> Any:
    if not key:
        return cfg
    return OmegaConf.select(cfg, key, throw_on_missing=False, throw_on_resolution_failure=False)


def _refusal(cfg: DictConfig, override: KeyOverride) -> str | None:
    from spt._hydra import MANAGER_KEYS, _locate

    parent, _, leaf = override.key.rpartition(".")
    if leaf in HYDRA_KEYS:
        return None
    if parent == "manager":
        if leaf in MANAGER_KEYS:
            return None
        return (
            f"unknown key 'manager.{leaf}' in {override.text!r}; {_closest(leaf, MANAGER_KEYS)} "
            f"(the Manager settings are: {', '.join(MANAGER_KEYS)})"
        )
    section = _section(cfg, parent)
    if not isinstance(section, DictConfig) or "_target_" not in section:
        return None
    target = section._get_node("_target_")._value()  # type: ignore[union-attr]
    if not isinstance(target, str) or "${" in target:
        return None
    try:
        valid = accepted_keys(_locate(target))
    except (ImportError, AttributeError):
        return None  # an unknown _target_ is named by spt._hydra.check_targets
    if valid is None or leaf in valid:
        return None
    return f"{override.key}: {target} takes no argument {leaf!r}; {_closest(leaf, valid)}"


def check_override_keys(cfg: DictConfig, overrides: Sequence[KeyOverride]) -> str | None:
    """The first override of a key its section's ``_target_`` does not take, as a message.

    Args:
        cfg: The config composed with the overrides (see :func:`composable`).
        overrides: The key overrides of the command line (:func:`key_overrides`).

    Returns:
        ``"trainer.max_epoch: lightning.Trainer takes no argument 'max_epoch'; did you mean
        max_epochs?"``, or None when every key is taken.
    """
    for override in overrides:
        if override.deletes:
            continue
        message = _refusal(cfg, override)
        if message is not None:
            return message
    return None
