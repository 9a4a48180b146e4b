"""BlockMask (BEiT / iBOT): a union of rectangles within range, the count, per-sample draws."""

import math

import pytest
import torch
from torch.utils.data import DataLoader

from spt_data import DictDataset, transforms
from spt_data.masking import BlockMask

SLACK = 1e-6  # the aspect test on integer sides, as documented


def reference_block_masks(gen: BlockMask, batch_size: int, seed: int):
    """BEiT's loop written per sample over Python sets, fed the random numbers the batch uses.

    The batched generator draws the target ratios (B,), then the masked flags (B,), then one
    row of 4 uniforms per sample and round; sample b reads row b of each round.
    """
    g = torch.Generator().manual_seed(seed)
    h, w = gen.grid_size
    lo, hi = gen.ratio
    ratios = (torch.rand(batch_size, generator=g) * (hi - lo) + lo).tolist() if hi > lo else None
    targets = [round((ratios[b] if ratios else lo) * h * w) for b in range(batch_size)]
    if 0 < gen.mask_probability < 1:
        keep = (torch.rand(batch_size, generator=g) < gen.mask_probability).tolist()
        targets = [t if k else 0 for t, k in zip(targets, keep, strict=True)]
    elif gen.mask_probability == 0:
        targets = [0] * batch_size
    masked = [set() for _ in range(batch_size)]
    blocks = [[] for _ in range(batch_size)]
    failures = [0] * batch_size
    running = [t > 0 for t in targets]
    a_lo, a_hi = gen.aspect_ratio
    while any(running):
        rows = torch.rand((batch_size, 4), generator=g).tolist()
        for b in range(batch_size):
            if not running[b]:
                continue
            u_area, u_aspect, u_top, u_left = rows[b]
            remaining = targets[b] - len(masked[b])
            top_area = max(gen.min_num_patches, min(gen.max_num_patches, remaining))
            area = gen.min_num_patches + u_area * (top_area - gen.min_num_patches)
            aspect = math.exp(math.log(a_lo) + u_aspect * (math.log(a_hi) - math.log(a_lo)))
            bh, bw = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            fits = 1 <= bh <= h and 1 <= bw <= w
            fits = fits and gen.min_num_patches <= bh * bw <= gen.max_num_patches
            fits = fits and a_lo * (1 - SLACK) <= bh / bw <= a_hi * (1 + SLACK)
            placed = False
            if fits:
                top, left = int(u_top * (h - bh + 1)), int(u_left * (w - bw + 1))
                cells = {(i, j) for i in range(top, top + bh) for j in range(left, left + bw)}
                new = len(cells - masked[b])
                if 0 < new <= remaining:
                    masked[b] |= cells
                    blocks[b].append((top, left, bh, bw))
                    placed = True
            failures[b] = 0 if placed else failures[b] + 1
            running[b] = len(masked[b]) < targets[b] and failures[b] < gen.max_attempts
    flat = torch.zeros(batch_size, h * w, dtype=torch.bool)
    for b, cells in enumerate(masked):
        for i, j in cells:
            flat[b, i * w + j] = True
    return flat, blocks, targets


def placed(blocks: torch.Tensor, b: int) -> list[tuple[int, int, int, int]]:
    return [tuple(r) for r in blocks[b].tolist() if r[2] > 0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"grid_size": (14, 14), "ratio": 0.4},
        {"grid_size": (14, 14), "ratio": (0.1, 0.5), "mask_probability": 0.5},
        {"grid_size": (6, 9), "ratio": 0.5, "min_num_patches": 4, "max_num_patches": 12},
    ],
)
def test_batched_masks_equal_a_per_sample_loop_over_the_same_draws(kwargs):
    gen = BlockMask(**kwargs)
    mask, blocks = gen.generate_blocks(24, generator=torch.Generator().manual_seed(0))
    ref_mask, ref_blocks, _ = reference_block_masks(gen, 24, seed=0)
    assert torch.equal(mask, ref_mask)
    assert [placed(blocks, b) for b in range(24)] == ref_blocks


def test_mask_is_the_union_of_its_rectangles_each_inside_the_grid_and_in_range():
    gen = BlockMask((10, 12), ratio=0.5, min_num_patches=6, max_num_patches=30)
    mask, blocks = gen.generate_blocks(64, generator=torch.Generator().manual_seed(1))
    for b in range(64):
        union = torch.zeros(10, 12, dtype=torch.bool)
        rects = placed(blocks, b)
        assert rects, "every sample places at least one rectangle"
        for top, left, bh, bw in rects:
            assert top >= 0
            assert top + bh <= 10
            assert left >= 0
            assert left + bw <= 12
            assert 6 <= bh * bw <= 30
            assert 0.3 * (1 - SLACK) <= bh / bw <= (1 / 0.3) * (1 + SLACK)
            union[top : top + bh, left : left + bw] = True
        assert torch.equal(mask[b].view(10, 12), union)


def test_each_rectangle_adds_new_patches_without_passing_the_target():
    gen = BlockMask(14, ratio=0.4)
    _mask, blocks = gen.generate_blocks(32, generator=torch.Generator().manual_seed(2))
    for b in range(32):
        covered = torch.zeros(14, 14, dtype=torch.bool)
        for top, left, bh, bw in placed(blocks, b):
            before = int(covered.sum())
            covered[top : top + bh, left : left + bw] = True
            assert before < int(covered.sum()) <= round(0.4 * 196)


def test_fraction_masked_is_at_most_the_target_and_close_to_it():
    gen = BlockMask(14, ratio=0.4)
    counts = gen.generate(400, generator=torch.Generator().manual_seed(3)).sum(dim=1)
    assert int(counts.max()) <= 78
    # BEiT's rule stops short of the target by less than a small block on most samples.
    assert float(counts.float().mean()) / 196 > 0.36
    assert float((counts > 78 - 16).float().mean()) > 0.9


def test_ratio_range_and_mask_probability_as_in_ibot():
    gen = BlockMask(14, ratio=(0.1, 0.5), mask_probability=0.5)
    counts = gen.generate(2000, generator=torch.Generator().manual_seed(4)).sum(dim=1)
    masked = counts[counts > 0]
    # Binomial(2000, 0.5): 4 standard deviations is 0.045.
    assert abs(len(masked) / 2000 - 0.5) < 0.045
    assert int(masked.min()) >= 16
    assert int(masked.max()) <= round(0.5 * 196)
    # Each sample draws its own target: masked fractions spread over the range.
    assert float((masked < 0.2 * 196).float().mean()) > 0.1
    assert float((masked > 0.4 * 196).float().mean()) > 0.1


def test_samples_differ_and_a_seed_reproduces_the_batch():
    gen = BlockMask(14, ratio=0.4)
    a = gen.generate(16, generator=torch.Generator().manual_seed(5))
    b = gen.generate(16, generator=torch.Generator().manual_seed(5))
    c = gen.generate(16, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert len({tuple(row.tolist()) for row in a}) == 16


def test_mask_probability_zero_masks_nothing_and_one_masks_every_sample():
    never = BlockMask(8, ratio=0.5, min_num_patches=4, mask_probability=0.0)
    always = BlockMask(8, ratio=0.5, min_num_patches=4, mask_probability=1.0)
    assert not never.generate(8).any()
    assert bool((always.generate(8).sum(dim=1) > 0).all())


def test_transform_in_a_view_pipeline_gives_each_sample_its_own_mask():
    view = transforms.Compose(transforms.ToImage(), BlockMask(4, ratio=0.5, min_num_patches=2))
    images = torch.randint(0, 255, (16, 3, 16, 16), dtype=torch.uint8)
    batch = next(iter(DataLoader(DictDataset({"image": images}, transform=view), batch_size=16)))
    assert batch["mask"].shape == (16, 16)
    assert batch["mask"].dtype == torch.bool
    assert bool((batch["mask"].sum(dim=1) <= 8).all())
    assert len({tuple(row.tolist()) for row in batch["mask"]}) > 1


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"ratio": 1.2}, "ratio"),
        ({"ratio": (0.5, 0.1)}, "ratio"),
        ({"ratio": (-0.1, 0.5)}, "ratio"),
        ({"aspect_ratio": (0.0, 2.0)}, "aspect_ratio"),
        ({"aspect_ratio": (3.0, 1.0)}, "aspect_ratio"),
        ({"aspect_ratio": 1.0}, "aspect_ratio"),
        ({"mask_probability": 1.5}, "mask_probability"),
        ({"mask_probability": (0.1, 0.2)}, "mask_probability"),
        ({"min_num_patches": 0}, "min_num_patches"),
        ({"max_num_patches": 8}, "max_num_patches"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"ratio": 0.05}, "min_num_patches"),
        ({"min_num_patches": 200, "ratio": 1.0}, "min_num_patches"),
    ],
)
def test_bad_settings_are_errors_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"BlockMask: {argument}"):
        BlockMask(14, **kwargs)


def test_grid_where_no_rectangle_is_in_range_is_an_error():
    # On a 1 x 10 strip every rectangle of area >= 4 has an aspect ratio 1 / b <= 0.25 < 0.3.
    with pytest.raises(ValueError, match="no rectangle on the grid"):
        BlockMask((1, 10), ratio=0.5, min_num_patches=4)
