"""Vision Transformers (ViT, Dosovitskiy et al. 2021) with a token API for masked methods.

``VisionTransformer.forward(images)`` is the normalised class token ``(B, D)`` that probes,
kNN and evaluation read. ``forward_tokens(images, mask, mask_mode=...)`` is what masked
methods build on: the class, register and patch tokens after the final norm, with masked
patches either dropped before the blocks (MAE, I-JEPA's context encoder) or replaced by a
learned mask token (iBOT, DINOv2).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from spt.backbone._vit_blocks import Block
from spt.backbone.patches import patchify, unpatchify
from spt.backbone.pos_embed import interpolate_pos_embed, sincos_pos_embed_2d

__all__ = [
    "ViTOutput",
    "VisionTransformer",
    "patchify",
    "unpatchify",
    "vit_base",
    "vit_small",
    "vit_tiny",
]

MaskMode = Literal["drop", "token"]


class ViTOutput(NamedTuple):
    """The tokens of :meth:`VisionTransformer.forward_tokens`, all after the final norm.

    Attributes:
        cls_token: ``(B, D)`` the class token; without one (``class_token=False``), the mean
            of ``patch_tokens``.
        patch_tokens: ``(B, N_out, D)``: ``N_out = N`` (every patch, row-major order) unless
            patches were dropped; then ``N_out = K`` in the order of ``kept_idx``.
        register_tokens: ``(B, R, D)`` (``R = num_registers``, possibly 0).
        kept_idx: ``(B, K)`` long, the patch index (row-major, in ``[0, N)``) of each row
            of ``patch_tokens`` when patches were dropped, else ``None``.
        grid_size: ``(h, w)`` patch grid of the input images (``N = h * w``).
    """

    cls_token: Tensor
    patch_tokens: Tensor
    register_tokens: Tensor
    kept_idx: Tensor | None
    grid_size: tuple[int, int]


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


class VisionTransformer(nn.Module):
    """A ViT encoder: patch embedding, class and register tokens, pre-norm blocks, final norm.

    The sequence through the blocks is ``[class token, registers, patches]``. Position
    embeddings are added to the class token and the patches, not to the registers (DINOv2
    with registers, Darcet et al. 2024). For an input whose patch grid differs from the
    built one (multi-crop local views, other resolutions), the patch position embeddings are
    interpolated bicubically (:func:`spt.backbone.pos_embed.interpolate_pos_embed`).

    Args:
        img_size: Input side, or ``(H, W)``, the position embeddings are built for.
        patch_size: Patch side; divides ``img_size``.
        in_channels: Image channels.
        dim: Token width (``embed_dim``).
        depth: Transformer blocks (``blocks``, an ``nn.ModuleList``: FSDP2 shards per block).
        heads: Attention heads.
        mlp_ratio: Hidden width of the MLP relative to ``dim``.
        dropout: Dropout after attention and inside the MLP.
        num_registers: Register tokens (Darcet et al. 2024); 0 for none.
        pos_embed: ``"learnable"`` (ViT, DINO) or ``"sincos"``: the fixed 2-D sin-cos
            embedding of MAE and I-JEPA (a buffer; the class token's is zero).
        class_token: Prepend a learned class token; without it ``forward`` returns the mean
            of the patch tokens.
        mask_token: Create the learned ``mask_token`` that ``mask_mode="token"`` needs
            (iBOT, DINOv2). Off by default: an unused parameter breaks DDP.
        drop_path_rate: Stochastic depth, rising linearly from 0 to this over the blocks.
        layer_scale: Initial LayerScale of every branch (DINOv2: 1e-5); ``None`` for none.
        qkv_bias: Bias on the attention's input projections.
        weight_init: Linear weights drawn from ``"trunc_normal"`` (std 0.02: ViT, DINO,
            iBOT, I-JEPA) or ``"xavier"`` uniform (MAE, He et al. 2022, appendix A.1);
            biases zero either way.

    Attributes:
        patch_size: Patch side.
        grid_size: ``(h, w)`` patches of an ``img_size`` input.
        num_patches: ``h * w``.
        embed_dim: ``dim``.
        num_registers: Register tokens.

    Shapes:
        ``forward``: ``(B, C, H, W) -> (B, dim)``.
        ``forward_tokens``: ``(B, C, H, W) ->`` :class:`ViTOutput`.
        ``get_last_selfattention``: ``(B, C, H, W) -> (B, heads, T, T)`` with
        ``T = class_token + num_registers + N_out``.

    Examples:
        >>> vit = VisionTransformer(16, 4, in_channels=1, dim=32, depth=1, heads=2)
        >>> out = vit.forward_tokens(torch.randn(2, 1, 16, 16))
        >>> out.cls_token.shape, out.patch_tokens.shape
        (torch.Size([2, 32]), torch.Size([2, 16, 32]))
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        dim: int = 192,
        depth: int = 12,
        heads: int = 3,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        *,
        num_registers: int = 0,
        pos_embed: Literal["learnable", "sincos"] = "learnable",
        class_token: bool = True,
        mask_token: bool = False,
        drop_path_rate: float = 0.0,
        layer_scale: float | None = None,
        qkv_bias: bool = True,
        weight_init: Literal["trunc_normal", "xavier"] = "trunc_normal",
    ) -> None:
        super().__init__()
        size = _pair(img_size)
        if size[0] % patch_size or size[1] % patch_size:
            raise ValueError(
                f"VisionTransformer: img_size={img_size} is not divisible by "
                f"patch_size={patch_size}; pick a patch size that divides it"
            )
        if pos_embed not in ("learnable", "sincos"):
            raise ValueError(
                f"VisionTransformer: pos_embed={pos_embed!r}; use 'learnable' or 'sincos'"
            )
        if weight_init not in ("trunc_normal", "xavier"):
            raise ValueError(
                f"VisionTransformer: weight_init={weight_init!r}; use 'trunc_normal' or 'xavier'"
            )
        if num_registers < 0:
            raise ValueError(f"VisionTransformer: num_registers={num_registers} must be >= 0")
        self.patch_size = patch_size
        self.grid_size = (size[0] // patch_size, size[1] // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.embed_dim = dim
        self.num_registers = num_registers
        self.pos_embed_type = pos_embed
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        prefix = 1 if class_token else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if class_token else None
        self.register_tokens = (
            nn.Parameter(torch.zeros(1, num_registers, dim)) if num_registers else None
        )
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim)) if mask_token else None
        self.pos_embed: Tensor
        if pos_embed == "sincos":
            table = sincos_pos_embed_2d(dim, self.grid_size)
            table = torch.cat([torch.zeros(prefix, dim), table]).unsqueeze(0)
            self.register_buffer("pos_embed", table)
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, prefix + self.num_patches, dim))
        rates = torch.linspace(0.0, drop_path_rate, depth).tolist() if depth else []
        self.blocks = nn.ModuleList(
            Block(dim, heads, mlp_ratio, dropout, rate, layer_scale, qkv_bias) for rate in rates
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self._init_weights(weight_init)

    def _init_weights(self, weight_init: str) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                if weight_init == "xavier":
                    nn.init.xavier_uniform_(module.weight)
                else:
                    nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # the patch embedding as a linear layer on flattened patches (MAE)
        nn.init.xavier_uniform_(self.patch_embed.weight.view(self.embed_dim, -1))
        for token in (self.cls_token, self.register_tokens):
            if token is not None:
                nn.init.trunc_normal_(token, std=0.02)
        if isinstance(self.pos_embed, nn.Parameter):
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def _grid_of(self, images: Tensor) -> tuple[int, int]:
        if images.ndim != 4:
            raise ValueError(
                f"VisionTransformer: images must be (B, C, H, W); got shape {tuple(images.shape)}"
            )
        H, W = images.shape[-2:]
        if H % self.patch_size or W % self.patch_size:
            raise ValueError(
                f"VisionTransformer: image size {H}x{W} is not divisible by "
                f"patch_size={self.patch_size}; crop or resize to a multiple of it"
            )
        return (H // self.patch_size, W // self.patch_size)

    def _kept_indices(self, mask: Tensor, batch: int, num_patches: int) -> Tensor:
        """``(B, K)`` long indices of the patches to keep, from a boolean mask or indices."""
        if mask.dtype == torch.bool:
            if mask.shape != (batch, num_patches):
                raise ValueError(
                    f"VisionTransformer: mask has shape {tuple(mask.shape)}; a boolean mask "
                    f"must be (B, N) = ({batch}, {num_patches}) with True = masked"
                )
            kept = (~mask).sum(dim=1)
            low, high = torch.stack([kept.min(), kept.max()]).tolist()  # one host sync
            if low != high:
                raise ValueError(
                    "VisionTransformer: mask_mode='drop' needs the same number of kept "
                    f"patches in every sample; the mask keeps between {low} and {high} of "
                    f"{num_patches}. Mask the same count per sample, or pass kept indices "
                    "(B, K) long"
                )
            # stable sort puts the kept (False) positions first, in increasing order
            return mask.to(torch.uint8).argsort(dim=1, stable=True)[:, : int(low)]
        if mask.dtype in (torch.int64, torch.int32):
            if mask.ndim != 2 or mask.shape[0] != batch or mask.shape[1] > num_patches:
                raise ValueError(
                    f"VisionTransformer: kept indices have shape {tuple(mask.shape)}; they "
                    f"must be (B, K) = ({batch}, K <= {num_patches})"
                )
            return mask.long()
        raise TypeError(
            f"VisionTransformer: mask has dtype {mask.dtype}; pass a boolean mask (B, N) with "
            "True = masked, or for mask_mode='drop' kept patch indices (B, K) long"
        )

    def _prepare_tokens(
        self, images: Tensor, mask: Tensor | None, mask_mode: str
    ) -> tuple[Tensor, Tensor | None, tuple[int, int]]:
        """The sequence ``[class, registers, patches]`` before the blocks, ``kept_idx``, grid."""
        if mask_mode not in ("drop", "token"):
            raise ValueError(
                f"VisionTransformer: mask_mode={mask_mode!r}; use 'drop' (remove masked "
                "patches) or 'token' (replace them by the mask token)"
            )
        grid = self._grid_of(images)
        x = self.patch_embed(images).flatten(2).transpose(1, 2)  # (B, N, D)
        B, N, D = x.shape
        if mask is not None and mask_mode == "token":
            if self.mask_token is None:
                raise ValueError(
                    "VisionTransformer: mask_mode='token' needs the learned mask token; "
                    "build the ViT with mask_token=True"
                )
            if mask.dtype != torch.bool or mask.shape != (B, N):
                raise ValueError(
                    f"VisionTransformer: mask_mode='token' needs a boolean mask (B, N) = "
                    f"({B}, {N}); got {mask.dtype} of shape {tuple(mask.shape)}"
                )
            x = torch.where(mask.unsqueeze(-1), self.mask_token.to(x.dtype), x)
        prefix = 1 if self.cls_token is not None else 0
        pos = self.pos_embed
        x = x + interpolate_pos_embed(pos[:, prefix:], self.grid_size, grid)
        kept_idx = None
        if mask is not None and mask_mode == "drop":
            kept_idx = self._kept_indices(mask, B, N)
            x = torch.gather(x, 1, kept_idx.unsqueeze(-1).expand(-1, -1, D))  # (B, K, D)
        parts = []
        if self.cls_token is not None:
            parts.append((self.cls_token + pos[:, :1]).expand(B, -1, -1))
        if self.register_tokens is not None:
            parts.append(self.register_tokens.expand(B, -1, -1))
        sequence = torch.cat([*(p.to(x.dtype) for p in parts), x], dim=1)  # (B, T, D)
        return sequence, kept_idx, grid

    def forward(
        self,
        images: Tensor,
        mask: Tensor | None = None,
        *,
        mask_mode: MaskMode = "drop",
        output: Literal["cls", "tokens", "attention"] = "cls",
    ) -> Any:
        """Embed images; by default ``(B, C, H, W) -> (B, dim)``, the normalised class token.

        Every entry point (:meth:`forward_tokens`, :meth:`get_last_selfattention`) comes
        through here, so module hooks, and FSDP2's unsharding of the patch embedding,
        tokens and final norm, apply to all of them.

        Args:
            images: ``(B, C, H, W)``.
            mask: As in :meth:`forward_tokens`.
            mask_mode: As in :meth:`forward_tokens`.
            output: ``"cls"``: the class token ``(B, dim)``; ``"tokens"``: a
                :class:`ViTOutput`; ``"attention"``: the last block's attention weights.
        """
        if output not in ("cls", "tokens", "attention"):
            raise ValueError(
                f"VisionTransformer: output={output!r}; use 'cls', 'tokens' or 'attention'"
            )
        if output == "attention" and not self.blocks:
            raise ValueError("VisionTransformer: depth=0 has no attention to return")
        x, kept_idx, grid = self._prepare_tokens(images, mask, mask_mode)
        last = len(self.blocks) - 1 if output == "attention" else len(self.blocks)
        for block in self.blocks[:last]:
            x = block(x)
        if output == "attention":
            _, attention = self.blocks[last](x, return_attention=True)
            return attention
        tokens = self._split(self.norm(x), kept_idx, grid)
        return tokens if output == "tokens" else tokens.cls_token

    def forward_tokens(
        self, images: Tensor, mask: Tensor | None = None, *, mask_mode: MaskMode = "drop"
    ) -> ViTOutput:
        """Encode images to class, register and patch tokens, optionally masked.

        Args:
            images: ``(B, C, H, W)``; ``H`` and ``W`` multiples of ``patch_size`` (other
                sizes than ``img_size`` interpolate the position embeddings).
            mask: ``None`` (every patch), a boolean ``(B, N)`` with True = masked, or, for
                ``mask_mode="drop"`` only, the kept patch indices ``(B, K)`` long (row-major
                indices in ``[0, N)``, kept in the given order; no host sync, the cheaper
                form for I-JEPA's context blocks and MAE's random shuffles).
            mask_mode: ``"drop"``: masked patches are removed after their position
                embedding, before the blocks; every sample keeps the same count ``K``
                (a boolean mask costs one host sync to check it). ``"token"``: masked patch
                embeddings are replaced by ``mask_token`` before the position embedding,
                ``N`` is kept.

        Returns:
            :class:`ViTOutput`; ``kept_idx`` is set when ``mask_mode="drop"`` and a mask
            was given (a boolean mask gives the kept indices in increasing order).

        Raises:
            ValueError: On a mask of the wrong shape, unequal kept counts with
                ``"drop"``, ``"token"`` without ``mask_token=True``, an unknown mode, or
                images not divisible into patches.
            TypeError: On a mask that is neither boolean nor long indices.
        """
        tokens: ViTOutput = self(images, mask, mask_mode=mask_mode, output="tokens")
        return tokens

    def _split(self, x: Tensor, kept_idx: Tensor | None, grid: tuple[int, int]) -> ViTOutput:
        prefix = 1 if self.cls_token is not None else 0
        registers = x[:, prefix : prefix + self.num_registers]
        patches = x[:, prefix + self.num_registers :]
        cls = x[:, 0] if prefix else patches.mean(dim=1)
        return ViTOutput(cls, patches, registers, kept_idx, grid)

    def get_last_selfattention(
        self, images: Tensor, mask: Tensor | None = None, *, mask_mode: MaskMode = "drop"
    ) -> Tensor:
        """Attention weights of the last block, as DINO shows them.

        Args:
            images: ``(B, C, H, W)``.
            mask: As in :meth:`forward_tokens`.
            mask_mode: As in :meth:`forward_tokens`.

        Returns:
            ``(B, heads, T, T)``, rows summing to 1, over the sequence ``[class token,
            registers, patches]``; the class token's attention to the patches is
            ``[:, :, 0, 1 + num_registers:]``.

        Raises:
            ValueError: If the ViT has no blocks.
        """
        attention: Tensor = self(images, mask, mask_mode=mask_mode, output="attention")
        return attention


def vit_tiny(patch_size: int = 16, img_size: int = 224, **kwargs: Any) -> VisionTransformer:
    """ViT-Tiny: width 192, 12 blocks, 3 heads."""
    return VisionTransformer(img_size, patch_size, dim=192, depth=12, heads=3, **kwargs)


def vit_small(patch_size: int = 16, img_size: int = 224, **kwargs: Any) -> VisionTransformer:
    """ViT-Small: width 384, 12 blocks, 6 heads."""
    return VisionTransformer(img_size, patch_size, dim=384, depth=12, heads=6, **kwargs)


def vit_base(patch_size: int = 16, img_size: int = 224, **kwargs: Any) -> VisionTransformer:
    """ViT-Base: width 768, 12 blocks, 12 heads."""
    return VisionTransformer(img_size, patch_size, dim=768, depth=12, heads=12, **kwargs)
