"""The routing report (data and table) and the shared table formatter."""

from __future__ import annotations

import pytest
from torch import nn

from spt_optim import TrainingLength, build_optimizers, format_table, routing_report

LENGTH = TrainingLength(total_batches=10)


@pytest.fixture
def entries(ssl_model: nn.Module):  # type: ignore[no-untyped-def]
    optim = {
        "backbone": {
            "modules": "backbone",
            "optimizer": {"type": "AdamW", "lr": 0.01, "weight_decay": 0.05},
            "exclude_bias_and_norm": True,
        },
        "projector": {
            "modules": "projector",
            "optimizer": {"type": "SGD", "lr": 0.1},
            "scheduler": "ReduceLROnPlateau",
        },
    }
    return build_optimizers(ssl_model, optim, LENGTH)


def test_rows_hold_one_dict_per_param_group(entries) -> None:  # type: ignore[no-untyped-def]
    rows = routing_report(entries).rows
    assert rows == [
        {
            "route": "backbone",
            "group": 0,
            "optimizer": "AdamW",
            "lr": 0.01,
            "weight_decay": 0.05,
            "tensors": 2,
            "parameters": 4 * 8 + 8 * 8,
            "scheduler": "CosineAnnealingLR",
            "interval": "step",
        },
        {
            "route": "backbone",
            "group": 1,
            "optimizer": "AdamW",
            "lr": 0.01,
            "weight_decay": 0.0,
            "tensors": 4,
            "parameters": 8 + 8 + 8 + 8,
            "scheduler": "CosineAnnealingLR",
            "interval": "step",
        },
        {
            "route": "projector",
            "group": 0,
            "optimizer": "SGD",
            "lr": 0.1,
            "weight_decay": 0,
            "tensors": 6,
            "parameters": (8 * 8 + 8) + (8 + 8) + (8 * 2 + 2),
            "scheduler": "ReduceLROnPlateau",
            "interval": "epoch",
        },
    ]


def test_rows_optionally_list_parameter_names(entries) -> None:  # type: ignore[no-untyped-def]
    rows = routing_report(entries, parameters=True).rows
    assert rows[0]["parameter_names"] == ["backbone.0.weight", "backbone.3.weight"]
    assert rows[1]["parameter_names"] == [
        "backbone.0.bias",
        "backbone.1.weight",
        "backbone.1.bias",
        "backbone.3.bias",
    ]
    assert rows[2]["parameter_names"][0] == "projector.0.weight"
    assert "parameter_names" not in routing_report(entries).rows[0]


def test_str_is_an_aligned_table(entries) -> None:  # type: ignore[no-untyped-def]
    text = str(routing_report(entries))
    lines = text.splitlines()
    assert lines[0].split() == [
        "route",
        "group",
        "optimizer",
        "lr",
        "weight_decay",
        "tensors",
        "parameters",
        "scheduler",
        "interval",
    ]
    assert set(lines[1]) == {"-", " "}
    assert len(lines) == 5
    assert lines[4].split() == [
        "projector",
        "0",
        "SGD",
        "0.1",
        "0",
        "6",
        "106",
        "ReduceLROnPlateau",
        "epoch",
    ]
    # every column starts at the same offset on every line
    starts = [i for i, c in enumerate(lines[1]) if c == "-" and (i == 0 or lines[1][i - 1] == " ")]
    for line in lines[2:]:
        assert line[starts[2] : starts[2] + 3] in {"Ada", "SGD"}


def test_str_lists_parameter_names_when_asked(entries) -> None:  # type: ignore[no-untyped-def]
    text = str(routing_report(entries, parameters=True))
    assert "backbone (group 1):\n  backbone.0.bias\n  backbone.1.weight" in text
    assert "\n  projector.2.bias" in text


def test_format_table_alignment_and_cells() -> None:
    rows = [
        {"name": "a", "n": 1234567, "lr": 0.000123456, "flag": True, "opt": None},
        {"name": "longer", "n": 5, "lr": 1.0, "flag": False},
    ]
    assert format_table(rows, ["name", "n", "lr", "flag", "opt"]) == (
        "name            n         lr  flag   opt\n"
        "------  ---------  ---------  -----  ---\n"
        "a       1,234,567  0.0001235  True   -\n"
        "longer          5          1  False"
    )


def test_format_table_without_rows_is_the_header() -> None:
    assert format_table([], ["a", "bb"]) == "a  bb\n-  --"


def test_lr_is_the_configured_one_even_during_warmup() -> None:
    optim = {"optimizer": {"type": "SGD", "lr": 0.3}, "scheduler": "LinearWarmupCosineAnnealing"}
    (entry,) = build_optimizers(nn.Linear(2, 2), optim, LENGTH)
    assert entry.optimizer.param_groups[0]["lr"] == 0.0  # warmup starts from 0
    assert routing_report([entry]).rows[0]["lr"] == 0.3
