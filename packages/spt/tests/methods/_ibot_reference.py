"""The iBOT / DINOv2 step written out from the papers' pseudo-code, for the step tests.

iBOT (Zhou et al. 2022, Algorithm 1): the teacher sees the two un-masked global views, the
student the same views with masked patches replaced by the mask token (and the local views);
``L = H(t_cls_i, s_cls_v) over pairs i != v`` + ``H(t_patch, s_patch)`` on the masked patches;
centres ``C = m C + (1 - m) mean(t)`` for the class tokens and the patches; EMA of every
teacher network. DINOv2 (Oquab et al. 2023): teacher probabilities from Sinkhorn-Knopp
instead of the centre, untied heads, ``+ 0.1 * sum_views KoLeo(student class tokens)``.

Everything is float64; masks and images come from :class:`MaskedViews` in a fixed order.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_module.testing import make_trainer

N, BATCH = 16, 8
STEPS = 3  # two steps in epoch 0, one in epoch 1: both teacher temperatures are used
GLOBAL, LOCAL, PATCH = 8, 4, 2  # global 8x8 (16 patches), local 4x4 (4 patches)
DIM, OUT, PATCH_OUT = 8, 10, 12
BASE_MOMENTUM, CENTER_MOMENTUM = 0.8, 0.7
STUDENT_TEMP, WARMUP_TEMP, TEACHER_TEMP = 0.1, 0.04, 0.07
KOLEO_WEIGHT, IBOT_WEIGHT = 0.1, 0.5
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-8}


class MaskedViews(Dataset[list[dict[str, Any]]]):
    """Two global views with fixed masks of different sizes (some empty), one local view."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.glob = torch.randn(N, 2, 1, GLOBAL, GLOBAL, generator=gen, dtype=torch.float64)
        self.local = torch.randn(N, 1, LOCAL, LOCAL, generator=gen, dtype=torch.float64)
        patches = (GLOBAL // PATCH) ** 2
        counts = torch.randint(0, patches // 2, (N, 2), generator=gen)
        scores = torch.rand(N, 2, patches, generator=gen)
        ranks = scores.argsort(dim=-1).argsort(dim=-1)
        self.masks = ranks < counts.unsqueeze(-1)  # (N, 2, patches), counts[i, v] masked

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        views = [
            {"image": self.glob[i, v], "mask": self.masks[i, v], "label": i % 3} for v in range(2)
        ]
        return [*views, {"image": self.local[i], "label": i % 3}]


def batches() -> Iterator[tuple[int, Tensor, Tensor, Tensor, Tensor, Tensor]]:
    """(epoch, g1, g2, local, mask1, mask2) for STEPS steps over the data in order."""
    data = MaskedViews()
    step = 0
    for epoch in range(math.ceil(STEPS * BATCH / N)):
        for s in range(0, N, BATCH):
            if step == STEPS:
                return
            sl = slice(s, s + BATCH)
            g, m = data.glob[sl], data.masks[sl]
            yield epoch, g[:, 0], g[:, 1], data.local[sl], m[:, 0], m[:, 1]
            step += 1


def build(builder: Any, **kwargs: Any) -> spt.Module:
    """A float64 module of ``builder`` (``spt.methods.ibot`` or ``dinov2``) on a tiny ViT."""
    torch.manual_seed(0)
    vit = spt.backbone.VisionTransformer(
        GLOBAL, PATCH, 1, dim=DIM, depth=1, heads=2, mask_token=True, num_registers=1
    )
    with torch.no_grad():  # a non-zero mask token, so the masked positions differ
        vit.mask_token.normal_(0, 0.5)
    module = builder(
        vit,
        DIM,
        hidden_dim=16,
        bottleneck_dim=6,
        out_dim=OUT,
        student_temp=STUDENT_TEMP,
        teacher_temp=TEACHER_TEMP,
        warmup_teacher_temp=WARMUP_TEMP,
        warmup_teacher_temp_epochs=2,
        center_momentum=CENTER_MOMENTUM,
        base_momentum=BASE_MOMENTUM,
        ibot_weight=IBOT_WEIGHT,
        min_mask_patches=1,
        optim={"optimizer": OPTIM, "scheduler": None},
        **kwargs,
    )
    return module.double()


def fit(module: spt.Module) -> None:
    loader = DataLoader(MaskedViews(), batch_size=BATCH, shuffle=False)
    make_trainer(max_epochs=2, max_steps=STEPS).fit(module, loader)


def sinkhorn(scores: Tensor, eps: float, iterations: int = 3) -> Tensor:
    """SwAV's Sinkhorn-Knopp (DINOv2's teacher centring) on ``(B, K)`` scores."""
    q = torch.exp(scores / eps).t()  # (K, B)
    b, k = q.shape[1], q.shape[0]
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / k
        q = q / q.sum(dim=0, keepdim=True) / b
    return (q * b).t()


def teacher_probs(t: Tensor, center: Tensor, tpt: float, use_sinkhorn: bool) -> Tensor:
    if use_sinkhorn:
        return sinkhorn(t, tpt)
    return F.softmax((t - center) / tpt, dim=-1)


def koleo(x: Tensor) -> Tensor:
    """``-mean_i log(min_{j != i} ||x_i - x_j|| + eps)`` on L2-normalised rows."""
    x = F.normalize(x, dim=-1, eps=1e-8)
    dist = torch.cdist(x, x) + torch.diag(torch.full((x.shape[0],), math.inf, dtype=x.dtype))
    nearest = dist.detach().argmin(dim=1)
    return -torch.log((x - x[nearest]).norm(dim=-1) + 1e-8).mean()


class Nets:
    """Student and teacher copies of the module's networks (ViT, class head, patch head)."""

    def __init__(self, module: spt.Module, shared_head: bool) -> None:
        self.vit = copy.deepcopy(module.backbone.student)
        self.head = copy.deepcopy(module.projector.student)
        source = module.projector if shared_head else module.patch_projector
        self.patch_head = self.head if shared_head else copy.deepcopy(source.student)
        self.students = [self.vit, self.head] + ([] if shared_head else [self.patch_head])
        self.teachers = [copy.deepcopy(n) for n in self.students]
        self.shared = shared_head

    def teacher(self, i: int) -> nn.Module:
        return self.teachers[i]

    def teacher_patch_head(self) -> nn.Module:
        return self.teachers[1] if self.shared else self.teachers[2]


def plain_loop(
    nets: Nets,
    cls_center: Tensor,
    patch_center: Tensor,
    *,
    use_sinkhorn: bool,
    koleo_weight: float,
    warmup_temp: float = WARMUP_TEMP,
) -> None:
    """STEPS steps of iBOT (or DINOv2 with ``use_sinkhorn`` and KoLeo); centres in place."""
    params = [p for net in nets.students for p in net.parameters()]
    opt_kwargs = {k: v for k, v in OPTIM.items() if k != "type"}
    optimizer = torch.optim.SGD(list(dict.fromkeys(params)), **opt_kwargs)
    temps = torch.linspace(warmup_temp, TEACHER_TEMP, 2, dtype=torch.float64).tolist()
    for k, (epoch, g1, g2, local, m1, m2) in enumerate(batches()):
        tpt = temps[epoch]
        x, masks = torch.cat([g1, g2]), torch.cat([m1, m2])  # (2B, ...), (2B, Np)
        with torch.no_grad():
            t = nets.teacher(0)(x, output="tokens")
            t_cls = nets.teacher(1)(t.cls_token).chunk(2)  # teacher sees un-masked views
            t_patch = nets.teacher_patch_head()(t.patch_tokens)  # (2B, Np, K)
        s = nets.vit(x, masks, mask_mode="token", output="tokens")
        s_cls = [*nets.head(s.cls_token).chunk(2), nets.head(nets.vit(local))]
        s_patch = nets.patch_head(s.patch_tokens)

        # class tokens: every teacher global view against every other student view
        cls_terms = []
        q_all = teacher_probs(torch.cat(t_cls), cls_center, tpt, use_sinkhorn).chunk(2)
        for i in range(2):
            for v in range(3):
                if v != i:
                    log_p = F.log_softmax(s_cls[v] / STUDENT_TEMP, dim=-1)
                    cls_terms.append(-(q_all[i] * log_p).sum(dim=-1).mean())
        loss = sum(cls_terms) / len(cls_terms)

        # masked patches: per image the mean over its masked patches, then the mean over images
        if use_sinkhorn:
            q_masked = sinkhorn(t_patch[masks], tpt)  # over the masked patches of the batch
        patch_loss = x.new_zeros(())
        row = 0
        for b in range(x.shape[0]):
            idx = masks[b].nonzero().flatten()
            if len(idx) == 0:
                continue
            log_p = F.log_softmax(s_patch[b, idx] / STUDENT_TEMP, dim=-1)
            if use_sinkhorn:
                q = q_masked[row : row + len(idx)]
                row += len(idx)
            else:
                q = F.softmax((t_patch[b, idx] - patch_center) / tpt, dim=-1)
            patch_loss = patch_loss + -(q * log_p).sum(dim=-1).mean()
        loss = loss + IBOT_WEIGHT * patch_loss / x.shape[0]
        if koleo_weight:
            loss = loss + koleo_weight * sum(koleo(c) for c in s.cls_token.chunk(2))

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lam = 1 - (1 - BASE_MOMENTUM) * (math.cos(math.pi * k / STEPS) + 1) / 2
        with torch.no_grad():
            for student, teacher in zip(nets.students, nets.teachers, strict=True):
                for pt, ps in zip(teacher.parameters(), student.parameters(), strict=True):
                    pt.copy_(lam * pt + (1 - lam) * ps)
            m = CENTER_MOMENTUM
            cls_center.copy_(m * cls_center + (1 - m) * torch.cat(t_cls).mean(dim=0))
            patch_center.copy_(m * patch_center + (1 - m) * t_patch.mean(dim=(0, 1)))


def assert_same(ours: nn.Module, theirs: nn.Module, name: str) -> None:
    for (key, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, **TOL, msg=lambda m, k=f"{name}.{key}": f"{k}: {m}")


def largest_gap(ours: nn.Module, theirs: nn.Module) -> float:
    return max(
        (a - b).abs().max().item()
        for a, b in zip(ours.parameters(), theirs.parameters(), strict=True)
    )
