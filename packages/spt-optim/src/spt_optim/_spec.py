"""Resolve the four spec forms (name, dict, ``functools.partial``, class) to a factory."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ResolvedSpec", "closest_name", "resolve_spec"]


@dataclass(frozen=True)
class ResolvedSpec:
    """A spec turned into something callable.

    Attributes:
        factory: The class or callable that builds the object.
        name: The class name, used in messages and in the routing report.
        given: Keyword arguments the user wrote (a dict spec's keys, a partial's keywords).
        is_partial: True when ``factory`` is the user's partial, which already holds ``given``.
    """

    factory: Callable[..., Any]
    name: str
    given: dict[str, Any] = field(default_factory=dict)
    is_partial: bool = False

    @property
    def target(self) -> Any:
        """The underlying class (or function) with partials unwrapped."""
        target: Any = self.factory
        while isinstance(target, functools.partial):
            target = target.func
        return target

    def is_a(self, cls: type) -> bool:
        """Whether the target is ``cls`` or a subclass of it."""
        return inspect.isclass(self.target) and issubclass(self.target, cls)

    def call(self, first: Any, extra: Mapping[str, Any]) -> Any:
        """Call the factory with ``first`` and the given kwargs updated by ``extra``."""
        if self.is_partial:
            return self.factory(first, **extra)
        return self.factory(first, **{**self.given, **extra})


def closest_name(name: str, valid: list[str]) -> str | None:
    """The valid name closest to ``name`` (case-insensitive), or None when none is close."""
    lowered = {v.lower(): v for v in valid}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    return lowered[match[0]] if match else None


def _lookup(name: str, kind: str, registry: Mapping[str, Callable[..., Any]]) -> Callable[..., Any]:
    if name in registry:
        return registry[name]
    folded = [k for k in registry if k.lower() == name.lower()]
    if len(folded) == 1:
        return registry[folded[0]]
    valid = sorted(registry)
    hint = closest_name(name, valid)
    did_you_mean = f"did you mean '{hint}'? " if hint else ""
    raise ValueError(
        f"{kind} {name!r} is not a known {kind}; {did_you_mean}valid names are: {', '.join(valid)}"
    )


def resolve_spec(spec: Any, kind: str, registry: Mapping[str, Callable[..., Any]]) -> ResolvedSpec:
    """Resolve a spec in one of the four forms.

    Args:
        spec: A name (``"AdamW"``), a dict with ``"type"`` and keyword arguments, a
            ``functools.partial`` or a class (any callable).
        kind: ``"optimizer"`` or ``"scheduler"``, used in error messages.
        registry: Name -> class for names (torch first, then spt_optim).

    Returns:
        The resolved spec.

    Raises:
        ValueError: For an unknown name (with the closest valid one) or a dict without "type".
        TypeError: For a spec of another type.

    Examples:
        >>> import torch
        >>> resolve_spec({"type": "SGD", "lr": 0.1}, "optimizer", {"SGD": torch.optim.SGD}).given
        {'lr': 0.1}
    """
    if isinstance(spec, str):
        factory = _lookup(spec, kind, registry)
        return ResolvedSpec(factory, getattr(factory, "__name__", spec))
    if isinstance(spec, Mapping):
        if "type" not in spec:
            raise ValueError(
                f"{kind} spec {dict(spec)!r} has no 'type' key; write it as "
                f'{{"type": "<name>", ...kwargs}}, e.g. {{"type": "AdamW", "lr": 1e-3}}'
            )
        given = {str(k): v for k, v in spec.items() if k != "type"}
        inner = resolve_spec(spec["type"], kind, registry)
        if inner.is_partial:
            merged = functools.partial(inner.factory, **given)
            return ResolvedSpec(merged, inner.name, {**inner.given, **given}, is_partial=True)
        return ResolvedSpec(inner.factory, inner.name, given)
    if isinstance(spec, functools.partial):
        target: Any = spec
        while isinstance(target, functools.partial):
            target = target.func
        name = getattr(target, "__name__", type(target).__name__)
        return ResolvedSpec(spec, name, dict(spec.keywords), is_partial=True)
    if callable(spec):
        return ResolvedSpec(spec, getattr(spec, "__name__", type(spec).__name__))
    raise TypeError(
        f"{kind} spec must be a name, a dict with 'type', a functools.partial or a class; "
        f"got {type(spec).__name__}: {spec!r}"
    )
