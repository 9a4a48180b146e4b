"""The encoder interface: ``(B, T, C)`` series in, ``(B, T, d_model)`` per-step latents out."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor, nn

from spt.pretrain._config import build_dataclass, to_plain
from spt.pretrain.registry import ENCODERS


@dataclasses.dataclass
class EncoderConfig:
    """Parameters every encoder takes.

    Attributes:
        name: registry name of the encoder.
        d_input: number of channels ``C`` of the series (set it from the data).
        d_model: width of the latents the encoder returns.
    """

    name: str = ""
    d_input: int | None = None
    d_model: int = 64


class BaseEncoder(nn.Module):
    """Base class of registered encoders.

    Subclasses build their layers in ``__init__(config)`` and implement
    ``forward(x, mask=None, padding_mask=None)``:

    - ``x``: ``(B, T, C)`` float series.
    - ``mask``: ``(B, T)`` bool, True where a step is hidden from the encoder (an SSL objective
      hides steps); encoders replace those steps by a learned mask token (``embed`` does it).
    - ``padding_mask``: ``(B, T)`` bool, True where a step is padding (PyTorch's
      ``src_key_padding_mask`` convention); the encoder must not attend to those steps.
    - returns ``(B, T, d_model)``.

    Args:
        config: the encoder's config dataclass.

    Raises:
        ValueError: when ``config.d_input`` is not set.
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        if config.d_input is None or int(config.d_input) < 1:
            raise ValueError(
                f"encoder.d_input={config.d_input!r}: set it to the number of channels C of the "
                f"(B, T, C) series, e.g. encoder.d_input=4"
            )
        self.config = config
        self.d_input = int(config.d_input)
        self.output_dim = int(config.d_model)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, padding_mask: Tensor | None = None
    ) -> Tensor:
        """Encode ``x`` (B, T, C) into (B, T, d_model); see the class docstring."""
        raise NotImplementedError


class MaskTokenEmbedding(nn.Module):
    """Linear input projection, a learned mask token for hidden steps and sinusoidal positions.

    Args:
        d_input: channels of the series.
        d_model: embedding width.
        positions: add sinusoidal position encodings (transformers need them, RNNs do not).
    """

    def __init__(self, d_input: int, d_model: int, *, positions: bool = True) -> None:
        super().__init__()
        self.proj = nn.Linear(d_input, d_model)
        self.mask_token = nn.Parameter(torch.zeros(d_model))
        nn.init.normal_(self.mask_token, std=0.02)
        self.positions = positions
        self.d_model = d_model

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Embed ``x`` (B, T, C) -> (B, T, d_model), mask token where ``mask`` is True."""
        h: Tensor = self.proj(x)  # (B, T, d_model)
        if mask is not None:
            h = torch.where(mask.unsqueeze(-1), self.mask_token.to(h.dtype), h)
        if self.positions:
            h = h + sinusoidal_positions(x.shape[1], self.d_model, h.device, h.dtype)
        return h


def sinusoidal_positions(length: int, dim: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Fixed sine/cosine position encodings of Vaswani et al. (2017), shape ``(length, dim)``."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    pe = torch.zeros(length, dim, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div[: dim // 2])
    return pe.to(dtype)


def masked_mean(h: Tensor, observed: Tensor | None) -> Tensor:
    """Mean of ``h`` (B, T, D) over the observed steps of ``observed`` (B, T) -> (B, D)."""
    if observed is None:
        return h.mean(dim=1)
    weights = observed.to(h.dtype).unsqueeze(-1)  # (B, T, 1)
    return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def encoder_config(config: Any) -> EncoderConfig:
    """Turn an ``encoder`` section (mapping, dataclass or OmegaConf) into its config dataclass.

    Raises:
        ValueError: unknown name (lists the registered ones) or a parameter the encoder does not
            accept (names it and the accepted ones).
    """
    if isinstance(config, EncoderConfig):
        ENCODERS.get(config.name)
        return config
    params = to_plain(config)
    _, config_cls = ENCODERS.get(str(params.get("name", "")))
    result: EncoderConfig = build_dataclass(config_cls, params, f"encoder {params['name']!r}")
    return result


def build_encoder(config: Any) -> BaseEncoder:
    """Build the registered encoder that ``config.name`` selects.

    Args:
        config: the ``encoder`` section: a mapping, a dataclass or an OmegaConf node with ``name``.

    Returns:
        A freshly initialised encoder.

    Examples:
        >>> enc = build_encoder({"name": "gru", "d_input": 3, "d_model": 16})
        >>> enc(torch.randn(2, 10, 3)).shape
        torch.Size([2, 10, 16])
    """
    cfg = encoder_config(config)
    cls, _ = ENCODERS.get(cfg.name)
    encoder: BaseEncoder = cls(cfg)
    return encoder
