"""MultiBlockMask (I-JEPA): block geometry, disjoint context, stacking, seeding, the collator."""

import math

import pytest
import torch
from torch.utils.data import DataLoader

from spt_data import DictDataset
from spt_data.masking import MultiBlockMask, MultiBlockMaskCollator


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def rounds_from_range(size, scale, aspect, n):
    """Whether some scale and aspect in range round to ``size`` by the documented formula.

    ``round(sqrt(s n a)) = h`` and ``round(sqrt(s n / a)) = w`` need
    ``(h - 1/2)(w - 1/2) <= s n <= (h + 1/2)(w + 1/2)`` and
    ``(h - 1/2) / (w + 1/2) <= a <= (h + 1/2) / (w - 1/2)``.
    """
    h, w = size
    area_ok = (h - 0.5) * (w - 0.5) <= scale[1] * n and (h + 0.5) * (w + 0.5) >= scale[0] * n
    aspect_ok = (h - 0.5) / (w + 0.5) <= aspect[1] and (h + 0.5) / (w - 0.5) >= aspect[0]
    return area_ok and aspect_ok


def bounding_box(cells: torch.Tensor):
    """(top, left, height, width) of the True cells of a 2-d mask."""
    rows, cols = cells.nonzero(as_tuple=True)
    top, left = int(rows.min()), int(cols.min())
    return top, left, int(rows.max()) - top + 1, int(cols.max()) - left + 1


def test_outputs_have_the_documented_keys_shapes_and_dtypes():
    out = MultiBlockMask((14, 14)).generate(8, generator=seeded(0))
    assert sorted(out) == sorted(MultiBlockMask.KEYS)
    k_ctx, k_tgt = out["context_idx"].shape[1], out["target_idx"].shape[2]
    assert out["context_idx"].shape == (8, k_ctx)
    assert out["context_idx"].dtype == torch.long
    assert out["context_mask"].shape == (8, 196)
    assert out["context_mask"].dtype == torch.bool
    assert out["target_idx"].shape == (4, 8, k_tgt)
    assert out["target_idx"].dtype == torch.long
    assert out["target_mask"].shape == (4, 8, 196)
    assert out["target_mask"].dtype == torch.bool


def test_targets_are_full_rectangles_of_one_size_per_batch_inside_the_grid():
    gen = MultiBlockMask((12, 10))
    out = gen.generate(16, generator=seeded(1))
    (th, tw), _ = gen.draw_block_sizes(generator=seeded(1))
    for m in range(4):
        for b in range(16):
            cells = out["target_mask"][m, b].view(12, 10)
            top, left, h, w = bounding_box(cells)
            assert (h, w) == (th, tw)
            assert bool(cells[top : top + h, left : left + w].all())
            assert int(cells.sum()) == h * w
            assert top + h <= 12
            assert left + w <= 10


def test_target_idx_lists_the_patches_of_each_target_mask_in_order():
    out = MultiBlockMask((14, 14)).generate(6, generator=seeded(2))
    for m in range(4):
        for b in range(6):
            expected = out["target_mask"][m, b].nonzero().flatten()
            assert torch.equal(out["target_idx"][m, b], expected)


def test_context_is_disjoint_from_every_target_and_inside_one_context_block():
    gen = MultiBlockMask((14, 14))
    out = gen.generate(32, generator=seeded(3))
    _, (ch, cw) = gen.draw_block_sizes(generator=seeded(3))
    union = out["target_mask"].any(dim=0)  # (B, N)
    for b in range(32):
        ctx = out["context_idx"][b]
        assert not bool(union[b, ctx].any())
        in_context = torch.zeros(196, dtype=torch.bool)
        in_context[ctx] = True
        _, _, h, w = bounding_box(in_context.view(14, 14))
        assert h <= ch
        assert w <= cw


def test_context_mask_hides_exactly_the_patches_outside_context_idx():
    out = MultiBlockMask((14, 14)).generate(16, generator=seeded(4))
    ctx, hidden = out["context_idx"], out["context_mask"]
    assert bool((ctx[:, 1:] > ctx[:, :-1]).all()), "ascending, no repeats"
    visible = torch.zeros_like(hidden).scatter_(1, ctx, True)
    assert torch.equal(hidden, ~visible)
    assert hidden.sum(dim=1).tolist() == [196 - ctx.shape[1]] * 16


def test_context_lists_are_trimmed_to_the_shortest_keeping_the_lowest_indices():
    # A context block of the whole grid: each sample's context is the grid minus its targets.
    gen = MultiBlockMask((10, 10), context_scale=(1.0, 1.0))
    out = gen.generate(16, generator=seeded(5))
    free = ~out["target_mask"].any(dim=0)  # (B, N)
    k = int(free.sum(dim=1).min())
    assert out["context_idx"].shape == (16, k)
    assert len(set(free.sum(dim=1).tolist())) > 1, "the lengths differed before trimming"
    for b in range(16):
        assert torch.equal(out["context_idx"][b], free[b].nonzero().flatten()[:k])


TIGHT = {"grid_size": (8, 8), "target_scale": (0.2, 0.25), "context_scale": (0.6, 0.7)}


def test_every_sample_keeps_at_least_min_context_patches():
    # About a quarter of the first draws keep fewer than 10 context patches here.
    gen = MultiBlockMask(**TIGHT, min_context=10)
    for seed in range(10):
        out = gen.generate(32, generator=seeded(seed))
        assert out["context_idx"].shape[1] >= 10


def test_samples_with_a_small_context_draw_again():
    with pytest.raises(RuntimeError, match="in max_tries=1 draws"):
        MultiBlockMask(**TIGHT, min_context=10, max_tries=1).generate(32, generator=seeded(0))


def test_block_sizes_round_from_the_scale_and_aspect_ranges_and_vary_per_batch():
    gen = MultiBlockMask((14, 14))
    g = seeded(6)
    sizes = [gen.draw_block_sizes(generator=g) for _ in range(300)]
    for target, context in sizes:
        assert rounds_from_range(target, (0.15, 0.2), (0.75, 1.5), 196)
        assert rounds_from_range(context, (0.85, 1.0), (1.0, 1.0), 196)
    assert len({t for t, _ in sizes}) > 3
    assert len({c for _, c in sizes}) > 1


def test_batches_draw_new_sizes_and_samples_draw_their_own_positions():
    gen = MultiBlockMask((14, 14))
    g = seeded(7)
    outs = [gen.generate(8, generator=g) for _ in range(20)]
    assert len({o["target_idx"].shape[2] for o in outs}) > 1
    first = outs[0]["target_mask"][0]  # (B, N): target block 0 of each sample
    assert len({tuple(row.tolist()) for row in first}) > 1


def test_same_seed_same_masks_other_seed_other_masks():
    gen = MultiBlockMask((14, 14))
    a, b, c = (gen.generate(8, generator=seeded(s)) for s in (8, 8, 9))
    assert all(torch.equal(a[k], b[k]) for k in MultiBlockMask.KEYS)
    assert not torch.equal(a["target_mask"], c["target_mask"])


def test_targets_covering_the_grid_leave_no_context_and_raise():
    gen = MultiBlockMask((6, 6), target_scale=(1.0, 1.0), min_context=1, max_tries=3)
    with pytest.raises(RuntimeError, match="min_context=1 context patches in max_tries=3 draws"):
        gen.generate(4, generator=seeded(10))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"target_scale": (0.0, 0.2)}, "target_scale"),
        ({"target_scale": (0.3, 0.2)}, "target_scale"),
        ({"context_scale": (0.85, 1.2)}, "context_scale"),
        ({"context_scale": 0.9}, "context_scale"),
        ({"target_aspect_ratio": (-1.0, 1.5)}, "target_aspect_ratio"),
        ({"context_aspect_ratio": (2.0, 1.0)}, "context_aspect_ratio"),
        ({"num_targets": 0}, "num_targets"),
        ({"min_context": 0}, "min_context"),
        ({"min_context": 197}, "min_context"),
        ({"max_tries": 0}, "max_tries"),
        ({"grid_size": (14, -1)}, "grid_size"),
    ],
)
def test_bad_settings_are_errors_naming_the_argument(kwargs, argument):
    settings = {"grid_size": (14, 14), **kwargs}
    with pytest.raises(ValueError, match=f"MultiBlockMask: {argument}"):
        MultiBlockMask(**settings)


def test_collator_adds_the_mask_keys_to_the_default_collate():
    data = DictDataset({"image": torch.zeros(10, 3, 32, 32), "label": list(range(10))})
    collate = MultiBlockMaskCollator(MultiBlockMask((8, 8), min_context=4))
    batch = next(iter(DataLoader(data, batch_size=5, collate_fn=collate)))
    assert set(batch) == {"image", "label", "sample_idx", *MultiBlockMask.KEYS}
    assert batch["image"].shape == (5, 3, 32, 32)
    assert batch["label"].tolist() == [0, 1, 2, 3, 4]
    assert batch["context_idx"].shape[0] == 5
    assert batch["target_mask"].shape == (4, 5, 64)


def test_collator_in_worker_processes_gives_each_batch_its_own_masks():
    data = DictDataset({"x": torch.zeros(16, 2)})
    collate = MultiBlockMaskCollator(MultiBlockMask((8, 8), min_context=4))
    torch.manual_seed(0)
    batches = list(DataLoader(data, batch_size=4, collate_fn=collate, num_workers=2))
    masks = {tuple(b["target_mask"].flatten().tolist()) for b in batches}
    assert len(batches) == 4
    assert len(masks) == 4


def test_collator_wraps_a_custom_collate_fn():
    def collate_fn(samples):
        return {"n": len(samples)}

    batch = MultiBlockMaskCollator(MultiBlockMask(6, min_context=2), collate_fn)([1, 2, 3])
    assert batch["n"] == 3
    assert batch["context_mask"].shape == (3, 36)


def test_collator_refuses_a_batch_that_is_not_a_dict():
    collate = MultiBlockMaskCollator(MultiBlockMask(6, min_context=2))
    with pytest.raises(TypeError, match=r"not a dict.*single-view"):
        collate([[{"image": torch.zeros(1)}, {"image": torch.zeros(1)}]] * 2)


def test_collator_refuses_a_batch_that_already_has_a_mask_key():
    collate = MultiBlockMaskCollator(MultiBlockMask(6, min_context=2))
    with pytest.raises(KeyError, match="already has \\['target_mask'\\]"):
        collate([{"target_mask": torch.zeros(1)}] * 2)


def test_collator_refuses_another_mask_generator():
    with pytest.raises(TypeError, match="must be a MultiBlockMask"):
        MultiBlockMaskCollator(object())  # type: ignore[arg-type]


def test_block_size_formula():
    gen = MultiBlockMask((14, 14))
    assert gen.block_size(0.2, 1.0) == (round(math.sqrt(39.2)), round(math.sqrt(39.2)))
    assert gen.block_size(1.0, 1.0) == (14, 14)
    assert gen.block_size(1.0, 4.0) == (14, 7)  # height clipped to the grid
