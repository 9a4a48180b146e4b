"""Pretrain with ``examples/timeseries_mae.yaml`` and linear-probe the frozen encoder.

For each SSL objective (the example's ``ssl=`` config group), the example is composed with
Hydra as the ``spt`` command composes it, built from its ``_target_`` entries and fitted; its
``LinearProbeEvaluation`` callback then fits a logistic regression on the frozen encoder's
mean-pooled features and on those of a random-init encoder of the same config. The table
gives both validation accuracies (4 classes: chance is 0.25), the final validation top-1 of
the example's ``OnlineProbe`` (a linear probe trained during fit on the module's detached
pooled ``embedding``), the wall time and the process CPU time of pretraining and of the
probes.

torch runs on ``--threads`` threads (default 1): on a 2-core machine shared with other jobs,
a second intra-op thread makes these small models many times slower, not faster.

    uv run --no-sync python benchmarks/pretrain_timeseries.py            # the example as shipped
    uv run --no-sync python benchmarks/pretrain_timeseries.py --quick    # 2 epochs, 512 series
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "timeseries_mae.yaml"
QUICK = ["trainer.max_epochs=2", "series.n_train=512", "series.n_val=256"]


def compose(overrides: list[str]) -> Any:
    """The example composed with Hydra's compose API and ``overrides``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(EXAMPLE.parent), version_base="1.3"):
        return hydra_compose(config_name=EXAMPLE.stem, overrides=overrides)


def run_one(overrides: list[str]) -> dict[str, Any]:
    """Fit the composed example once; the probe results and timings."""
    import lightning as pl
    from hydra.utils import instantiate

    from spt.pretrain import LinearProbeEvaluation

    cfg = compose(overrides)
    pl.seed_everything(int(cfg.manager.seed), verbose=False)
    module = instantiate(cfg.module, _convert_="all")
    data = instantiate(cfg.data, _convert_="all")
    callbacks = list(instantiate(cfg.callbacks, _convert_="all").values())
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.fit(module, datamodule=data)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    (probe,) = [c for c in callbacks if isinstance(c, LinearProbeEvaluation)]
    return {
        "encoder": str(cfg.encoder.name),
        "ssl": str(cfg.ssl.name),
        "epochs": int(cfg.trainer.max_epochs),
        "n_train": int(cfg.series.n_train),
        "n_val": int(cfg.series.n_val),
        "optimizer_steps": int(trainer.global_step),
        "final_train_loss": float(trainer.callback_metrics["train/loss"]),
        "pretrained_acc": probe.results["pretrained_acc"],
        "random_init_acc": probe.results["random_init_acc"],
        "online_probe_acc": _online_probe_acc(trainer),
        "pretrain_wall_s": probe.results["pretrain_seconds"],
        "probe_wall_s": probe.results["probe_seconds"],
        "fit_wall_s": wall,
        "fit_cpu_s": cpu,
    }


def _online_probe_acc(trainer: Any) -> float | None:
    """The example's ``OnlineProbe`` top-1 at the last validation (None without the probe)."""
    value = trainer.callback_metrics.get("online_probe/val/top1")
    return None if value is None else float(value)


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The results as an aligned table."""
    from spt_optim import format_table

    columns = [
        "encoder",
        "ssl",
        "epochs",
        "optimizer_steps",
        "pretrained_acc",
        "random_init_acc",
        "online_probe_acc",
        "pretrain_wall_s",
        "probe_wall_s",
        "fit_wall_s",
        "fit_cpu_s",
    ]
    shown = [
        {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()} for row in rows
    ]
    return format_table(shown, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs on 512 series")
    parser.add_argument("--ssl", default="mae,contrastive,jepa", help="comma-separated objectives")
    parser.add_argument("--encoder", default="transformer", help="encoder config group")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/pretrain_timeseries.json"))
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides of the example")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    rows = []
    for ssl in args.ssl.split(","):
        overrides = [f"encoder={args.encoder}", f"ssl={ssl}", *(QUICK if args.quick else [])]
        rows.append(run_one([*overrides, *args.overrides]))
    table = format_rows(rows)
    print(table)
    result = {
        "command": "python benchmarks/pretrain_timeseries.py "
        + " ".join(
            [
                *(["--quick"] if args.quick else []),
                f"--ssl {args.ssl}",
                f"--encoder {args.encoder}",
                f"--threads {args.threads}",
                *args.overrides,
            ]
        ),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": args.threads,
            "load_average": os.getloadavg(),
        },
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
