"""The ``spt`` command: usage, config errors, a run, a multirun, and the example configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spt.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

TINY = """\
dim: 8
manager:
  seed: 0
trainer:
  _target_: lightning.Trainer
  max_epochs: 1
  accelerator: cpu
  enable_progress_bar: false
  enable_model_summary: false
  log_every_n_steps: 1
module:
  _target_: spt.Module
  forward: {_target_: hydra.utils.get_method, path: spt_module.testing.classification_forward}
  backbone: {_target_: torch.nn.Linear, in_features: "${dim}", out_features: 16}
  head: {_target_: torch.nn.Linear, in_features: 16, out_features: 3}
  optim:
    optimizer: {type: SGD, lr: 0.1}
    scheduler: {type: ConstantLR, factor: 1.0}
data:
  _target_: spt.data.DataModule
  train:
    _target_: torch.utils.data.DataLoader
    dataset: {_target_: spt_module.testing.RandomDictDataset, n: 32, dim: "${dim}"}
    batch_size: 8
    shuffle: true
  val:
    _target_: torch.utils.data.DataLoader
    dataset: {_target_: spt_module.testing.RandomDictDataset, n: 16, dim: "${dim}", seed: 1}
    batch_size: 8
callbacks:
  probe:
    _target_: spt.callbacks.OnlineProbe
    name: probe
    probe: {_target_: torch.nn.Linear, in_features: 16, out_features: 3}
"""


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # Hydra's outputs/ and multirun/ go here
    path = tmp_path / "conf" / "tiny.yaml"
    path.parent.mkdir()
    path.write_text(TINY)
    return path


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_help_explains_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spt CONFIG.yaml")
    for word in ("-m", "_target_", "hydra.launcher.partition"):
        assert word in out


def test_no_arguments_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: spt" in capsys.readouterr().out


def test_missing_config_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml' not found" in capsys.readouterr().err


def test_invalid_yaml_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "trainer: [unclosed\n")
    assert main([str(path)]) == 2
    assert "bad.yaml: not a valid YAML config" in capsys.readouterr().err


def test_missing_section_names_key_and_file(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tiny.read_text().replace("module:", "modul:")
    path = _write(tiny.parent, text)
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml: missing key 'module'" in err


def test_unknown_target_names_the_target_key_and_file(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tiny.read_text().replace(
        "torch.nn.Linear, in_features: 16", "torch.nn.Lineer, in_features: 16"
    )
    path = _write(tiny.parent, text)
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "unknown _target_ 'torch.nn.Lineer'" in err
    assert "module.head" in err
    assert "bad.yaml" in err


def test_bad_argument_names_the_section_and_file(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tiny.read_text().replace("out_features: 16}", "out_features: 16, widht: 3}")
    path = _write(tiny.parent, text, name="tiny_widht.yaml")  # a key of the file, not an override
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "tiny_widht.yaml: cannot build 'module'" in err
    assert "widht" in err


def test_unknown_manager_key_is_named(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tiny), "+manager.sed=1"]) == 1
    assert "unknown key 'manager.sed'" in capsys.readouterr().err


def test_run_trains_with_overrides_and_writes_its_run_directory(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tiny.parent.parent / "run"
    assert main([str(tiny), "trainer.max_epochs=2", f"+manager.run_dir={run_dir}"]) == 0
    saved = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
    assert saved["global_step"] == 8  # 2 epochs x 4 batches: the override took effect
    assert (run_dir / "logs/metrics.csv").is_file()
    assert (run_dir / "backbone.pt").is_file()
    assert "probe/val/top1" in capsys.readouterr().out  # the final table


def test_multirun_runs_each_sweep_point(tiny: Path) -> None:
    sweep = tiny.parent.parent / "sweep"
    assert main([str(tiny), "-m", "manager.seed=0,1", f"hydra.sweep.dir={sweep}"]) == 0
    first = torch.load(sweep / "0/checkpoints/last.ckpt", weights_only=True)
    second = torch.load(sweep / "1/checkpoints/last.ckpt", weights_only=True)
    assert first["global_step"] == second["global_step"] == 4
    assert not torch.equal(first["state_dict"]["head.weight"], second["state_dict"]["head.weight"])


def test_slurm_example_resolves_with_partition_and_time_overridden() -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(EXAMPLES / "cifar10"), version_base="1.3"):
        cfg = compose(
            "simclr_slurm",
            overrides=["hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=720"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min) == ("gpu", 720)
    built = instantiate(launcher)  # the launcher accepts every key of the example
    assert type(built).__name__ == "SlurmLauncher"
    assert cfg.module.optim.optimizer.type == "LARS"  # the recipe itself came along


def test_supervised_digits_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = [
        str(EXAMPLES / "supervised_digits.yaml"),
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.enable_progress_bar=false",
        f"+manager.run_dir={tmp_path / 'run'}",
    ]
    assert main(args) == 0
    saved = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert saved["global_step"] == 2


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("spt eval {knn,linear,finetune} CONFIG.yaml", "spt embed CONFIG.yaml", "spt plot"):
        assert line in out


@pytest.mark.parametrize(("command", "module"), [("embed", "spt.embed"), ("plot", "spt.plots")])
def test_subcommands_reach_their_module_main_with_the_rest_of_the_arguments(
    command: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    seen: list[list[str]] = []
    monkeypatch.setattr(
        importlib.import_module(module), "main", lambda argv: seen.append(argv) or 3
    )
    assert main([command, "a.yaml", "x=1"]) == 3
    assert seen == [["a.yaml", "x=1"]]


def test_eval_help_explains_the_protocols(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spt eval {knn,linear,finetune} CONFIG.yaml")
    assert "weights=" in out


def test_eval_without_a_config_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "knn"]) == 2
    assert "no config file given" in capsys.readouterr().err
