"""Class-token attention maps of a ViT: the values of the last block, and the PNG."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from spt.backbone import VisionTransformer
from spt.plots import class_token_attention, draw_attention_maps


def _vit(**kwargs: object) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(16, 4, in_channels=1, dim=8, depth=2, heads=2, **kwargs).eval()  # type: ignore[arg-type]


def test_maps_are_the_class_rows_of_the_last_attention_past_the_registers() -> None:
    vit = _vit(num_registers=2)
    images = torch.randn(3, 1, 16, 16)
    maps = class_token_attention(vit, images)
    with torch.no_grad():
        attention = vit.get_last_selfattention(images)
    assert maps.shape == (3, 2, 4, 4)
    torch.testing.assert_close(maps.flatten(2), attention[:, :, 0, 3:])
    # what the patches do not get, the class token gives itself and the registers
    torch.testing.assert_close(maps.sum((2, 3)) + attention[:, :, 0, :3].sum(-1), torch.ones(3, 2))


def test_local_crops_give_maps_on_their_own_grid() -> None:
    assert class_token_attention(_vit(), torch.randn(2, 1, 8, 8)).shape == (2, 2, 2, 2)


def test_a_vit_without_class_token_is_refused() -> None:
    with pytest.raises(ValueError, match="class_token=False"):
        class_token_attention(_vit(class_token=False), torch.randn(1, 1, 16, 16))


def test_png_has_a_row_per_image_and_a_column_per_head(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    images = torch.randn(2, 1, 16, 16)
    path = draw_attention_maps(images, class_token_attention(_vit(), images), tmp_path / "a.png")
    with Image.open(path) as png:
        assert png.format == "PNG"
        width, height = png.size
    assert (width, height) == (int(1.6 * 4 * 100), int((1.6 * 2 + 0.4) * 100))
    with pytest.raises(ValueError, match="same B"):
        draw_attention_maps(images[:1], torch.zeros(2, 2, 4, 4), tmp_path / "b.png")
