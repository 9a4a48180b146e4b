"""The main example, measured: SimCLR on digits vs the same encoder at random initialisation.

Runs ``spt examples/simclr_digits.yaml`` (the README's first command) in a subprocess on the
CPU, times it, then embeds the un-augmented digits with the trained backbone and with the
same backbone at its initial (seeded) weights and reports, for both, kNN top-1 (k=20, cosine)
and linear-probe top-1 (logistic regression on frozen features) on the 360 held-out digits.

    uv run --no-sync python benchmarks/example_digits.py            # the example as shipped
    uv run --no-sync python benchmarks/example_digits.py --quick    # 2 epochs

Writes benchmarks/results/example_digits.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "simclr_digits.yaml"


def _train(run_dir: Path, overrides: list[str]) -> tuple[float, float, str]:
    command = [sys.executable, "-m", "spt", str(CONFIG), f"+manager.run_dir={run_dir}", *overrides]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=run_dir.parent)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"training failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, cpu, done.stdout


def _backbone(overrides: list[str]) -> nn.Module:
    """The example's backbone at its initial weights (the CLI seeds before building it)."""
    import lightning as pl
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(CONFIG.parent), version_base="1.3"):
        cfg = compose(CONFIG.stem, overrides=overrides)
    pl.seed_everything(int(cfg.manager.seed), verbose=False)
    return instantiate(cfg.module.backbone)


@torch.no_grad()
def _embed(backbone: nn.Module, split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    import spt_data
    from spt_data import transforms

    mean, std = spt_data.static.digits["mean"][:1], spt_data.static.digits["std"][:1]
    data = spt_data.digits(split, size=size, rgb=False, transform=transforms.ToImage(mean, std))
    loader = torch.utils.data.DataLoader(data, batch_size=512)
    backbone.eval()
    feats, labels = [], []
    for batch in loader:
        feats.append(backbone(batch["image"]))
        labels.append(torch.as_tensor(batch["label"]))
    return torch.cat(feats), torch.cat(labels)


def knn_top1(
    train: torch.Tensor,
    train_y: torch.Tensor,
    test: torch.Tensor,
    test_y: torch.Tensor,
    k: int = 20,
) -> float:
    """Cosine kNN with similarity-weighted votes (temperature 0.07), top-1 accuracy."""
    a = nn.functional.normalize(train, dim=1)
    b = nn.functional.normalize(test, dim=1)
    sim, idx = (b @ a.T).topk(k, dim=1)  # (N_test, k)
    votes = torch.zeros(len(test), int(train_y.max()) + 1)
    votes.scatter_add_(1, train_y[idx], (sim / 0.07).exp())
    return float((votes.argmax(1) == test_y).float().mean())


def linear_top1(
    train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor
) -> float:
    """Logistic regression (scikit-learn, standardised features) on frozen features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(train.numpy(), train_y.numpy())
    return float(clf.score(test.numpy(), test_y.numpy()))


def _evaluate(backbone: nn.Module, size: int) -> dict[str, float]:
    x, y = _embed(backbone, "train", size)
    tx, ty = _embed(backbone, "test", size)
    return {"knn_top1": knn_top1(x, y, tx, ty), "linear_top1": linear_top1(x, y, tx, ty)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs instead of the example's")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/example_digits.json")
    args = parser.parse_args()
    overrides = ["trainer.max_epochs=2"] if args.quick else []
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        seconds, cpu_seconds, stdout = _train(
            run_dir, [*overrides, "+trainer.enable_progress_bar=false"]
        )
        from omegaconf import OmegaConf

        size = int(OmegaConf.load(CONFIG)["size"])
        random_init = _backbone(overrides)
        trained = _backbone(overrides)
        trained.load_state_dict(torch.load(run_dir / "backbone.pt", weights_only=True))
        results = {"random_init": _evaluate(random_init, size), "trained": _evaluate(trained, size)}
        # The CSV log of the run: benchmarks/plots.py draws the training curves from it.
        for metrics_csv in run_dir.rglob("metrics.csv"):
            shutil.copyfile(metrics_csv, args.out.with_name(args.out.stem + "_metrics.csv"))
    table = stdout[stdout.rfind("metric ") :].strip()
    report = {
        "command": " ".join(
            ["python benchmarks/example_digits.py", *(["--quick"] if args.quick else [])]
        ),
        "example": f"spt examples/simclr_digits.yaml {' '.join(overrides)}".strip(),
        "wall_seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "results": results,
        "online_metrics_table": table,
    }
    rows = [
        ("encoder", "kNN top-1", "linear top-1"),
        *((name, f"{r['knn_top1']:.3f}", f"{r['linear_top1']:.3f}") for name, r in results.items()),
    ]
    for row in rows:
        print(f"{row[0]:<12} {row[1]:>10} {row[2]:>13}")
    print(
        f"`{report['example']}` (including start-up): wall {seconds:.1f} s, "
        f"CPU {cpu_seconds:.1f} s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
