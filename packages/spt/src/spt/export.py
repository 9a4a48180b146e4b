"""Backbone weights on disk: write a trained network, find a run's weights, load them back.

:func:`save_backbone` writes the plain network's ``state_dict``: for a method whose backbone is
a :class:`spt.ema.TeacherStudent` (BYOL, DINO, MoCo, I-JEPA) that is the student, or the
teacher where the method's forward embeds with the teacher (I-JEPA's target encoder), so that
the file loads into a fresh backbone of the class the run was built from, and holds the
network whose embedding the online monitors measured.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "TEACHER_EVALUATED",
    "exported_network",
    "load_backbone",
    "resolve_weights",
    "save_backbone",
]

log = logging.getLogger("spt")

PARTS = ("student", "teacher")

TEACHER_EVALUATED = frozenset({"ijepa_forward", "ibot_forward", "dinov2_forward"})
"""Forward functions whose ``embedding`` (what callbacks and evaluation read) is the teacher's.

Every other forward embeds with the student (``TeacherStudent.forward``): BYOL, DINO, MoCo v2
and v3 as written in :mod:`spt.forward`. A test runs each method's forward and checks that the
exported network gives its embedding."""


def _is_pair(network: nn.Module) -> bool:
    from spt.ema import TeacherStudent

    return isinstance(network, TeacherStudent)


def _forward_name(module: nn.Module) -> str | None:
    forward = getattr(module, "_forward_fn", None)  # spt.Module keeps the function it was given
    return getattr(forward, "__name__", None)


def exported_network(
    module: nn.Module, attribute: str = "backbone", part: str | None = None
) -> tuple[nn.Module, str]:
    """The network :func:`save_backbone` writes, and a phrase saying which it is.

    Args:
        module: The trained module.
        attribute: The module attribute holding the backbone.
        part: For a ``TeacherStudent`` backbone, ``"student"`` or ``"teacher"``; None takes the
            one the module's forward embeds with (the teacher for those in
            :data:`TEACHER_EVALUATED`, else the student).

    Returns:
        ``(network, description)``.

    Raises:
        AttributeError: If the module has no such network.
        ValueError: For a ``part`` other than ``"student"`` or ``"teacher"``, or a ``part``
            given for a backbone that is not a ``TeacherStudent``.

    Examples:
        >>> import spt
        >>> net, which = exported_network(spt.Module(backbone=nn.Linear(2, 2)))
        >>> which
        'module.backbone (Linear)'
    """
    network = getattr(module, attribute, None)
    if not isinstance(network, nn.Module):
        raise AttributeError(
            f"save_backbone: the module has no network {attribute!r}; pass attribute=<name>"
        )
    if part is not None and part not in PARTS:
        raise ValueError(f"save_backbone: part={part!r}; use 'student', 'teacher' or None")
    if not _is_pair(network):
        if part is not None:
            raise ValueError(
                f"save_backbone: part={part!r}, but module.{attribute} is a "
                f"{type(network).__name__}, not a TeacherStudent; leave part=None"
            )
        return network, f"module.{attribute} ({type(network).__name__})"
    forward = _forward_name(module)
    if part is None:
        part = "teacher" if forward in TEACHER_EVALUATED else "student"
        reason = f", the network {forward} embeds with" if forward else ""
    else:
        reason = " (as asked)"
    chosen = getattr(network, part)
    description = (
        f"the {part} of module.{attribute} ({type(network).__name__} of "
        f"{type(chosen).__name__}){reason}"
    )
    return chosen, description


def save_backbone(
    module: nn.Module, path: str | Path, attribute: str = "backbone", part: str | None = None
) -> Path:
    """Write the backbone's plain ``state_dict`` to ``path`` (atomically), and log which it is.

    A ``TeacherStudent`` backbone is written as one of its networks (see
    :func:`exported_network`), so the file loads with ``strict=True`` into a fresh network of
    the class the backbone was built from: ``spt.load_backbone(network, path)`` (or
    ``network.load_state_dict(torch.load(path, weights_only=True))``).

    Args:
        module: The trained module.
        path: The file to write.
        attribute: The module attribute holding the backbone.
        part: ``"student"`` or ``"teacher"`` of a ``TeacherStudent`` backbone; None: the one
            the method embeds with.

    Returns:
        ``path``.

    Raises:
        AttributeError: If the module has no such attribute.
        ValueError: For a bad ``part`` (see :func:`exported_network`).
    """
    network, description = exported_network(module, attribute, part)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(network.state_dict(), tmp)
    os.replace(tmp, path)
    log.info(
        "spt: backbone weights written to %s: %s; load them with spt.load_backbone(network, "
        "path) into a fresh %s",
        path,
        description,
        type(network).__name__,
    )
    return path


def resolve_weights(path: str | Path) -> Path:
    """The weights file of ``path``: itself, or a run directory's ``backbone.pt`` (else its
    ``checkpoints/last.ckpt``).

    Raises:
        FileNotFoundError: Naming the path and what was looked for.
    """
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "backbone.pt", path / "checkpoints" / "last.ckpt"):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(
            f"load_backbone: the run directory {path} has neither backbone.pt nor "
            "checkpoints/last.ckpt; pass the weights file itself"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"load_backbone: {path} not found; pass a run directory, its backbone.pt, or a "
            "Lightning checkpoint"
        )
    return path


def _is_pair_state(state: Mapping[str, Any]) -> bool:
    """Whether ``state`` is a ``TeacherStudent``'s (``student.*``, ``teacher.*``)."""
    return any(k.startswith("student.") for k in state) and any(
        k.startswith("teacher.") for k in state
    )


def _one_part(state: Mapping[str, Any], part: str) -> dict[str, Any]:
    prefix = f"{part}."
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _fitted(
    network: nn.Module, state: dict[str, Any], part: str | None, file: Path
) -> dict[str, Any]:
    """``state`` in the form ``network`` takes: one side of a pair, or one network for both."""
    if _is_pair(network):
        if _is_pair_state(state):
            return state
        # one network's weights into a TeacherStudent: both sides start from them, as
        # TeacherStudent(network) starts its teacher as a copy of the student
        full = dict(network.state_dict())
        full.update({f"student.{k}": v for k, v in state.items()})
        full.update({f"teacher.{k}": v for k, v in state.items()})
        return full
    if _is_pair_state(state):
        chosen = part or "student"
        log.info("spt: load_backbone: %s holds a TeacherStudent; loading its %s", file, chosen)
        return _one_part(state, chosen)
    return state


def load_backbone(
    network: nn.Module,
    path: str | Path,
    strict: bool = True,
    attribute: str = "backbone",
    part: str | None = None,
) -> nn.Module:
    """Load weights written by :func:`save_backbone`, or a checkpoint's ``backbone.*`` entries.

    Args:
        network: The freshly built backbone: a plain network, or a ``TeacherStudent`` (a plain
            network's weights then go to both its student and its teacher).
        path: ``backbone.pt``, a Lightning checkpoint (its ``<attribute>.*`` entries), or a run
            directory (its ``backbone.pt``, else ``checkpoints/last.ckpt``).
        strict: Require the keys to match exactly.
        attribute: The module attribute the backbone had in a checkpoint.
        part: When the weights hold a ``TeacherStudent`` (a checkpoint of BYOL, DINO, ...) and
            ``network`` is plain: ``"student"`` (None) or ``"teacher"`` (I-JEPA's target
            encoder, which its ``backbone.pt`` holds).

    Returns:
        ``network``, with the weights loaded.

    Raises:
        ValueError: With ``strict``, when the keys do not fit ``network``: the message lists the
            missing and the unexpected keys. Also for a ``part`` other than the two.

    Examples:
        >>> import tempfile, spt
        >>> trained = spt.Module(backbone=nn.Linear(3, 2))
        >>> path = save_backbone(trained, Path(tempfile.mkdtemp()) / "backbone.pt")
        >>> fresh = load_backbone(nn.Linear(3, 2), path)
        >>> torch.equal(fresh.weight, trained.backbone.weight)
        True
    """
    if part is not None and part not in PARTS:
        raise ValueError(f"load_backbone: part={part!r}; use 'student', 'teacher' or None")
    file = resolve_weights(path)
    state = torch.load(file, map_location="cpu", weights_only=True)
    if "state_dict" in state:  # a Lightning checkpoint: keep the backbone's entries
        every = state["state_dict"]
        state = _one_part(every, attribute)
        if not state:
            roots = sorted({k.split(".")[0] for k in every})
            raise ValueError(
                f"load_backbone: the checkpoint {file} has no '{attribute}.*' entries; its "
                f"modules are {roots}; pass attribute=<one of them>"
            )
    state = _fitted(network, state, part, file)
    expected = set(network.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if strict and (missing or unexpected):
        raise ValueError(
            f"load_backbone: the weights in {file} do not fit the {type(network).__name__} "
            f"built from the config: missing keys {_listed(missing)}, unexpected keys "
            f"{_listed(unexpected)}; build the backbone the run trained (same class and sizes)"
        )
    network.load_state_dict(state, strict=strict)
    return network


def _listed(keys: list[str], most: int = 10) -> str:
    shown = ", ".join(keys[:most]) or "none"
    return f"[{shown}{f', ... ({len(keys)} in all)' if len(keys) > most else ''}]"
