"""A byte-level tokenizer and a small text transformer: CLIP's text encoder (Radford et al.)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spt.backbone.timeseries import masked_mean

__all__ = ["ByteTokenizer", "TextTransformer"]

_POOLS = ("eot", "mean")


class ByteTokenizer:
    """Text as its UTF-8 bytes, between a start and an end-of-text token, padded to a length.

    Token ids: ``0`` is padding, byte ``b`` is ``b + 1``, then ``sot_id = 257`` and
    ``eot_id = 258`` (``vocab_size = 259``). Every text becomes ``[sot, bytes..., eot, pad...]``
    of ``context_length`` ids, as CLIP brackets its text with start and end tokens; the
    vocabulary is fixed, so nothing is learned or downloaded. A text too long for the
    context is an error, or with ``truncate=True`` is cut and still ends with ``eot``.

    Args:
        context_length: Ids per text, start and end tokens included (>= 3).
        truncate: Cut texts that are too long instead of raising.

    Raises:
        ValueError: ``context_length`` below 3; (on call) a text too long for the context
            without ``truncate``.

    Examples:
        >>> tokenizer = ByteTokenizer(context_length=8)
        >>> tokenizer("hi")
        tensor([257, 105, 106, 258,   0,   0,   0,   0])
        >>> tokenizer(["a", "bc"]).shape
        torch.Size([2, 8])
        >>> tokenizer.decode(tokenizer("hi"))
        'hi'
    """

    pad_id = 0
    sot_id = 257
    eot_id = 258
    vocab_size = 259

    def __init__(self, context_length: int = 77, truncate: bool = False) -> None:
        if isinstance(context_length, bool) or not isinstance(context_length, int):
            raise ValueError(
                f"ByteTokenizer: context_length must be an int, got {context_length!r}"
            )
        if context_length < 3:
            raise ValueError(
                f"ByteTokenizer: context_length={context_length} leaves no room for text "
                "between the start and end tokens; pass context_length >= 3"
            )
        self.context_length = context_length
        self.truncate = bool(truncate)

    def __repr__(self) -> str:
        return f"ByteTokenizer(context_length={self.context_length}, truncate={self.truncate})"

    def encode(self, text: str) -> list[int]:
        """The ids of one text, without padding: ``[sot, bytes + 1..., eot]``."""
        if not isinstance(text, str):
            raise TypeError(f"ByteTokenizer: expected a str, got {type(text).__name__}")
        ids = [b + 1 for b in text.encode("utf-8")]
        room = self.context_length - 2
        if len(ids) > room:
            if not self.truncate:
                raise ValueError(
                    f"ByteTokenizer: {text!r} is {len(ids)} bytes, more than the "
                    f"{room} that context_length={self.context_length} holds; raise "
                    "context_length or pass truncate=True"
                )
            ids = ids[:room]
        return [self.sot_id, *ids, self.eot_id]

    def __call__(self, text: str | Sequence[str]) -> torch.Tensor:
        """Token ids: a str to ``(context_length,)``, N texts to ``(N, context_length)``.

        Returns:
            int64 ids, right-padded with ``pad_id``.
        """
        texts = [text] if isinstance(text, str) else list(text)
        out = torch.full((len(texts), self.context_length), self.pad_id, dtype=torch.long)
        for row, item in enumerate(texts):
            ids = self.encode(item)
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out[0] if isinstance(text, str) else out

    def decode(self, tokens: torch.Tensor | Sequence[int]) -> str:
        """The text of one row of ids (special tokens and padding dropped)."""
        ids = tokens.tolist() if isinstance(tokens, torch.Tensor) else list(tokens)
        data = bytes(i - 1 for i in ids if 1 <= i <= 256)
        return data.decode("utf-8", errors="replace")


class TextTransformer(nn.Module):
    """Token and position embeddings, a pre-norm transformer, a final layer norm and pooling.

    CLIP's text encoder (Radford et al. 2021, section 2.4) at any size: with ``causal=True``
    (the paper's masked self-attention) every token attends to itself and the tokens before
    it, and ``pool="eot"`` takes the layer-normalised feature of the last token that is not
    padding (the end-of-text token of :class:`ByteTokenizer`), which has seen the whole
    text. With ``causal=False`` every token attends to every non-padding token; ``pool="mean"``
    averages the non-padding tokens. Padding must be on the right, as the tokenizer puts it.
    The paper's base encoder is ``dim=512, depth=12, heads=8`` over 76 to 77 tokens; the
    projection to the joint embedding space is the method's (see :func:`spt.methods.clip`).

    Args:
        vocab_size: Number of token ids (``ByteTokenizer.vocab_size``).
        context_length: Longest sequence (learned positions exist up to it).
        dim: Token width, the output width.
        depth: Transformer blocks.
        heads: Attention heads.
        mlp_ratio: Hidden width of the MLP relative to ``dim``.
        dropout: Dropout inside the blocks.
        causal: Masked (causal) self-attention.
        pool: ``"eot"`` (the feature of the last non-padding token) or ``"mean"``.
        pad_id: The padding id (``ByteTokenizer.pad_id``).

    Shapes:
        ``forward``: ids ``(B, L)`` with ``L <= context_length`` -> ``(B, dim)``.
        ``encode_tokens``: ids ``(B, L)`` -> per-token features ``(B, L, dim)``.

    Examples:
        >>> tokenizer = ByteTokenizer(context_length=16)
        >>> encoder = TextTransformer(context_length=16, dim=32, depth=1, heads=2)
        >>> encoder(tokenizer(["a photo of a 7", "a digit"])).shape
        torch.Size([2, 32])
    """

    def __init__(
        self,
        vocab_size: int = ByteTokenizer.vocab_size,
        context_length: int = 77,
        dim: int = 512,
        depth: int = 12,
        heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        causal: bool = True,
        pool: str = "eot",
        pad_id: int = ByteTokenizer.pad_id,
    ) -> None:
        super().__init__()
        if pool not in _POOLS:
            raise ValueError(f"TextTransformer: pool={pool!r}; use one of {list(_POOLS)}")
        for name, value in [("vocab_size", vocab_size), ("context_length", context_length)]:
            if value < 1:
                raise ValueError(f"TextTransformer: {name}={value} must be >= 1")
        if dim % heads:
            raise ValueError(f"TextTransformer: dim={dim} is not divisible by heads={heads}")
        self.vocab_size = vocab_size
        self.context_length = context_length
        self.embed_dim = dim
        self.causal = bool(causal)
        self.pool = pool
        self.pad_id = pad_id
        self.token_embed = nn.Embedding(vocab_size, dim)
        self.pos_embed = nn.Parameter(torch.empty(1, context_length, dim))
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.01)
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            int(dim * mlp_ratio),
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def _check(self, tokens: torch.Tensor) -> None:
        if tokens.ndim != 2 or tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
            raise ValueError(
                f"TextTransformer: expected integer token ids of shape (B, L), got "
                f"{tuple(tokens.shape)} {tokens.dtype}; tokenize the text first "
                "(spt.backbone.ByteTokenizer)"
            )
        if tokens.shape[1] > self.context_length:
            raise ValueError(
                f"TextTransformer: {tokens.shape[1]} tokens per text, more than "
                f"context_length={self.context_length}; tokenize with that context_length"
            )

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-token features after the final layer norm: ``(B, L) -> (B, L, dim)``."""
        self._check(tokens)
        length = tokens.shape[1]
        x = self.token_embed(tokens) + self.pos_embed[:, :length]  # (B, L, dim)
        padding = tokens == self.pad_id  # (B, L)
        if self.causal:
            # padding sits after the text, so no text token can see it: the mask is enough
            mask = torch.ones(length, length, dtype=torch.bool, device=tokens.device).triu(1)
            x = self.blocks(x, mask=mask, is_causal=True)
        else:
            # a row that is all padding would attend to nothing (NaN); let it attend to all
            ignored = padding & ~padding.all(dim=1, keepdim=True)
            x = self.blocks(x, src_key_padding_mask=ignored)
        out: torch.Tensor = self.norm(x)
        return out

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embed token ids: ``(B, L) -> (B, dim)`` by the pooling of ``pool``."""
        features = self.encode_tokens(tokens)
        keep = tokens != self.pad_id  # (B, L)
        if self.pool == "mean":
            return masked_mean(features, keep)
        last = (keep.sum(dim=1) - 1).clamp(min=0)  # (B,) position of the end-of-text token
        return features[torch.arange(features.shape[0], device=features.device), last]
