"""Three SwAV steps through spt.Module equal the paper's training loop written out by hand.

The reference below follows the pseudo-code and training loop of the SwAV paper's code:
normalise the prototypes at the start of each iteration, encode each resolution group with
the backbone, run the projection head on all crops, codes by Sinkhorn-Knopp (with the queue
of each global crop, once full, concatenated before the codes and refreshed after them),
swapped prediction, drop the prototypes' gradient for the first iterations, step.
"""

from __future__ import annotations

import copy
import doctest
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_module.testing import make_trainer

N, BATCH, EMBED, PROJ, K = 24, 8, 8, 6, 5
FREEZE = 2  # the prototypes move at the third step only
TEMPERATURE, EPSILON = 0.1, 0.05
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}


class MultiCropDataset(Dataset[list[dict[str, Any]]]):
    """Fixed crops: two global 8x8 and two local 4x4 views per sample."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.global_crops = torch.randn(N, 2, 1, 8, 8, generator=gen, dtype=torch.float64)
        self.local_crops = torch.randn(N, 2, 1, 4, 4, generator=gen, dtype=torch.float64)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        crops = [*self.global_crops[i], *self.local_crops[i]]
        return [{"image": c, "label": i % 3} for c in crops]


def _batches() -> Iterator[list[Tensor]]:
    data = MultiCropDataset()
    for start in range(0, N, BATCH):
        rows = slice(start, start + BATCH)
        yield [*data.global_crops[rows].unbind(1), *data.local_crops[rows].unbind(1)]


def paper_sinkhorn(out: Tensor) -> Tensor:
    """distributed_sinkhorn of the paper's code, on one process."""
    Q = torch.exp(out / EPSILON).t()  # (K, B)
    B, K_ = Q.shape[1], Q.shape[0]
    Q /= torch.sum(Q)
    for _ in range(3):
        Q /= torch.sum(Q, dim=1, keepdim=True)
        Q /= K_
        Q /= torch.sum(Q, dim=0, keepdim=True)
        Q /= B
    Q *= B
    return Q.t()


def paper_loop(
    backbone: nn.Module, head: nn.Module, prototypes: nn.Linear, queue_length: int
) -> Tensor | None:
    """Three iterations of the paper's train(); returns the queue (2, L, PROJ) if any."""
    params = [*backbone.parameters(), *head.parameters(), *prototypes.parameters()]
    optimizer = torch.optim.SGD(params, **{k: v for k, v in OPTIM.items() if k != "type"})
    queue = None if queue_length == 0 else torch.zeros(2, queue_length, PROJ, dtype=torch.float64)
    use_the_queue = False
    for iteration, crops in enumerate(_batches()):
        with torch.no_grad():
            prototypes.weight.copy_(F.normalize(prototypes.weight, dim=1, p=2))
        features = torch.cat([backbone(torch.cat(crops[:2])), backbone(torch.cat(crops[2:]))])
        embedding = F.normalize(head(features), dim=1, p=2)
        output = prototypes(embedding)
        bs, n_crops = BATCH, len(crops)
        loss = torch.zeros((), dtype=torch.float64)
        for i, crop_id in enumerate([0, 1]):
            with torch.no_grad():
                out = output[bs * crop_id : bs * (crop_id + 1)].detach()
                if queue is not None:
                    if use_the_queue or not torch.all(queue[i, -1, :] == 0):
                        use_the_queue = True
                        out = torch.cat((queue[i] @ prototypes.weight.t(), out))
                    queue[i, bs:] = queue[i, :-bs].clone()
                    queue[i, :bs] = embedding[crop_id * bs : (crop_id + 1) * bs]
                q = paper_sinkhorn(out)[-bs:]
            subloss = torch.zeros((), dtype=torch.float64)
            for v in [c for c in range(n_crops) if c != crop_id]:
                x = output[bs * v : bs * (v + 1)] / TEMPERATURE
                subloss -= torch.mean(torch.sum(q * F.log_softmax(x, dim=1), dim=1))
            loss += subloss / (n_crops - 1)
        loss /= 2
        optimizer.zero_grad()
        loss.backward()
        if iteration < FREEZE:
            for p in prototypes.parameters():
                p.grad = None
        optimizer.step()
    return queue


def _build(queue_length: int) -> spt.Module:
    torch.manual_seed(0)
    backbone = spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED)
    module = spt.methods.swav(
        backbone,
        EMBED,
        hidden_dim=16,
        proj_dim=PROJ,
        num_prototypes=K,
        freeze_iterations=FREEZE,
        queue_length=queue_length,
        epoch_queue_starts=0,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


@pytest.mark.parametrize("queue_length", [0, 16], ids=["no_queue", "queue_used_at_step_3"])
def test_swav_steps_match_plain_loop(queue_length: int) -> None:
    module = _build(queue_length)
    backbone, head = copy.deepcopy(module.backbone), copy.deepcopy(module.projector)
    prototypes = nn.Linear(PROJ, K, bias=False).double()
    prototypes.weight.data.copy_(module.prototypes.weight.data)
    queue = paper_loop(backbone, head, prototypes, queue_length)

    loader = DataLoader(MultiCropDataset(), batch_size=BATCH, shuffle=False)
    make_trainer(max_epochs=1).fit(module, loader)

    assert int(module.prototypes.num_steps) == 3
    for (name, ours), theirs in zip(
        module.backbone.state_dict().items(), backbone.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-8, msg=f"backbone.{name}")
    for ours, theirs in zip(module.projector.parameters(), head.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-8)
    # ours are normalised after each step, the paper's before the next iteration
    expected = F.normalize(prototypes.weight.detach(), dim=1)
    torch.testing.assert_close(module.prototypes.weight.detach(), expected, rtol=0, atol=1e-8)
    if queue is not None:
        # ours (L, 2, PROJ) holds the oldest batch first, the paper's (2, L, PROJ) the newest
        items = module.queue.contents().transpose(0, 1)
        newest_first = torch.cat(items.split(BATCH, dim=1)[::-1], dim=1)
        torch.testing.assert_close(newest_first, queue, rtol=0, atol=1e-8)


def test_prototypes_stay_put_while_frozen_through_the_module() -> None:
    module = _build(0)
    module.prototypes.freeze_iterations = 3
    module.prototypes.normalize_()
    start = module.prototypes.weight.detach().clone()
    loader = DataLoader(MultiCropDataset(), batch_size=BATCH, shuffle=False)
    make_trainer(max_epochs=1).fit(module, loader)
    torch.testing.assert_close(module.prototypes.weight.detach(), start, rtol=0, atol=1e-12)
    assert module.prototypes.frozen is False


def test_swav_without_prototypes_names_the_component_and_the_builder() -> None:
    module = _build(0)
    del module.prototypes
    loader = DataLoader(MultiCropDataset(), batch_size=BATCH, shuffle=False)
    with pytest.raises(AttributeError, match=r"no 'prototypes'.*Prototypes.*spt\.methods\.swav"):
        make_trainer(max_steps=1).fit(module, loader)


def test_swav_queue_that_is_not_a_multiple_of_the_batch_fails_at_the_first_step() -> None:
    module = _build(12)
    loader = DataLoader(MultiCropDataset(), batch_size=BATCH, shuffle=False)
    with pytest.raises(ValueError, match=r"size 12 is not a multiple of the global batch 8"):
        make_trainer(max_steps=1).fit(module, loader)


def test_swav_builder_docstring_example_runs() -> None:
    import spt.methods._swav as builder

    result = doctest.testmod(builder, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_swav_evaluation_gives_embeddings_and_leaves_the_queue_alone() -> None:
    module = _build(16)
    crops = next(_batches())
    single = module.forward({"image": crops[0], "label": torch.zeros(BATCH)}, "validate")
    assert set(single) == {"embedding", "label"}
    assert single["embedding"].shape == (BATCH, EMBED)
    multi = module.forward([{"image": c} for c in crops], "validate")
    assert multi["embedding"].shape == (2 * BATCH, EMBED)  # the global crops only
    assert torch.isfinite(multi["loss"])
    assert module.queue.num_filled == 0
