"""Name registries for encoders and SSL objectives, filled with decorators.

Examples:
    >>> import dataclasses
    >>> from torch import nn
    >>> from spt.pretrain import BaseEncoder, EncoderConfig, encoder_names, register_encoder
    >>> @dataclasses.dataclass
    ... class MLPEncoderConfig(EncoderConfig):
    ...     hidden: int = 32
    >>> @register_encoder("doc_mlp", MLPEncoderConfig, overwrite=True)
    ... class MLPEncoder(BaseEncoder):
    ...     def __init__(self, config):
    ...         super().__init__(config)
    ...         self.net = nn.Linear(config.d_input, config.d_model)
    ...     def forward(self, x, mask=None, padding_mask=None):
    ...         return self.net(x)
    >>> "doc_mlp" in encoder_names()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """A mapping from a name to a component class and its config dataclass.

    Args:
        kind: what the registry holds, used in errors (``"encoder"``, ``"ssl objective"``).
        section: the config section that names a component (``"encoder"``, ``"ssl"``).
    """

    def __init__(self, kind: str, section: str) -> None:
        self.kind = kind
        self.section = section
        self._entries: dict[str, tuple[T, type]] = {}

    def register(self, name: str, config_cls: type, *, overwrite: bool = False) -> Callable[[T], T]:
        """Return a class decorator that registers the class under ``name`` with ``config_cls``.

        Args:
            name: the value of ``<section>.name`` in a config that selects this class.
            config_cls: a dataclass with one field per accepted parameter (``name`` included).
            overwrite: replace an existing registration of the same name instead of failing.

        Raises:
            ValueError: when ``name`` is taken and ``overwrite`` is False, or ``config_cls`` is
                not a dataclass.
        """
        import dataclasses

        if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
            raise ValueError(
                f"register {self.kind} {name!r}: config_cls must be a dataclass type, "
                f"got {config_cls!r}"
            )

        def decorator(cls: T) -> T:
            if name in self._entries and not overwrite and self._entries[name][0] is not cls:
                raise ValueError(
                    f"{self.kind} name {name!r} is already registered to "
                    f"{self._entries[name][0].__qualname__}; pick another name or pass "
                    f"overwrite=True"
                )
            self._entries[name] = (cls, config_cls)
            return cls

        return decorator

    def get(self, name: str) -> tuple[T, type]:
        """Return ``(class, config_cls)`` registered under ``name``.

        Raises:
            ValueError: for an unknown name; the message lists the registered names.
        """
        if name not in self._entries:
            raise ValueError(
                f"unknown {self.kind} {self.section}.name={name!r}; registered: "
                f"{', '.join(sorted(self._entries)) or 'none'}. Register yours with "
                f"@register_{self.section if self.section == 'encoder' else 'objective'}"
                f"(name, ConfigDataclass)"
            )
        return self._entries[name]

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no error when absent); mostly for tests."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


ENCODERS: Registry[Any] = Registry("encoder", "encoder")
OBJECTIVES: Registry[Any] = Registry("ssl objective", "ssl")


def register_encoder(name: str, config_cls: type, *, overwrite: bool = False) -> Callable[[T], T]:
    """Register an encoder class (a ``BaseEncoder``) under ``name`` with its config dataclass.

    Args:
        name: the ``encoder.name`` that selects it.
        config_cls: dataclass of its parameters (subclass of ``EncoderConfig``).
        overwrite: replace an existing registration.
    """
    return ENCODERS.register(name, config_cls, overwrite=overwrite)


def register_objective(name: str, config_cls: type, *, overwrite: bool = False) -> Callable[[T], T]:
    """Register an SSL objective class (a ``BaseSSLObjective``) under ``name``.

    Args:
        name: the ``ssl.name`` that selects it.
        config_cls: dataclass of its parameters (subclass of ``SSLConfig``).
        overwrite: replace an existing registration.
    """
    return OBJECTIVES.register(name, config_cls, overwrite=overwrite)


def encoder_names() -> list[str]:
    """Names of the registered encoders."""
    return ENCODERS.names()


def objective_names() -> list[str]:
    """Names of the registered SSL objectives."""
    return OBJECTIVES.names()
