"""SupCon: the supervised contrastive loss, every other view of the same class a positive."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses import _distributed, _similarity
from spt_losses._checks import check_rank, check_same_shape
from spt_losses._precision import compute_dtype


class SupConLoss(nn.Module):
    """Supervised contrastive loss (Khosla et al., 2020, "Supervised Contrastive Learning"),
    the paper's `L_out` form (the mean over positives outside the log).

    The V views of B samples give N = V * B L2-normalised anchors. For anchor `i` the
    candidates `A(i)` are all other rows, the positives `P(i)` those of `A(i)` with the
    label of `i`; its loss is
    `-1/|P(i)| * sum_{p in P(i)} log(exp(z_i.z_p / t) / sum_{a in A(i)} exp(z_i.z_a / t))`
    and the result is the mean over the anchors that have a positive (with two or more
    views, every anchor: the other views of its own sample are positives, so a class with
    one sample is fine). With no positive in the whole batch the loss is 0. Without labels,
    each sample is its own class, which is SimCLR's NT-Xent over the V views.

    The paper's code scales the loss by `t / 0.07` (its "base temperature"); this loss does
    not, so its gradients match the formula above (scale it yourself to port a recipe).

    Under DDP (`torch.distributed` initialised, world size > 1) the local anchors are
    compared with the rows and labels of the global batch, gathered with gradient for the
    rows. The value returned on a rank is the sum over its anchors divided by the mean
    number of anchors with a positive per rank, so its mean over ranks (what DDP's gradient
    averaging optimises) is the loss of the global batch. Every rank must hold the same
    batch size. Computed in the views' precision promoted to at least float32.

    Args:
        temperature: softmax temperature, > 0. Default 0.1 (the paper's).

    Shapes:
        - views: V >= 1 tensors of shape (B, D), one per view, row i of each from sample i.
        - labels: (B,) integer class of each sample (shared by its views), or None.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = SupConLoss(temperature=0.1)
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
        >>> loss_fn(z1, z2, labels=labels).shape
        torch.Size([])
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        self.temperature = float(temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(self, *views: Tensor, labels: Tensor | None = None) -> Tensor:
        """Computes the loss.

        Args:
            *views: one or more (B, D) embeddings of the same B samples.
            labels: (B,) integer labels; None makes each sample its own class.

        Returns:
            Scalar loss.

        Raises:
            ValueError: no view, a view that is not (B, D), views of different shapes, or
                labels that are not (B,) integers.
        """
        if not views:
            raise ValueError("SupConLoss needs at least one view, e.g. loss(z1, z2, labels=y)")
        names = [f"view {i}" for i in range(len(views))]
        for name, z in zip(names, views, strict=True):
            check_rank(name, z, 2, "(B, D)")
        check_same_shape(names, views)
        n_views, batch = len(views), views[0].shape[0]
        if labels is None:  # each sample its own class: global sample indices
            labels = torch.arange(batch, device=views[0].device) + _distributed.rank() * batch
        else:
            labels = torch.as_tensor(labels, device=views[0].device)
            if labels.shape != (batch,) or labels.is_floating_point() or labels.is_complex():
                raise ValueError(
                    f"labels must be integer class indices of shape (B,) = ({batch},); got "
                    f"{labels.dtype} of shape {tuple(labels.shape)}"
                )

        z = torch.cat([F.normalize(v, dim=1) for v in views])  # (V*B, D), view-major
        n_local = n_views * batch
        anchor_labels = labels.repeat(n_views)  # (V*B,)
        keys = _distributed.gather(z)  # (W*V*B, D), rank-major
        key_labels = _distributed.gather(anchor_labels.detach())  # (W*V*B,)
        offset = _distributed.rank() * n_local
        logits = _similarity.masked_logits(z / self.temperature, keys, offset)  # (V*B, W*V*B)
        log_prob = F.log_softmax(logits.to(compute_dtype(z)), dim=1)

        positive = anchor_labels[:, None] == key_labels[None, :]  # (V*B, W*V*B)
        rows = torch.arange(n_local, device=z.device)
        positive[rows, offset + rows] = False  # an anchor is not its own positive
        n_positive = positive.sum(dim=1)  # (V*B,)
        # where(), not a product: log_prob is -inf on the self column
        summed = torch.where(positive, log_prob, log_prob.new_zeros(())).sum(dim=1)
        per_anchor = -summed / n_positive.clamp_min(1).to(log_prob.dtype)  # 0 without positives
        anchors = _distributed.all_reduce_sum((n_positive > 0).sum().to(log_prob.dtype))
        world = _distributed.world_size()
        return per_anchor.sum() * (world / anchors.clamp_min(1.0))
