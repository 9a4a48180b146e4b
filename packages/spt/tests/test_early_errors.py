"""Bad settings are refused early, naming the key, the value and the fix: before Hydra makes a
directory, before the model and data are built, before Lightning's own message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as pl
import pytest
from torch import nn

import spt
import spt._hydra
from spt._hydra import ConfigError, compose_config
from spt._preflight import check_command_line
from spt.cli import main
from spt_module.testing import make_dataloader, make_module
from spt_optim import QuotedNumberWarning

TINY = """\
trainer:
  _target_: lightning.Trainer
  max_epochs: 1
  accelerator: cpu
  enable_progress_bar: false
module:
  _target_: spt.Module
  forward: {_target_: hydra.utils.get_method, path: spt_module.testing.classification_forward}
  backbone: {_target_: torch.nn.Linear, in_features: 8, out_features: 16}
  head: {_target_: torch.nn.Linear, in_features: 16, out_features: 3}
  optim:
    optimizer: {type: SGD, lr: 0.1}
    scheduler: {type: ConstantLR, factor: 1.0}
data:
  _target_: spt.data.DataModule
  train:
    _target_: torch.utils.data.DataLoader
    dataset: {_target_: spt_module.testing.RandomDictDataset, n: 16, dim: 8}
    batch_size: 8
"""


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # Hydra's outputs/ and multirun/ would go here
    path = tmp_path / "conf" / "tiny.yaml"
    path.parent.mkdir()
    path.write_text(TINY)
    return path


@pytest.fixture
def nothing_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building any section of a config fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a section was built")

    monkeypatch.setattr(spt._hydra, "instantiate_section", refuse)


@pytest.mark.parametrize("prefix", ["", "+", "++"])
def test_unknown_trainer_key_override_is_refused_before_anything_is_built(
    tiny: Path, prefix: str, nothing_built: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tiny), f"{prefix}trainer.max_epoch=3"]) == 1
    err = capsys.readouterr().err
    assert (
        "tiny.yaml: trainer.max_epoch: lightning.Trainer takes no argument 'max_epoch'; "
        "did you mean max_epochs?"
    ) in err
    assert not (tiny.parent.parent / "outputs").exists()  # Hydra never started


def test_unknown_argument_of_a_nested_target_names_its_arguments(tiny: Path) -> None:
    message = check_command_line(tiny, ["+module.backbone.widht=3"], "tiny.yaml")
    assert message == (
        "tiny.yaml: module.backbone.widht: torch.nn.Linear takes no argument 'widht'; it takes: "
        "in_features, out_features, bias, device, dtype"
    )


@pytest.mark.parametrize(
    "override",
    [
        "trainer.max_epochs=2",  # a key of the file
        "+trainer.limit_train_batches=2",  # a Trainer argument the file does not set
        "+data.train.num_workers=0",  # a DataLoader argument
        "+module.extra=1",  # spt.Module takes **components: anything goes
        "+manager.seed=3",
        "~module.optim",
    ],
)
def test_overrides_the_targets_take_are_accepted(tiny: Path, override: str) -> None:
    assert check_command_line(tiny, [override], "tiny.yaml") is None


def test_unknown_manager_key_override_names_the_closest_setting(tiny: Path) -> None:
    message = check_command_line(tiny, ["+manager.sed=1"], "tiny.yaml")
    assert message is not None
    assert "unknown key 'manager.sed' in '+manager.sed=1'; did you mean seed?" in message


def test_a_sweep_of_an_unknown_key_is_refused_before_the_sweep(
    tiny: Path, nothing_built: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tiny), "-m", "+trainer.max_epoch=1,2"]) == 1
    assert "did you mean max_epochs?" in capsys.readouterr().err
    assert not (tiny.parent.parent / "multirun").exists()


def test_fsdp1_from_a_config_gets_the_fsdp2_advice_not_lightnings_gpu_error(
    tiny: Path, nothing_built: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="requires a GPU accelerator"):  # Lightning alone
        pl.Trainer(strategy="fsdp", accelerator="cpu", logger=False)
    assert main([str(tiny), "+trainer.strategy=fsdp"]) == 1
    err = capsys.readouterr().err
    assert "tiny.yaml: trainer.strategy='fsdp' (FSDP1) is not supported" in err
    assert "Use strategy='fsdp2' instead" in err
    assert "requires a GPU" not in err


def test_fsdp1_in_a_sweep_job_is_refused_before_its_module_is_built(
    tiny: Path, nothing_built: None
) -> None:
    cfg = compose_config(tiny, ["+trainer.strategy=fsdp_cpu_offload"])
    with pytest.raises(ConfigError, match=r"trainer.strategy='fsdp_cpu_offload'.*'fsdp2'"):
        spt._hydra.run_config(cfg, "tiny.yaml")


def test_fsdp1_in_a_manager_trainer_dict_gets_the_fsdp2_advice() -> None:
    data = spt.data.DataModule(train=make_dataloader())
    with pytest.raises(ValueError, match=r"trainer\['strategy'\]='fsdp'.*strategy='fsdp2'"):
        spt.Manager(
            trainer={"strategy": "fsdp", "accelerator": "cpu"}, module=make_module(), data=data
        )


def test_module_refuses_an_unknown_optimizer_when_built() -> None:
    with pytest.raises(ValueError, match=r"optimizer 'AdamWW' is not a known.*'AdamW'"):
        spt.Module(backbone=nn.Linear(2, 2), optim={"optimizer": {"type": "AdamWW"}})


def test_builder_refuses_an_unknown_scheduler_before_returning_the_module() -> None:
    backbone = spt.backbone.SmallCNN(in_channels=1, width=4, embed_dim=8)
    optim = {"optimizer": "SGD", "scheduler": {"type": "CosineAnealingLR"}}
    with pytest.raises(ValueError, match=r"'CosineAnealingLR'.*did you mean 'CosineAnnealingLR'"):
        spt.methods.simclr(backbone, 8, hidden_dim=8, proj_dim=4, optim=optim)


def test_module_takes_a_quoted_lr_as_a_number_with_a_warning_naming_the_key() -> None:
    with pytest.warns(QuotedNumberWarning, match=r"optim.optimizer.lr: the string '1e-3'"):
        module = spt.Module(
            backbone=nn.Linear(2, 2), optim={"optimizer": {"type": "SGD", "lr": "1e-3"}}
        )
    assert module.optim["optimizer"]["lr"] == 0.001


def test_bad_optim_override_fails_before_hydra_and_leaves_no_run_directory(
    tiny: Path, nothing_built: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tiny.parent.parent / "run"
    args = [str(tiny), "module.optim.optimizer.type=AdamWW", f"+manager.run_dir={run_dir}"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "tiny.yaml: module.optim entry 'default': optimizer 'AdamWW'" in err
    assert "did you mean 'AdamW'?" in err
    assert not run_dir.exists()
    assert not (tiny.parent.parent / "outputs").exists()


def test_bad_optim_in_a_sweep_job_is_written_to_its_cli_log(tiny: Path) -> None:
    sweep = tiny.parent.parent / "sweep"
    args = [str(tiny), "-m", "module.optim.optimizer.lr=fast,slow", f"hydra.sweep.dir={sweep}"]
    assert main(args) == 1
    job = sweep / "0"
    log = (job / "cli.log").read_text()
    assert "optimizer SGD argument 'lr' must be a number, got the string 'fast'" in log
    assert not (job / "checkpoints").exists()
    assert not (job / "logs").exists()
