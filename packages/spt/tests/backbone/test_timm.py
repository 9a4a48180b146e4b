"""from_timm: timm models as (B, D) backbones, no downloads, a clear error without the extra."""

from __future__ import annotations

import doctest
import sys

import pytest
import torch

import spt
from spt.backbone import TimmBackbone, from_timm

timm = pytest.importorskip("timm")


def _refuse_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("from_timm tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_tiny_vit_maps_images_to_features(monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse_downloads(monkeypatch)
    backbone = from_timm("vit_tiny_patch16_224", img_size=32, depth=2)
    assert isinstance(backbone, TimmBackbone)
    assert backbone.embed_dim == 192
    with torch.no_grad():
        assert backbone.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 192)
    assert len(backbone.model.blocks) == 2  # kwargs reach timm.create_model


def test_embed_dim_is_the_output_width_not_timms_first_stage() -> None:
    backbone = from_timm("resnet18", in_chans=1)
    assert backbone.embed_dim == 512
    with torch.no_grad():
        assert backbone.eval()(torch.randn(2, 1, 32, 32)).shape == (2, 512)
    module = spt.methods.simclr(backbone, 512, hidden_dim=8, proj_dim=4)  # width checked
    assert module.backbone is backbone


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'spt\[timm\]'"):
        from_timm("vit_tiny_patch16_224")


def test_unknown_name_and_num_classes_are_named() -> None:
    with pytest.raises(ValueError, match="vit_does_not_exist"):
        from_timm("vit_does_not_exist")
    with pytest.raises(ValueError, match="num_classes=10"):
        from_timm("resnet18", num_classes=10)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(spt.backbone.timm, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
