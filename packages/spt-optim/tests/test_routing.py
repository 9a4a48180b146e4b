"""Regex routing of parameters to optimizers, pinned on the routing example of the docs."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import nn

from spt_optim import UnmatchedParametersWarning, route_modules, route_parameters
from spt_optim.testing import ROUTING_EXAMPLE_OPTIM

# The routes of the multi-optimizer routing example.
ROUTES = {name: entry["modules"] for name, entry in ROUTING_EXAMPLE_OPTIM.items()}


def _names(routed: dict[str, list[tuple[str, nn.Parameter]]]) -> dict[str, list[str]]:
    return {route: [name for name, _ in pairs] for route, pairs in routed.items()}


def _reference_route(module: nn.Module, routes: dict[str, str], param_name: str) -> str | None:
    """Slow reference: walk from the owning module up to the root; the first match wins."""
    path = param_name.rpartition(".")[0]
    while True:
        hits = [route for route, pattern in routes.items() if re.fullmatch(pattern, path)]
        if hits:
            return hits[0]
        if not path:
            return None
        path = path.rpartition(".")[0]


def test_routing_example_module_routes_exactly(routing_model: nn.Module) -> None:
    assert route_modules(routing_model, ROUTES) == {
        "": None,
        "encoder": "encoder_opt",
        "encoder.layer1": "encoder_opt",
        "encoder.layer1.conv": "encoder_opt",
        "classifier_head": "head_opt",
        "classifier_head.linear": "head_opt",
        "decoder": None,
    }


def test_routing_example_parameter_routes_exactly(routing_model: nn.Module) -> None:
    with pytest.warns(UnmatchedParametersWarning):
        routed = route_parameters(routing_model, ROUTES)
    assert _names(routed) == {
        "encoder_opt": ["encoder.scale", "encoder.layer1.conv.weight", "encoder.layer1.conv.bias"],
        "head_opt": ["classifier_head.linear.weight", "classifier_head.linear.bias"],
    }
    by_name = dict(routing_model.named_parameters())
    for route, pairs in routed.items():
        for name, param in pairs:
            assert param is by_name[name], route


def test_unmatched_parameters_warn_with_their_names(routing_model: nn.Module) -> None:
    with pytest.warns(UnmatchedParametersWarning, match="2 trainable parameter") as record:
        route_parameters(routing_model, ROUTES)
    message = str(record[0].message)
    assert "decoder.weight, decoder.bias" in message
    assert "unmatched='ignore'" in message  # the fix


def test_unmatched_parameters_error_when_asked(routing_model: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"decoder\.weight, decoder\.bias") as info:
        route_parameters(routing_model, ROUTES, unmatched="error")
    assert "Add a route for them" in str(info.value)


def test_unmatched_parameters_ignored_silently(routing_model: nn.Module) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        routed = route_parameters(routing_model, ROUTES, unmatched="ignore")
    assert sum(len(pairs) for pairs in routed.values()) == 5


def test_unmatched_parameters_frozen_when_asked(routing_model: nn.Module) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        routed = route_parameters(routing_model, ROUTES, unmatched="freeze")
    assert sum(len(pairs) for pairs in routed.values()) == 5
    assert not routing_model.decoder.weight.requires_grad
    assert not routing_model.decoder.bias.requires_grad
    assert routing_model.encoder.scale.requires_grad


def test_bad_unmatched_value_names_the_valid_ones(routing_model: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"unmatched must be one of .* got 'raise'"):
        route_parameters(routing_model, ROUTES, unmatched="raise")


def test_deepest_match_wins(routing_model: nn.Module) -> None:
    routes = {"enc": "encoder", "conv": r"encoder\.layer1\.conv", "rest": "decoder|classifier_head"}
    routed = _names(route_parameters(routing_model, routes, unmatched="error"))
    assert routed == {
        "enc": ["encoder.scale"],
        "conv": ["encoder.layer1.conv.weight", "encoder.layer1.conv.bias"],
        "rest": [
            "classifier_head.linear.weight",
            "classifier_head.linear.bias",
            "decoder.weight",
            "decoder.bias",
        ],
    }


def test_children_of_a_deeper_match_inherit_from_it() -> None:
    model = nn.Module()
    model.backbone = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)))
    routes = {"backbone": "backbone", "inner": r"backbone\.1"}
    assert route_modules(model, routes) == {
        "": None,
        "backbone": "backbone",
        "backbone.0": "backbone",
        "backbone.1": "inner",
        "backbone.1.0": "inner",
        "backbone.1.1": "inner",
    }


def test_routing_matches_a_slow_reference_on_a_deep_model() -> None:
    torch.manual_seed(0)
    model = nn.Module()
    model.stem = nn.Conv2d(3, 4, 3)
    model.blocks = nn.Sequential(
        *[nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.Linear(4, 4)) for _ in range(4)]
    )
    model.norm = nn.LayerNorm(4)
    model.proj_head = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    routes = {
        "early": r"stem|blocks\.[01]",
        "bn": r"blocks\.\d+\.1",
        "late": r"blocks",
        "head": r".*head$",
        "norm": r"norm",
    }
    routed = route_parameters(model, routes, unmatched="error")
    got = {name: route for route, pairs in routed.items() for name, _ in pairs}
    expected = {name: _reference_route(model, routes, name) for name, _ in model.named_parameters()}
    assert got == expected
    assert got["blocks.0.0.weight"] == "early"
    assert got["blocks.3.1.weight"] == "bn"
    assert got["blocks.3.2.bias"] == "late"


def test_a_parameter_is_in_one_route_only(routing_model: nn.Module) -> None:
    routes = {"enc": "encoder.*", "layer": r"encoder\.layer1.*", "head": ".*head.*|decoder"}
    with pytest.raises(ValueError, match=r"all match module 'encoder\.layer1'"):
        route_parameters(routing_model, routes)
    routes = {"enc": "encoder", "layer": r"encoder\.layer1", "head": ".*head|decoder"}
    routed = route_parameters(routing_model, routes, unmatched="error")
    ids = [id(param) for pairs in routed.values() for _, param in pairs]
    assert len(ids) == len(set(ids)) == len(list(routing_model.parameters()))


def test_only_direct_parameters_are_collected_and_shared_ones_once() -> None:
    shared = nn.Linear(2, 2)
    model = nn.Module()
    model.first = nn.Sequential(shared)
    model.second = nn.Sequential(shared)
    routed = _names(route_parameters(model, {"a": "first", "b": "second"}, unmatched="error"))
    assert routed == {"a": ["first.0.weight", "first.0.bias"], "b": []}


def test_frozen_parameters_are_skipped(routing_model: nn.Module) -> None:
    routing_model.decoder.requires_grad_(False)
    routing_model.encoder.layer1.conv.bias.requires_grad_(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # frozen decoder: nothing is unmatched
        routed = route_parameters(routing_model, ROUTES)
    assert _names(routed)["encoder_opt"] == ["encoder.scale", "encoder.layer1.conv.weight"]


def test_module_hiding_parameters_in_named_parameters_is_honoured(routing_model: nn.Module) -> None:
    class Hiding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = routing_model

        def named_parameters(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            for name, param in super().named_parameters(*args, **kwargs):  # type: ignore[arg-type]
                if not name.startswith("model.decoder"):
                    yield name, param

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        routed = route_parameters(Hiding(), {"all": "model"})
    assert len(routed["all"]) == 5


def test_pattern_matching_no_module_lists_the_modules(routing_model: nn.Module) -> None:
    with pytest.raises(
        ValueError, match="optim route 'head_opt': pattern 'head' matched no module"
    ) as info:
        route_modules(routing_model, {"encoder_opt": "encoder", "head_opt": "head"})
    assert "modules are: encoder, encoder.layer1, encoder.layer1.conv, classifier_head" in str(
        info.value
    )


def test_patterns_are_full_matches(routing_model: nn.Module) -> None:
    # re.fullmatch: "layer1" is not a search inside "encoder.layer1".
    with pytest.raises(ValueError, match="pattern 'layer1' matched no module"):
        route_modules(routing_model, {"e": "layer1"})
    assert route_modules(routing_model, {"e": r".*\.layer1"})["encoder.layer1.conv"] == "e"


def test_two_patterns_on_one_module_is_an_error(routing_model: nn.Module) -> None:
    with pytest.raises(ValueError, match="all match module 'classifier_head'") as info:
        route_modules(routing_model, {"a": "classifier_head", "b": ".*head"})
    assert "route the parent alone" in str(info.value)


def test_invalid_regex_names_the_route_and_pattern(routing_model: nn.Module) -> None:
    with pytest.raises(
        ValueError,
        match=r"optim route 'bad': pattern 'enc\(' is not a valid regex.*fix the pattern",
    ):
        route_modules(routing_model, {"bad": "enc("})


def test_non_string_pattern_is_a_type_error(routing_model: nn.Module) -> None:
    with pytest.raises(
        TypeError, match=r"optim route 'bad': 'modules' must be a regex string.*got 3; write e\.g\."
    ):
        route_modules(routing_model, {"bad": 3})  # type: ignore[dict-item]
