"""What every callback of this package shares: a name, a state key and early-arriving state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from spt_callbacks._lightning import callback_state_key

__all__ = ["HeldState", "NamedCallback"]


class NamedCallback(Callback):
    """A callback with a name: the prefix of what it logs and part of its ``state_key``.

    Two callbacks of one class with different names keep separate checkpoint states, as
    Lightning's ``EarlyStopping`` does with its monitor. Subclasses keep their own hooks,
    ``state_dict`` and ``load_state_dict``; what they build late holds its restored state in
    a :class:`HeldState`.

    Args:
        name: Name of the callback.

    Raises:
        ValueError: If ``name`` is not a non-empty string.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"{type(self).__name__}: name must be a non-empty string, got {name!r}"
            )
        self.name = name

    @property
    def _owner(self) -> str:
        """How error messages name this callback, e.g. ``OnlineKNN 'knn'``."""
        return f"{type(self).__name__} {self.name!r}"

    @property
    @override
    def state_key(self) -> str:
        # Lightning reads it for every hook it calls (its profiler's action name), so the
        # string is built once per name, not on every hook of every step.
        cached: tuple[str, str] | None = getattr(self, "_state_key_of_name", None)
        if cached is None or cached[0] != self.name:
            cached = (self.name, callback_state_key(self, name=self.name))
            self._state_key_of_name = cached
        return cached[1]


class HeldState:
    """Checkpoint state kept until the objects it restores are built.

    Lightning restores callback states after ``setup`` and before ``on_fit_start`` (after it
    under strategies that restore late), and a user may call ``load_state_dict`` before
    either; callbacks build some objects later than that (queues in ``setup``, a probe's
    optimizer in ``on_fit_start``). Each part of the state is named like the object it
    restores and waits here until :meth:`restore` finds that object built.

    Examples:
        >>> import torch
        >>> held = HeldState()
        >>> held.hold({"optimizer": {"state": {}, "param_groups": []}})
        >>> held.collect(optimizer=None)  # not built yet: the held part is what is saved
        {'optimizer': {'state': {}, 'param_groups': []}}
    """

    def __init__(self) -> None:
        self._parts: dict[str, Any] = {}

    def hold(self, parts: Mapping[str, Any]) -> None:
        """Keep ``parts`` (name to state dict) until their objects are built."""
        self._parts.update(parts)

    def restore(self, **targets: Any) -> None:
        """Load each held part into the object of its name, for the objects already built.

        Args:
            **targets: Name to object with ``load_state_dict``, or None while not built.
        """
        for key, target in targets.items():
            if target is not None and key in self._parts:
                target.load_state_dict(self._parts.pop(key))

    def collect(self, **targets: Any) -> dict[str, Any]:
        """The state of each named object: its ``state_dict()``, else the part still held.

        Args:
            **targets: Name to object with ``state_dict``, or None while not built.

        Returns:
            Name to state, without the names that have neither.
        """
        state: dict[str, Any] = {}
        for key, target in targets.items():
            if target is not None:
                state[key] = target.state_dict()
            elif key in self._parts:
                state[key] = self._parts[key]
        return state
