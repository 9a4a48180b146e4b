"""Offline evaluation of a saved backbone: kNN, linear and fine-tuning, with fixed protocols.

Each protocol extracts features once with ``Trainer.predict`` (every sample once, also under
DDP), prints a table, writes ``<run_dir>/eval/<protocol>.json`` and logs its metrics. The
protocols, their grids and defaults are in ``docs/evaluation.md``; the command is
``spt eval knn|linear|finetune CONFIG.yaml``. The names load on first use.

Examples:
    >>> import spt
    >>> spt.eval.DEFAULT_K
    (10, 20, 100, 200)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spt.eval._command import PROTOCOLS, main, run
    from spt.eval._features import IndexedDataset, extract_features
    from spt.eval._finetune import finetune_optim, finetune_scores
    from spt.eval._gather import Features, deduplicate, gather_features
    from spt.eval._knn import DEFAULT_K, knn_scores
    from spt.eval._linear import DEFAULT_LRS, DEFAULT_WEIGHT_DECAYS, fit_linear, linear_scores
    from spt.eval._protocols import extract, finetune, knn, linear

_NAMES = {
    "_command": ("PROTOCOLS", "main", "run"),
    "_features": ("IndexedDataset", "extract_features"),
    "_finetune": ("finetune_optim", "finetune_scores"),
    "_gather": ("Features", "deduplicate", "gather_features"),
    "_knn": ("DEFAULT_K", "knn_scores"),
    "_linear": ("DEFAULT_LRS", "DEFAULT_WEIGHT_DECAYS", "fit_linear", "linear_scores"),
    "_protocols": ("extract", "finetune", "knn", "linear"),
}
_WHERE = {name: module for module, names in _NAMES.items() for name in names}

__all__ = [
    "DEFAULT_K",
    "DEFAULT_LRS",
    "DEFAULT_WEIGHT_DECAYS",
    "PROTOCOLS",
    "Features",
    "IndexedDataset",
    "deduplicate",
    "extract",
    "extract_features",
    "finetune",
    "finetune_optim",
    "finetune_scores",
    "fit_linear",
    "gather_features",
    "knn",
    "knn_scores",
    "linear",
    "linear_scores",
    "main",
    "run",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"spt.eval.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spt.eval' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
