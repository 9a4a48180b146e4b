"""Backbone weights on disk: write a trained network, find a run's weights, load them back."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

__all__ = ["load_backbone", "resolve_weights", "save_backbone"]


def save_backbone(module: nn.Module, path: str | Path, attribute: str = "backbone") -> Path:
    """Write ``module.<attribute>``'s ``state_dict`` to ``path`` (atomically).

    Load it into a fresh network with :func:`load_backbone` (``torch.load(weights_only=True)``).

    Raises:
        AttributeError: If the module has no such attribute.
    """
    network = getattr(module, attribute, None)
    if not isinstance(network, nn.Module):
        raise AttributeError(
            f"save_backbone: the module has no network {attribute!r}; pass attribute=<name>"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(network.state_dict(), tmp)
    os.replace(tmp, path)
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


def load_backbone(
    network: nn.Module, path: str | Path, strict: bool = True, attribute: str = "backbone"
) -> nn.Module:
    """Load weights written by :func:`save_backbone`, or a checkpoint's ``backbone.*`` entries.

    Args:
        network: The freshly built backbone.
        path: ``backbone.pt``, a Lightning checkpoint (its ``<attribute>.*`` entries), or a run
            directory (its ``backbone.pt``, else ``checkpoints/last.ckpt``).
        strict: Require the keys to match exactly.
        attribute: The module attribute the backbone had in a checkpoint.

    Returns:
        ``network``, with the weights loaded.

    Raises:
        ValueError: With ``strict``, when the keys do not fit ``network``: the message lists the
            missing and the unexpected keys.
    """
    file = resolve_weights(path)
    state = torch.load(file, map_location="cpu", weights_only=True)
    if "state_dict" in state:  # a Lightning checkpoint: keep the backbone's entries
        prefix = f"{attribute}."
        every = state["state_dict"]
        state = {k[len(prefix) :]: v for k, v in every.items() if k.startswith(prefix)}
        if not state:
            roots = sorted({k.split(".")[0] for k in every})
            raise ValueError(
                f"load_backbone: the checkpoint {file} has no '{prefix}*' entries; its modules "
                f"are {roots}; pass attribute=<one of them>"
            )
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
