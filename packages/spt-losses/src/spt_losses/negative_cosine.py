"""Negative cosine similarity, the BYOL / SimSiam objective."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses._checks import check_rank, check_same_shape
from spt_losses._precision import compute_dtype


class NegativeCosineSimilarity(nn.Module):
    """Negative cosine similarity between predictions and targets, as in SimSiam (Chen &
    He, 2021, "Exploring Simple Siamese Representation Learning") and, up to the affine
    map `2 - 2 cos`, BYOL (Grill et al., 2020, "Bootstrap Your Own Latent").

    The loss is `-mean_i cos(p_i, z_i)`, in [-1, 1]. The target `z` is used as given: the
    caller detaches it (stop-gradient) and symmetrises over views. The loss is a mean over
    samples, so under DDP its mean over ranks is the loss of the global batch with no
    communication. Computed in the inputs' precision promoted to at least float32.

    Args:
        eps: small value that guards the norms, as in `F.cosine_similarity`. Default 1e-8.

    Shapes:
        - p: (B, D) predictions.
        - z: (B, D) targets.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = NegativeCosineSimilarity()
        >>> p, z = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss_fn(p, z.detach()).shape
        torch.Size([])
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, p: Tensor, z: Tensor) -> Tensor:
        """Computes the loss.

        Args:
            p: (B, D) predictions.
            z: (B, D) targets (detached by the caller).

        Returns:
            Scalar loss.

        Raises:
            ValueError: `p` or `z` is not (B, D), or their shapes differ.
        """
        check_rank("p", p, 2, "(B, D)")
        check_rank("z", z, 2, "(B, D)")
        check_same_shape(["p", "z"], [p, z])
        dtype = compute_dtype(p, z)
        return -F.cosine_similarity(p.to(dtype), z.to(dtype), dim=1, eps=self.eps).mean()
