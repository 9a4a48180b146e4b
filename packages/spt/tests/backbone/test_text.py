"""spt.backbone.ByteTokenizer and TextTransformer: the ids, the attention masks and the pooling."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

from spt.backbone import ByteTokenizer, TextTransformer

TEXTS = ["a photo of the digit seven", "one", "a handwritten 3"]


def _encoder(causal: bool = True, pool: str = "eot", context_length: int = 32) -> TextTransformer:
    torch.manual_seed(0)
    return TextTransformer(
        context_length=context_length, dim=16, depth=2, heads=2, causal=causal, pool=pool
    ).eval()


def test_tokenizer_brackets_the_bytes_and_pads_on_the_right() -> None:
    tokens = ByteTokenizer(context_length=8)("ab")
    assert tokens.dtype == torch.long
    assert tokens.tolist() == [257, ord("a") + 1, ord("b") + 1, 258, 0, 0, 0, 0]


def test_tokenizer_round_trips_utf8_text() -> None:
    tokenizer = ByteTokenizer(context_length=16)
    for text in ["zéro", "nine", ""]:
        assert tokenizer.decode(tokenizer(text)) == text
    batch = tokenizer(["zéro", "nine"])
    assert batch.shape == (2, 16)
    assert [tokenizer.decode(row) for row in batch] == ["zéro", "nine"]
    assert int((batch[0] != 0).sum()) == len("zéro".encode()) + 2  # é is two bytes


def test_tokenizer_rejects_a_text_too_long_unless_truncating() -> None:
    with pytest.raises(ValueError, match=r"'abcdef' is 6 bytes, more than the 4 .* truncate=True"):
        ByteTokenizer(context_length=6)("abcdef")
    tokens = ByteTokenizer(context_length=6, truncate=True)("abcdef")
    assert tokens.tolist() == [257, *(ord(c) + 1 for c in "abcd"), 258]


@pytest.mark.parametrize(("value", "match"), [(2, "context_length >= 3"), (7.0, "an int")])
def test_tokenizer_rejects_a_bad_context_length(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ByteTokenizer(context_length=value)  # type: ignore[arg-type]


def test_tokenizer_rejects_what_is_not_text() -> None:
    with pytest.raises(TypeError, match="expected a str, got int"):
        ByteTokenizer()([7])  # type: ignore[list-item]


def test_output_is_one_feature_per_text() -> None:
    tokens = ByteTokenizer(32)(TEXTS)
    assert _encoder()(tokens).shape == (3, 16)
    assert _encoder().embed_dim == 16


@pytest.mark.parametrize("causal", [True, False])
def test_eot_pooling_takes_the_last_token_that_is_not_padding(causal: bool) -> None:
    encoder = _encoder(causal)
    tokens = ByteTokenizer(32)(TEXTS)
    features = encoder.encode_tokens(tokens)
    eot = (tokens == ByteTokenizer.eot_id).nonzero()  # (row, position) of each end token
    expected = features[eot[:, 0], eot[:, 1]]
    torch.testing.assert_close(encoder(tokens), expected)


@pytest.mark.parametrize(("causal", "pool"), [(True, "eot"), (False, "eot"), (False, "mean")])
def test_padding_does_not_change_the_output(causal: bool, pool: str) -> None:
    encoder = _encoder(causal, pool)
    tokens = ByteTokenizer(32)(TEXTS)
    shortest = int((tokens != 0).sum(dim=1).max())
    torch.testing.assert_close(encoder(tokens[:, :shortest]), encoder(tokens), atol=1e-6, rtol=0)


def test_causal_features_do_not_see_later_tokens() -> None:
    tokenizer = ByteTokenizer(32)
    same_start = tokenizer(["a photo of the digit one", "a photo of the digit two"])
    prefix = len("a photo of the digit ") + 1  # the start token and the shared bytes
    for causal in (True, False):
        features = _encoder(causal).encode_tokens(same_start)
        gap = (features[0, :prefix] - features[1, :prefix]).abs().max().item()
        if causal:
            assert gap < 1e-6
        else:
            assert gap > 1e-4  # without the mask the first tokens see the last ones


def test_mean_pooling_averages_the_tokens_that_are_not_padding() -> None:
    encoder = _encoder(causal=False, pool="mean")
    tokens = ByteTokenizer(32)(TEXTS)
    features = encoder.encode_tokens(tokens)
    expected = torch.stack([features[i, tokens[i] != 0].mean(dim=0) for i in range(len(TEXTS))])
    torch.testing.assert_close(encoder(tokens), expected)


@pytest.mark.parametrize("causal", [True, False])
def test_eval_and_train_modes_agree_without_dropout(causal: bool) -> None:
    encoder = _encoder(causal)
    tokens = ByteTokenizer(32)(TEXTS)
    with torch.no_grad():
        evaluated = encoder.eval()(tokens)
        trained = encoder.train()(tokens)
    torch.testing.assert_close(evaluated, trained, atol=1e-5, rtol=1e-5)


def test_runs_in_float64_with_gradients() -> None:
    encoder = _encoder().double().train()
    out = encoder(ByteTokenizer(32)(TEXTS))
    assert out.dtype == torch.float64
    out.sum().backward()
    assert encoder.token_embed.weight.grad is not None
    assert encoder.pos_embed.grad is not None


@pytest.mark.parametrize(
    ("tokens", "match"),
    [
        (torch.zeros(2, 8), r"integer token ids of shape \(B, L\), got \(2, 8\) torch.float32"),
        (torch.zeros(8, dtype=torch.long), r"of shape \(B, L\), got \(8,\)"),
        (torch.zeros(2, 40, dtype=torch.long), "40 tokens per text, more than context_length=32"),
    ],
)
def test_bad_token_ids_are_rejected(tokens: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _encoder()(tokens)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pool": "cls"}, r"pool='cls'; use one of \['eot', 'mean'\]"),
        ({"dim": 10, "heads": 4}, "dim=10 is not divisible by heads=4"),
        ({"context_length": 0}, "context_length=0 must be >= 1"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TextTransformer(**kwargs)  # type: ignore[arg-type]


def test_docstring_examples_run() -> None:
    module = importlib.import_module("spt.backbone.text")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
