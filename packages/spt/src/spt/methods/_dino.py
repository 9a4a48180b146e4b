"""DINO (Caron et al. 2021) as a ready module, with the paper's projection head."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import spt_module
from spt.forward import dino_forward
from spt.methods._byol import with_teacher
from spt.methods._simclr import check_embed_dim
from spt_losses import DINOLoss


class DINOHead(nn.Module):
    """DINO's head: an MLP to a bottleneck, L2 normalisation, a weight-normalised linear layer.

    ``in_dim -> hidden_dim -> GELU -> hidden_dim -> GELU -> bottleneck_dim``, then
    ``F.normalize`` and a bias-free linear layer to ``out_dim`` prototypes whose weight is
    ``g * v / ||v||`` per row (weight normalisation). With ``norm_last_layer`` the gains ``g``
    stay 1 (frozen), which the paper found to stabilise training. ``use_bn`` puts a
    batch norm after each hidden linear layer (the papers' ``use_bn_in_head``); inputs with
    more than two dimensions (patch tokens ``(B, N, in_dim)``) are normalised over all their
    leading dimensions, as iBOT's head does. Under DDP the papers synchronise these norms:
    ``lightning.Trainer(sync_batchnorm=True)``.

    Args:
        in_dim: Input features.
        hidden_dim: Width of the two hidden layers (2048).
        bottleneck_dim: Width before the normalisation (256).
        out_dim: Number of prototypes (65536).
        norm_last_layer: Freeze the weight-norm gains at 1 (True).
        use_bn: Batch norm after the hidden linear layers (False).

    Shapes:
        ``(..., in_dim) -> (..., out_dim)``.

    Examples:
        >>> head = DINOHead(32, hidden_dim=64, bottleneck_dim=16, out_dim=128)
        >>> head(torch.randn(4, 32)).shape
        torch.Size([4, 128])
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        out_dim: int = 65536,
        norm_last_layer: bool = True,
        use_bn: bool = False,
    ) -> None:
        super().__init__()

        def hidden(width: int) -> list[nn.Module]:
            return [nn.BatchNorm1d(width), nn.GELU()] if use_bn else [nn.GELU()]

        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            *hidden(hidden_dim),
            nn.Linear(hidden_dim, hidden_dim),
            *hidden(hidden_dim),
            nn.Linear(hidden_dim, bottleneck_dim),
        )
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.trunc_normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        last = nn.Linear(bottleneck_dim, out_dim, bias=False)
        self.last_layer = nn.utils.parametrizations.weight_norm(last)
        gain = self.last_layer.parametrizations.weight.original0
        with torch.no_grad():
            gain.fill_(1.0)
        gain.requires_grad_(not norm_last_layer)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project features to prototype scores: ``(..., in_dim) -> (..., out_dim)``."""
        lead = x.shape[:-1]
        z = self.mlp(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)  # batch norm: 2-D input
        out: torch.Tensor = self.last_layer(F.normalize(z, dim=-1))  # unit rows -> prototypes
        return out


def dino(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 2048,
    bottleneck_dim: int = 256,
    out_dim: int = 65536,
    norm_last_layer: bool = True,
    use_bn_in_head: bool = False,
    student_temp: float = 0.1,
    teacher_temp: float = 0.07,
    warmup_teacher_temp: float = 0.04,
    warmup_teacher_temp_epochs: int = 30,
    center_momentum: float = 0.9,
    base_momentum: float = 0.996,
    final_momentum: float = 1.0,
    n_global_views: int = 2,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """DINO: the student matches the centred, sharpened EMA teacher over multi-crop views.

    The backbone and the :class:`DINOHead` are :class:`spt.ema.TeacherStudent` pairs (cosine
    momentum 0.996 -> 1 over the run). The teacher temperature rises linearly from 0.04 to
    0.07 over the first 30 epochs, the student's is 0.1 and the centre's momentum 0.9, as in
    the paper. The first ``n_global_views`` views are the global crops the teacher sees.
    The paper's weight-decay schedule (0.04 -> 0.4) and its frozen last layer in the first
    epoch are training schedules, not part of the module.

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)`` (or a
            ``TeacherStudent`` of it, kept as given).
        embed_dim: Width of the backbone's output.
        hidden_dim: Hidden width of the head (2048).
        bottleneck_dim: Bottleneck width of the head (256).
        out_dim: Number of prototypes (65536).
        norm_last_layer: Freeze the weight-norm gains of the last layer (True).
        use_bn_in_head: Batch norm in the head's MLP (False; the paper's option).
        student_temp: Student temperature (0.1).
        teacher_temp: Teacher temperature after the warm-up (0.07).
        warmup_teacher_temp: Teacher temperature at epoch 0 (0.04).
        warmup_teacher_temp_epochs: Epochs of the warm-up (30).
        center_momentum: Momentum of the teacher centre (0.9).
        base_momentum: Teacher momentum at the first step (0.996).
        final_momentum: Teacher momentum at the end of the run (1.0).
        n_global_views: Number of leading global views (2).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.dino, backbone, projector, dino_loss, n_global_views)``.

    Examples:
        >>> import spt
        >>> encoder = spt.backbone.SmallCNN(1, 8, embed_dim=32)
        >>> module = spt.methods.dino(encoder, 32, out_dim=1024)
        >>> module.projector.student.out_dim, module.dino_loss.teacher_temperature(0)
        (1024, 0.04)
    """
    check_embed_dim("dino", backbone, embed_dim)
    if n_global_views < 1:
        raise ValueError(f"spt.methods.dino: n_global_views={n_global_views} must be >= 1")
    head = DINOHead(embed_dim, hidden_dim, bottleneck_dim, out_dim, norm_last_layer, use_bn_in_head)
    loss = DINOLoss(
        out_dim,
        student_temp=student_temp,
        teacher_temp=teacher_temp,
        warmup_teacher_temp=warmup_teacher_temp,
        warmup_teacher_temp_epochs=warmup_teacher_temp_epochs,
        center_momentum=center_momentum,
    )
    return spt_module.Module(
        forward=dino_forward,
        backbone=with_teacher(backbone, base_momentum, final_momentum),
        projector=with_teacher(head, base_momentum, final_momentum),
        dino_loss=loss,
        n_global_views=n_global_views,
        optim=optim,
        **module_kwargs,
    )
