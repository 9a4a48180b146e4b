"""A small convolutional encoder for 8x8 to 32x32 images, fast enough for a CPU."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Three conv blocks (conv, batch norm, ReLU, 2x down-sampling after the first two) and pooling.

    Args:
        in_channels: Image channels (3 for RGB, 1 for gray).
        width: Channels of the first block; the next blocks use 2x and 4x.
        embed_dim: Output features; a linear layer maps the pooled ``4 * width`` to it
            (``None`` keeps ``4 * width``).

    Shapes:
        ``(B, in_channels, H, W) -> (B, embed_dim)`` for any ``H, W >= 4``.

    Examples:
        >>> SmallCNN(3, width=16, embed_dim=64)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 64])
    """

    def __init__(self, in_channels: int = 3, width: int = 32, embed_dim: int | None = 128) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

        self.features = nn.Sequential(
            block(in_channels, width, 1),
            block(width, 2 * width, 2),
            block(2 * width, 4 * width, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc: nn.Module = nn.Identity() if embed_dim is None else nn.Linear(4 * width, embed_dim)
        self.embed_dim = 4 * width if embed_dim is None else embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch of images: ``(B, C, H, W) -> (B, embed_dim)``."""
        embedding: torch.Tensor = self.fc(self.features(x))
        return embedding
