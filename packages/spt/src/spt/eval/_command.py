"""``spt eval knn|linear|finetune CONFIG.yaml [key=value ...]``: a protocol from a YAML config."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PROTOCOLS", "USAGE", "main", "run"]

PROTOCOLS = ("knn", "linear", "finetune")

USAGE = """\
usage: spt eval {knn,linear,finetune} CONFIG.yaml [OVERRIDE ...]

Evaluate a backbone saved by a run. The config names the backbone to build (`backbone`,
a `_target_`), its weights (`weights`: a run directory, its backbone.pt, or a Lightning
checkpoint), the datasets (`data.train`, `data.test`, and `data.finetune_train` for
fine-tuning) and the protocol's settings (the `knn`, `linear` or `finetune` section).
Results: a table here, <run_dir>/eval/<protocol>.json and the CSV (or wandb) log.

  spt eval knn examples/digits_eval.yaml weights=spt_runs/digits
  spt eval linear examples/digits_eval.yaml weights=spt_runs/digits linear.epochs=50
  spt eval finetune examples/digits_eval.yaml weights=spt_runs/digits/backbone.pt

Overrides use Hydra's syntax (key=value, +key=value). docs/evaluation.md has the protocols.
"""

COMMON = ("seed", "input", "label", "batch_size", "num_workers", "num_classes")


def _error(message: str) -> int:
    print(f"spt eval: error: {message}", file=sys.stderr)
    return 2


def run_dir_of(weights: Path) -> Path:
    """The run directory a weights path belongs to (``run/``, ``run/backbone.pt``,
    ``run/checkpoints/last.ckpt``)."""
    if weights.is_dir():
        return weights
    if weights.parent.name == "checkpoints":
        return weights.parent.parent
    return weights.parent


def run(protocol: str, config: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Run one protocol as ``spt eval`` does and return its result.

    Raises:
        ValueError: For an unknown protocol or a missing ``weights``, ``backbone`` or
            ``data.train``/``data.test`` key (named).
    """
    from omegaconf import OmegaConf

    import spt.eval as protocols
    from spt._hydra import ConfigError, check_targets, compose_config, instantiate_section

    if protocol not in PROTOCOLS:
        raise ValueError(f"spt eval: unknown protocol {protocol!r}; use one of {PROTOCOLS}")
    cfg = compose_config(config, overrides)
    check_targets(cfg, config)
    for key in ("backbone", "data.train", "data.test"):
        if OmegaConf.select(cfg, key) is None:
            raise ConfigError(f"{config}: missing key '{key}' (see examples/digits_eval.yaml)")
    weights = OmegaConf.select(cfg, "weights", default=None)
    if weights is None or OmegaConf.is_missing(cfg, "weights"):
        raise ConfigError(
            f"{config}: 'weights' is not set; add weights=RUN_DIR (or its backbone.pt, or a "
            "Lightning checkpoint) to the command"
        )
    weights = Path(str(weights))
    run_dir = OmegaConf.select(cfg, "run_dir", default=None)
    backbone = instantiate_section(cfg, "backbone", config)
    data = cfg.data
    train_key = "finetune_train" if protocol == "finetune" and "finetune_train" in data else "train"
    train = instantiate_section(data, train_key, config)
    test = instantiate_section(data, "test", config)
    options: dict[str, Any] = {
        k: v for k in COMMON if (v := OmegaConf.select(cfg, k, default=None)) is not None
    }
    rename = {"input": "input_key", "label": "label_key"}
    options = {rename.get(k, k): v for k, v in options.items()}
    if protocol == "knn":
        options.pop("seed", None)
    section = cfg.get(protocol)
    if section is not None:
        options.update(OmegaConf.to_container(section, resolve=True))  # type: ignore[arg-type]
    trainer = cfg.get("trainer")
    wandb = cfg.get("wandb")
    function = getattr(protocols, protocol)
    return function(  # type: ignore[no-any-return]
        backbone,
        train,
        test,
        weights=weights,
        trainer=_plain(trainer),
        run_dir=Path(str(run_dir)) if run_dir is not None else run_dir_of(weights),
        wandb=_plain(wandb),
        **options,
    )


def _plain(node: Any) -> Mapping[str, Any] | None:
    from omegaconf import OmegaConf

    if node is None:
        return None
    return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]


def main(argv: Sequence[str]) -> int:
    """``spt eval PROTOCOL CONFIG.yaml [OVERRIDE ...]``; returns the exit status."""
    from spt.cli import check_file

    args = list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if args else 2
    protocol, rest = args[0], args[1:]
    if protocol not in PROTOCOLS:
        return _error(
            f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}\n\n{USAGE}"
        )
    if not rest or rest[0].startswith("-") or "=" in rest[0]:
        return _error(f"no config file given\n\n{USAGE}")
    config, overrides = Path(rest[0]), rest[1:]
    message = check_file(config)
    if message is not None:
        return _error(message)
    try:
        run(protocol, config, overrides)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        return _error(str(exc).strip("'\""))
    except Exception as exc:
        from spt._hydra import ConfigError

        if isinstance(exc, ConfigError) or type(exc).__module__.startswith(("hydra", "omegaconf")):
            return _error(str(exc))
        raise
    return 0
