"""Backbones: the torchvision stem, MLP projectors, the time-series encoder (ViTs: backbone/)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spt.backbone import MLP, SmallCNN, TimeSeriesTransformer, from_torchvision


def _layer1_shape(model: nn.Module, size: int) -> torch.Size:
    shapes: list[torch.Size] = []
    handle = model.layer1.register_forward_hook(lambda m, i, o: shapes.append(o.shape))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    handle.remove()
    return shapes[0]


def test_low_resolution_stem_is_3x3_stride_1_without_maxpool() -> None:
    model = from_torchvision("resnet18", low_resolution=True)
    conv1 = model.conv1
    assert isinstance(conv1, nn.Conv2d)
    assert (conv1.kernel_size, conv1.stride, conv1.padding) == ((3, 3), (1, 1), (1, 1))
    assert conv1.in_channels == 3
    assert conv1.out_channels == 64
    assert conv1.bias is None
    assert isinstance(model.maxpool, nn.Identity)
    # 32x32 input keeps full resolution into the first stage.
    assert _layer1_shape(model, 32) == (1, 64, 32, 32)


def test_default_stem_downsamples_by_four() -> None:
    model = from_torchvision("resnet18")
    assert model.conv1.kernel_size == (7, 7)
    assert model.conv1.stride == (2, 2)
    assert isinstance(model.maxpool, nn.MaxPool2d)
    assert _layer1_shape(model, 32) == (1, 64, 8, 8)


def test_resnet18_with_identity_head_gives_512_features() -> None:
    model = from_torchvision("resnet18", low_resolution=True)
    model.fc = nn.Identity()
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 512)


def test_from_torchvision_downloads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("from_torchvision tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    model = from_torchvision("resnet18", num_classes=10)
    assert model.fc.out_features == 10


def test_unknown_model_name_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="resnet_does_not_exist"):
        from_torchvision("resnet_does_not_exist")


def test_low_resolution_needs_a_resnet_stem() -> None:
    with pytest.raises(ValueError, match="low_resolution"):
        from_torchvision("squeezenet1_0", low_resolution=True)


def test_mlp_layers_and_shape() -> None:
    mlp = MLP(16, [32, 32], 8)
    kinds = [type(layer) for layer in mlp]
    assert kinds == [
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
        nn.Linear,
    ]
    assert mlp(torch.randn(4, 16)).shape == (4, 8)


def test_mlp_last_norm_and_layer_norm() -> None:
    mlp = MLP(16, [32], 8, norm="layer", last_norm=True)
    assert isinstance(mlp[1], nn.LayerNorm)
    assert isinstance(mlp[-1], nn.BatchNorm1d)
    assert not mlp[-1].affine
    out = mlp(torch.randn(6, 16))
    assert torch.allclose(out.mean(0), torch.zeros(8), atol=1e-5)


def test_mlp_rejects_unknown_norm() -> None:
    with pytest.raises(ValueError, match="norm='group'"):
        MLP(4, [4], 4, norm="group")


def test_timeseries_encoder_shape_and_padding_is_ignored() -> None:
    torch.manual_seed(0)
    encoder = TimeSeriesTransformer(n_channels=3, max_length=12, dim=16, depth=1, heads=2).eval()
    x = torch.randn(2, 12, 3)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, 8:] = False
    changed = x.clone()
    changed[0, 8:] = 100.0  # padding values must not matter
    with torch.no_grad():
        out, out_changed = encoder(x, mask), encoder(changed, mask)
    assert out.shape == (2, 16)
    assert torch.allclose(out, out_changed, atol=1e-5)


def test_timeseries_encoder_patches_time() -> None:
    encoder = TimeSeriesTransformer(
        n_channels=2, max_length=12, dim=8, depth=1, heads=2, patch_size=4
    )
    tokens, token_mask = encoder.tokens(torch.randn(5, 12, 2))
    assert tokens.shape == (5, 3, 8)
    assert token_mask.shape == (5, 3)
    with pytest.raises(ValueError, match="patch_size=5"):
        TimeSeriesTransformer(n_channels=2, max_length=12, patch_size=5)


def test_small_cnn_shape() -> None:
    assert SmallCNN(1, width=8, embed_dim=None)(torch.randn(2, 1, 8, 8)).shape == (2, 32)
