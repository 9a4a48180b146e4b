"""validate_optim: a bad optim spec is refused from the spec alone, quoted numbers are numbers."""

from __future__ import annotations

import copy
import functools
import warnings

import pytest
import torch
from torch import nn

from spt_optim import QuotedNumberWarning, TrainingLength, build_optimizers, validate_optim


def test_unknown_optimizer_name_is_refused_with_the_closest_name() -> None:
    with pytest.raises(ValueError, match=r"optim entry 'default': optimizer 'AdamWW'.*'AdamW'"):
        validate_optim({"optimizer": {"type": "AdamWW", "lr": 1e-3}})


def test_unknown_scheduler_name_is_refused_with_the_closest_name() -> None:
    with pytest.raises(ValueError, match=r"scheduler 'CosineAnealingLR'.*'CosineAnnealingLR'"):
        validate_optim({"optimizer": "SGD", "scheduler": "CosineAnealingLR"})


def test_unknown_optimizer_argument_is_refused_with_the_closest_argument() -> None:
    with pytest.raises(
        ValueError, match=r"optimizer AdamW takes no argument 'lrr'; did you mean lr"
    ):
        validate_optim({"optimizer": {"type": "AdamW", "lrr": 1e-3}})


def test_unknown_scheduler_argument_is_refused_with_the_closest_argument() -> None:
    spec = {"optimizer": "SGD", "scheduler": {"type": "StepLR", "stepsize": 3, "interval": "epoch"}}
    with pytest.raises(
        ValueError, match=r"scheduler StepLR takes no argument 'stepsize'.*step_size"
    ):
        validate_optim(spec)


def test_unknown_argument_of_a_partial_is_refused() -> None:
    with pytest.raises(ValueError, match=r"optimizer SGD takes no argument 'momentun'.*momentum"):
        validate_optim(functools.partial(torch.optim.SGD, lr=0.1, momentun=0.9))


def test_unknown_argument_in_a_routed_entry_names_the_entry() -> None:
    spec = {"head": {"modules": "head", "optimizer": {"type": "LARS", "weight_decy": 1e-6}}}
    with pytest.raises(ValueError, match=r"optim entry 'head': optimizer LARS .*'weight_decy'"):
        validate_optim(spec)


def test_quoted_number_is_converted_with_a_warning_naming_the_key() -> None:
    spec = {"optimizer": {"type": "AdamW", "lr": "1e-3", "betas": ["0.9", "0.95"]}}
    with pytest.warns(QuotedNumberWarning) as caught:
        valid = validate_optim(spec)
    assert valid["optimizer"] == {"type": "AdamW", "lr": 0.001, "betas": [0.9, 0.95]}
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("optim.optimizer.lr: the string '1e-3'") for m in messages)
    assert any(m.startswith("optim.optimizer.betas[1]: the string '0.95'") for m in messages)
    optimizer = build_optimizers(nn.Linear(2, 2), valid, TrainingLength(total_batches=4))[0]
    assert optimizer.optimizer.defaults["lr"] == 0.001
    assert tuple(optimizer.optimizer.defaults["betas"]) == (0.9, 0.95)


def test_quoted_integer_becomes_an_int() -> None:
    spec = {"optimizer": "SGD", "scheduler": {"type": "StepLR", "step_size": "3"}}
    with pytest.warns(QuotedNumberWarning, match=r"optim.scheduler.step_size"):
        valid = validate_optim(spec)
    assert valid["scheduler"]["step_size"] == 3
    assert isinstance(valid["scheduler"]["step_size"], int)


def test_a_string_where_a_number_is_expected_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"optimizer SGD argument 'lr' must be a number.*'fast'"):
        validate_optim({"optimizer": {"type": "SGD", "lr": "fast"}})


def test_names_patterns_and_modes_stay_strings() -> None:
    spec = {
        "first": {
            "modules": "0",  # a ModuleList index is a pattern, not a number
            "optimizer": "SGD",
            "scheduler": {"type": "ReduceLROnPlateau", "mode": "max"},
            "monitor": "1",
            "interval": "epoch",
        },
        "unmatched": "error",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no QuotedNumberWarning
        valid = validate_optim(spec)
    assert valid == spec


def test_the_given_spec_is_not_changed() -> None:
    spec = {"optimizer": {"type": "SGD", "lr": "0.5"}, "scheduler": None}
    before = copy.deepcopy(spec)
    with pytest.warns(QuotedNumberWarning):
        validate_optim(spec)
    assert spec == before


@pytest.mark.parametrize("spec", [None, False, "SGD", torch.optim.Adam, {"scheduler": "StepLR"}])
def test_every_valid_form_passes_unchanged(spec: object) -> None:
    assert validate_optim(spec) == spec


def test_a_spec_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match=r"optimizer spec must be a name"):
        validate_optim([{"optimizer": "SGD"}])
