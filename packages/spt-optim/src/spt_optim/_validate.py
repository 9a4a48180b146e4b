"""Check an ``optim`` spec when the module is built, before any parameter or data exists."""

from __future__ import annotations

import difflib
import inspect
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from spt_optim._config import parse_optim
from spt_optim._registry import optimizer_registry
from spt_optim._spec import resolve_spec
from spt_optim.schedulers import resolve_scheduler

__all__ = ["QuotedNumberWarning", "validate_optim"]

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
# Values that are names, patterns or modes: a string there is meant as a string.
_TEXT_KEYS = frozenset({"type", "name", "modules", "monitor", "interval", "unmatched"})


class QuotedNumberWarning(UserWarning):
    """A string of the ``optim`` spec that reads as a number was taken as that number."""


def _as_number(text: str) -> int | float | None:
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped):
        return None
    return int(stripped) if _INTEGER.fullmatch(stripped) else float(stripped)


def _numbers_unquoted(value: Any, where: str, key: str | None, converted: list[str]) -> Any:
    """A copy of ``value`` with numeric strings as numbers (each one described in ``converted``)."""
    if isinstance(value, Mapping):
        return {
            k: _numbers_unquoted(v, f"{where}.{k}", str(k), converted) for k, v in value.items()
        }
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = [_numbers_unquoted(v, f"{where}[{i}]", key, converted) for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, str) and key is not None and key not in _TEXT_KEYS:
        number = _as_number(value)
        if number is not None:
            converted.append(
                f"{where}: the string {value!r} is read as the number {number!r} (YAML and "
                "Hydra read a quoted number as a string); write it without quotes"
            )
            return number
    return value


def _close(name: str, valid: list[str]) -> str:
    matches = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if matches:
        return f"did you mean {matches[0]}?"
    return f"its arguments are: {', '.join(valid)}"


def _check_arguments(
    where: str, kind: str, name: str, target: Any, given: Mapping[str, Any], first: str
) -> None:
    """The keyword arguments of a spec against its class's signature."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # a builtin or an object without a readable signature
        return
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    valid = [
        n
        for n, p in parameters.items()
        if n != first
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    for key, value in given.items():
        if key not in valid:
            raise ValueError(
                f"{where}: {kind} {name} takes no argument {key!r}; {_close(key, valid)}"
            )
        default = parameters[key].default
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and isinstance(value, str):
            raise ValueError(
                f"{where}: {kind} {name} argument {key!r} must be a number, got the string "
                f"{value!r}; write {key}: <number>, e.g. {key}: {default!r}"
            )


def _first_parameter(target: Any) -> str:
    try:
        names = list(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return ""
    return names[0] if names else ""


def _check_spec(where: str, kind: str, spec: Any) -> None:
    try:
        if kind == "scheduler":
            resolved, _ = resolve_scheduler(spec)  # the Lightning keys (interval, ...) taken out
        else:
            resolved = resolve_spec(spec, kind, optimizer_registry())
    except ValueError as err:  # an unknown name: say where it is
        raise ValueError(f"{where}: {err}") from None
    target = resolved.target
    if inspect.isclass(target) or inspect.isfunction(target):
        _check_arguments(
            where, kind, resolved.name, target, resolved.given, _first_parameter(target)
        )


def validate_optim(optim: Any) -> Any:
    """Check an ``optim`` spec without building anything; quoted numbers become numbers.

    What :func:`spt_optim.build_optimizers` would refuse once the model and the Trainer exist
    is refused here, from the spec alone: its form and keys, every optimizer and scheduler
    name (an unknown one names the closest), and the keyword arguments of each dict or
    partial spec against the class's signature (an unknown one names the closest). A string
    that reads as a number, such as ``"1e-3"`` (what YAML and Hydra give for a quoted
    number), is taken as that number, with a :class:`QuotedNumberWarning` naming the key;
    strings under ``type``, ``name``, ``modules``, ``monitor``, ``interval`` and
    ``unmatched`` stay strings.

    Args:
        optim: A spec of :func:`spt_optim.build_optimizers` (None, False, an optimizer spec,
            a single- or a multi-optimizer dict).

    Returns:
        The spec, with numeric strings as numbers (dicts and lists are copies; the given
        spec is not changed).

    Raises:
        ValueError: For an unknown name or keyword argument, a string where the class takes a
            number, or a malformed spec; the message names the entry, the key and the fix.
        TypeError: For a spec of a type that names no optimizer or scheduler.

    Examples:
        >>> validate_optim({"optimizer": {"type": "SGD", "lr": 0.1}})
        {'optimizer': {'type': 'SGD', 'lr': 0.1}}
        >>> validate_optim({"optimizer": {"type": "AdamW", "lrr": 0.1}})
        Traceback (most recent call last):
        ...
        ValueError: optim entry 'default': optimizer AdamW takes no argument 'lrr'; did you mean lr?
    """
    if isinstance(optim, (Mapping, list, tuple)):
        converted: list[str] = []
        optim = _numbers_unquoted(optim, "optim", None, converted)
        for message in converted:
            warnings.warn(message, QuotedNumberWarning, stacklevel=2)
    try:
        configs, _ = parse_optim(optim)
    except ValueError as err:
        raise ValueError(str(err) if str(err).startswith("optim") else f"optim: {err}") from None
    for config in configs:
        where = f"optim entry {config.name!r}"
        _check_spec(where, "optimizer", config.optimizer)
        if config.scheduler is not None:
            _check_spec(where, "scheduler", config.scheduler)
    return optim
