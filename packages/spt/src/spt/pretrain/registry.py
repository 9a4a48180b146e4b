"""Encoders and objectives by name: a builder function registered with a decorator.

A config section ``{"name": ..., **params}`` selects a builder by ``name`` and calls it with
``params`` as keyword arguments; the builder's signature is the list of accepted parameters.

Examples:
    >>> from torch import nn
    >>> from spt.pretrain import encoder_names, register_encoder
    >>> @register_encoder("doc_linear", overwrite=True)
    ... def linear_encoder(d_input: int, d_model: int = 32) -> nn.Module:
    ...     return nn.Linear(d_input, d_model)
    >>> "doc_linear" in encoder_names()
    True
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "ENCODERS",
    "OBJECTIVES",
    "Registry",
    "encoder_names",
    "objective_names",
    "register_encoder",
    "register_objective",
]

B = TypeVar("B", bound=Callable[..., Any])


class Registry:
    """Names mapped to builders; ``build(section, *args)`` checks the section's parameters.

    Args:
        section: the config section that names a builder (``"encoder"``, ``"ssl"``).
        decorator: the name of the registering decorator, for error messages.
        leading: positional arguments the module passes before the parameters (an
            objective builder receives the encoder first).
    """

    def __init__(self, section: str, decorator: str, leading: int = 0) -> None:
        self.section = section
        self.decorator = decorator
        self.leading = leading
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, *, overwrite: bool = False) -> Callable[[B], B]:
        """Return a decorator that registers a builder (a function or a class) under ``name``.

        Raises:
            ValueError: when ``name`` is taken by another builder and ``overwrite`` is False.
        """

        def decorator(builder: B) -> B:
            taken = self._builders.get(name)
            if taken is not None and taken is not builder and not overwrite:
                raise ValueError(
                    f"{self.section} name {name!r} is already registered to "
                    f"{taken.__qualname__}; pick another name or pass overwrite=True"
                )
            self._builders[name] = builder
            return builder

        return decorator

    def get(self, name: str) -> Callable[..., Any]:
        """The builder registered under ``name``.

        Raises:
            ValueError: for an unknown name; the message lists the registered names.
        """
        if name not in self._builders:
            raise ValueError(
                f"unknown {self.section}.name={name!r}; registered: "
                f"{', '.join(self.names()) or 'none'}. Register yours with "
                f"@{self.decorator}(name)"
            )
        return self._builders[name]

    def build(self, section: Mapping[str, Any], *args: Any) -> Any:
        """Call the builder ``section["name"]`` selects with ``*args`` and the other keys.

        Raises:
            ValueError: unknown name, a parameter the builder does not accept (named, with the
                accepted ones) or a required parameter missing.
        """
        name = str(section.get("name", ""))
        builder = self.get(name)
        params = {k: v for k, v in section.items() if k != "name"}
        accepted = list(inspect.signature(builder).parameters.values())[self.leading :]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted):
            names = [p.name for p in accepted]
            unknown = [k for k in params if k not in names]
            if unknown:
                raise ValueError(
                    f"{self.section} {name!r} does not accept parameter(s) "
                    f"{', '.join(repr(k) for k in unknown)}; accepted parameters: "
                    f"{', '.join(['name', *names])}"
                )
        missing = [
            p.name
            for p in accepted
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            and p.name not in params
        ]
        if missing:
            raise ValueError(
                f"{self.section} {name!r} needs parameter(s) {', '.join(missing)}; set them in "
                f"the config, e.g. {self.section}.{missing[0]}=..."
            )
        return builder(*args, **params)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no error when absent); mostly for tests."""
        self._builders.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders


ENCODERS = Registry("encoder", "register_encoder")
OBJECTIVES = Registry("ssl", "register_objective", leading=1)


def register_encoder(name: str, *, overwrite: bool = False) -> Callable[[B], B]:
    """Register an encoder builder under ``name`` (the ``encoder.name`` that selects it).

    The builder takes the section's parameters as keyword arguments (``d_input``, the number
    of channels, among them) and returns an encoder with the interface of
    :class:`spt.backbone.TimeSeriesTransformer`: ``tokens(x, mask, hidden)``, ``forward(x,
    mask)``, ``n_channels`` and ``embed_dim``.
    """
    return ENCODERS.register(name, overwrite=overwrite)


def register_objective(name: str, *, overwrite: bool = False) -> Callable[[B], B]:
    """Register an objective builder under ``name`` (the ``ssl.name`` that selects it).

    The builder is called as ``builder(encoder, **params)`` and returns an
    :class:`spt.pretrain.Objective`: a forward function and the components it reads.
    """
    return OBJECTIVES.register(name, overwrite=overwrite)


def encoder_names() -> list[str]:
    """Names of the registered encoders."""
    return ENCODERS.names()


def objective_names() -> list[str]:
    """Names of the registered SSL objectives."""
    return OBJECTIVES.names()
