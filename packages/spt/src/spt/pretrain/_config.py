"""Normalise a pretraining config (dict, dataclass or OmegaConf) into plain dicts."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any

REQUIRED_SECTIONS = ("encoder", "ssl", "optimizer")
OPTIONAL_SECTIONS = ("scheduler",)
IMPORTS_KEY = "imports"

__all__ = ["IMPORTS_KEY", "import_components", "normalize_config", "to_plain"]


def to_plain(config: Any) -> Any:
    """Convert a dict, a dataclass or an OmegaConf node (recursively) into plain Python containers.

    Args:
        config: a mapping, a dataclass instance, an OmegaConf ``DictConfig``/``ListConfig``,
            a list or a scalar.

    Returns:
        The same content as dicts, lists and scalars (OmegaConf interpolations resolved).
    """
    if type(config).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(config, resolve=True)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_plain(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_plain(v) for v in config]
    return config


def normalize_config(config: Any) -> dict[str, Any]:
    """Check the sections of an ``SSLPretrainModule`` config and return it as a plain dict.

    Args:
        config: dict, dataclass or OmegaConf object with sections ``encoder``, ``ssl``,
            ``optimizer`` and optionally ``scheduler``; each of the first three needs a ``name``.
            An optional ``imports`` key lists modules to import first (see
            ``import_components``).

    Returns:
        A plain dict copy of the config.

    Raises:
        ValueError: when the config is not a mapping, a required section is missing or a section
            has no ``name``.
    """
    plain = to_plain(config)
    if not isinstance(plain, dict):
        raise ValueError(
            f"SSLPretrainModule config must be a dict, a dataclass or an OmegaConf DictConfig, "
            f"got {type(config).__name__}"
        )
    for section in REQUIRED_SECTIONS:
        if plain.get(section) is None:
            raise ValueError(
                f"SSLPretrainModule config has no '{section}' section; it needs sections "
                f"{', '.join(REQUIRED_SECTIONS)} (and optionally 'scheduler'); "
                f"got sections: {', '.join(sorted(plain)) or 'none'}"
            )
    for section in (*REQUIRED_SECTIONS, *OPTIONAL_SECTIONS):
        value = plain.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise ValueError(
                f"config section '{section}' must be a mapping with a 'name' key, got {value!r}"
            )
        if not value.get("name"):
            raise ValueError(
                f"config section '{section}' has no 'name'; add e.g. {section}.name=... "
                f"(keys given: {', '.join(sorted(value)) or 'none'})"
            )
    return plain


def import_components(names: Any) -> None:
    """Import the modules listed under the config's ``imports`` key.

    A user's encoder or objective registers itself when its module is imported, so a config
    run by the ``spt`` command can name it without any edit to spt: ``imports: [my_pkg.conv]``
    beside ``encoder: {name: my_conv, ...}``.

    Args:
        names: None, one dotted module name, or a list of them.

    Raises:
        ValueError: when ``names`` is not a string or a list of strings, or a module cannot be
            imported (named, with the import error).
    """
    if names is None:
        return
    listed = [names] if isinstance(names, str) else names
    if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
        raise ValueError(
            f"config key '{IMPORTS_KEY}' must be a module name or a list of them, got {names!r}"
        )
    for name in listed:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ValueError(
                f"config {IMPORTS_KEY}: cannot import {name!r} ({err}); check the name and "
                f"that its folder is on PYTHONPATH"
            ) from err
