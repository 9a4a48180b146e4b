"""Built-in encoders (``spt.backbone`` classes): shapes, padding masks and the mask token."""

from __future__ import annotations

import pytest
import torch

from spt.backbone.gru import TimeSeriesGRU
from spt.backbone.timeseries import TimeSeriesTransformer, masked_mean
from spt.pretrain import build_encoder

TRANSFORMER = {"name": "transformer", "d_input": 3, "d_model": 16, "n_heads": 2, "n_layers": 2}
GRU = {"name": "gru", "d_input": 3, "d_model": 16}


@pytest.fixture
def padded() -> tuple[torch.Tensor, torch.Tensor]:
    """Series (2, 12, 3) observed for 7 and 12 steps; padding mask True on padded steps."""
    torch.manual_seed(0)
    x = torch.randn(2, 12, 3)
    lengths = torch.tensor([7, 12])
    padding = torch.arange(12).unsqueeze(0) >= lengths.unsqueeze(1)  # (2, 12)
    return x, padding


def test_builtin_encoders_are_backbone_classes() -> None:
    assert isinstance(build_encoder(TRANSFORMER), TimeSeriesTransformer)
    assert isinstance(build_encoder(GRU), TimeSeriesGRU)


@pytest.mark.parametrize("config", [TRANSFORMER, GRU], ids=["transformer", "gru"])
def test_output_shape(config: dict[str, object]) -> None:
    encoder = build_encoder(config)
    tokens, token_mask = encoder.tokens(torch.randn(4, 9, 3))
    assert tokens.shape == (4, 9, 16)
    assert token_mask.shape == (4, 9)
    assert encoder(torch.randn(4, 9, 3)).shape == (4, 16)  # pooled
    assert encoder.embed_dim == 16
    assert encoder.n_channels == 3


@pytest.mark.parametrize("config", [TRANSFORMER, GRU], ids=["transformer", "gru"])
def test_padded_values_do_not_change_observed_outputs(
    config: dict[str, object], padded: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, padding = padded
    encoder = build_encoder(config).eval()
    other = x.clone()
    other[padding] = 100.0 * torch.randn(int(padding.sum()), 3)
    observed = ~padding
    with torch.no_grad():
        out, _ = encoder.tokens(x, observed)
        out_other, _ = encoder.tokens(other, observed)
    torch.testing.assert_close(out[observed], out_other[observed])


def test_transformer_padded_series_matches_unpadded_series(
    padded: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, padding = padded
    encoder = build_encoder(TRANSFORMER).eval()
    with torch.no_grad():
        batched = encoder.tokens(x, ~padding)[0][0, :7]  # the short series, padded to 12
        alone = encoder.tokens(x[:1, :7])[0][0]  # the same 7 steps, no padding at all
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-4)


def test_transformer_without_padding_mask_attends_to_padding(
    padded: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, padding = padded
    encoder = build_encoder(TRANSFORMER).eval()
    other = x.clone()
    other[padding] = 5.0
    with torch.no_grad():
        changed = encoder.tokens(x)[0][0, :7] - encoder.tokens(other)[0][0, :7]
    assert changed.abs().max() > 1e-3  # so the test above can fail


def test_transformer_fully_padded_row_is_finite() -> None:
    encoder = build_encoder(TRANSFORMER).eval()
    observed = torch.ones(2, 6, dtype=torch.bool)
    observed[1] = False
    with torch.no_grad():
        tokens, _ = encoder.tokens(torch.randn(2, 6, 3), observed)
        pooled = encoder(torch.randn(2, 6, 3), observed)
    assert torch.isfinite(tokens).all()
    assert torch.isfinite(pooled).all()


@pytest.mark.parametrize("config", [TRANSFORMER, GRU], ids=["transformer", "gru"])
def test_hidden_steps_values_are_replaced_by_mask_token(config: dict[str, object]) -> None:
    encoder = build_encoder(config).eval()
    x = torch.randn(2, 8, 3)
    hidden = torch.zeros(2, 8, dtype=torch.bool)
    hidden[:, 2:5] = True
    other = x.clone()
    other[hidden] = torch.randn(int(hidden.sum()), 3)
    with torch.no_grad():
        torch.testing.assert_close(
            encoder.tokens(x, hidden=hidden)[0], encoder.tokens(other, hidden=hidden)[0]
        )


def test_hidden_steps_need_a_mask_token() -> None:
    encoder = TimeSeriesTransformer(n_channels=3, max_length=8, dim=8, depth=1, heads=2)
    with pytest.raises(ValueError, match=r"mask_token=True"):
        encoder.tokens(torch.randn(1, 8, 3), hidden=torch.ones(1, 8, dtype=torch.bool))


def test_sinusoidal_transformer_takes_any_length() -> None:
    encoder = build_encoder(TRANSFORMER)
    assert encoder.tokens(torch.randn(1, 50, 3))[0].shape == (1, 50, 16)
    with pytest.raises(ValueError, match=r"learned positions need max_length"):
        TimeSeriesTransformer(n_channels=3)


def test_masked_mean_averages_observed_steps_only() -> None:
    h = torch.arange(12.0).reshape(1, 4, 3)
    observed = torch.tensor([[True, True, False, False]])
    torch.testing.assert_close(masked_mean(h, observed), h[:, :2].mean(dim=1))
    torch.testing.assert_close(masked_mean(h, None), h.mean(dim=1))


def test_transformer_heads_must_divide_width() -> None:
    with pytest.raises(ValueError, match=r"n_heads=3 must divide encoder.d_model=16"):
        build_encoder({**TRANSFORMER, "n_heads": 3})


def test_bidirectional_gru_needs_an_even_width() -> None:
    with pytest.raises(ValueError, match=r"dim=15 must be even"):
        build_encoder({**GRU, "d_model": 15})
