"""CLIP: symmetric image-text InfoNCE with a learnable temperature."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses import _distributed
from spt_losses._checks import check_rank, check_same_shape
from spt_losses._precision import compute_dtype


class CLIPLoss(nn.Module):
    """Contrastive image-text loss of CLIP (Radford et al., 2021, "Learning Transferable
    Visual Models From Natural Language Supervision"), Figure 3 of the paper.

    Image and text embeddings are L2-normalised; the logits are their cosine similarities
    times a learned scale `exp(t)`, and the loss is the mean of the cross-entropies over
    images (each image against every text) and over texts (each text against every image),
    the matching pair being the positive:

        logits = exp(t) * normalize(I) @ normalize(T).T        # (B, B)
        loss = (CE(logits, arange(B)) + CE(logits.T, arange(B))) / 2

    The temperature is learned in log space: the parameter `log_scale` holds `t`, initialised
    to `log(1 / temperature)` (`temperature=0.07`, from Wu et al. 2018, as in the paper),
    and the scale is clamped at `max_scale` (100) in the forward pass, "to prevent scaling
    the logits by more than 100": above the clamp `t` receives no gradient. With
    `learn_temperature=False`, `log_scale` is a buffer and the temperature stays fixed.

    Under DDP (`torch.distributed` initialised, world size > 1) both embeddings are gathered
    across ranks with gradient; the local images are contrasted with the texts of the global
    batch and the local texts with its images, the positive of local row `i` on rank `r`
    being global column `r * B + i`. The value returned on a rank is the mean over its own
    rows; its mean over ranks (what DDP's gradient averaging optimises) is the loss of the
    global batch. Every rank must hold the same batch size.

    Computed with autocast disabled, in the embeddings' precision promoted to at least
    float32 (the scale is cast to it).

    Args:
        temperature: initial temperature, > 0. Default 0.07.
        max_scale: largest logit scale `exp(t)`, > 0. Default 100.
        learn_temperature: learn `t` (a parameter) or keep it fixed (a buffer). Default True.

    Shapes:
        - image_embeddings: (B, D).
        - text_embeddings: (B, D), row i the caption of image i.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = CLIPLoss()
        >>> images, texts = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss_fn(images, texts).shape
        torch.Size([])
        >>> round(loss_fn.temperature(), 4)
        0.07
    """

    log_scale: Tensor

    def __init__(
        self,
        temperature: float = 0.07,
        max_scale: float = 100.0,
        learn_temperature: bool = True,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        if not max_scale > 0:
            raise ValueError(f"max_scale must be > 0; got {max_scale}")
        if 1.0 / temperature > max_scale:
            raise ValueError(
                f"the initial scale 1 / temperature = {1.0 / temperature:g} is above "
                f"max_scale={max_scale:g}; raise max_scale or the temperature"
            )
        self.max_scale = float(max_scale)
        self.learn_temperature = bool(learn_temperature)
        initial = torch.tensor(math.log(1.0 / temperature))
        if self.learn_temperature:
            self.log_scale = nn.Parameter(initial)
        else:
            self.register_buffer("log_scale", initial)

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature():.4g}, max_scale={self.max_scale:g}, "
            f"learn_temperature={self.learn_temperature}"
        )

    def logit_scale(self, dtype: torch.dtype | None = None) -> Tensor:
        """The scale of the logits, `min(exp(log_scale), max_scale)`, a 0-dim tensor.

        Args:
            dtype: the precision to compute it in (default: that of `log_scale`).
        """
        log_scale = self.log_scale if dtype is None else self.log_scale.to(dtype)
        return log_scale.exp().clamp(max=self.max_scale)

    def temperature(self) -> float:
        """The current temperature `1 / logit_scale()` as a float (a host sync)."""
        return 1.0 / float(self.logit_scale().detach())

    def forward(self, image_embeddings: Tensor, text_embeddings: Tensor) -> Tensor:
        """Computes the loss.

        Args:
            image_embeddings: (B, D) image embeddings.
            text_embeddings: (B, D) text embeddings of the matching captions.

        Returns:
            Scalar loss.

        Raises:
            ValueError: an input that is not (B, D), or inputs of different shapes.
        """
        check_rank("image_embeddings", image_embeddings, 2, "(B, D)")
        check_rank("text_embeddings", text_embeddings, 2, "(B, D)")
        check_same_shape(
            ["image_embeddings", "text_embeddings"], [image_embeddings, text_embeddings]
        )
        dtype = compute_dtype(image_embeddings, text_embeddings)
        batch = image_embeddings.shape[0]
        with torch.autocast(device_type=image_embeddings.device.type, enabled=False):
            images = F.normalize(image_embeddings.to(dtype), dim=1)  # (B, D)
            texts = F.normalize(text_embeddings.to(dtype), dim=1)  # (B, D)
            all_images = _distributed.gather(images)  # (W*B, D), rank-major
            all_texts = _distributed.gather(texts)  # (W*B, D)
            scale = self.logit_scale(dtype)
            # scaling the (B, D) queries is cheaper than scaling the (B, W*B) logits
            logits_per_image = (scale * images) @ all_texts.T  # (B, W*B)
            logits_per_text = (scale * texts) @ all_images.T  # (B, W*B)
            labels = _distributed.rank() * batch + torch.arange(batch, device=images.device)
            loss_images = F.cross_entropy(logits_per_image, labels)
            loss_texts = F.cross_entropy(logits_per_text, labels)
        return (loss_images + loss_texts) / 2
