"""RandomMask (MAE): the exact count per sample, uniform positions, seeding, the transform."""

import pytest
import torch
from torch.utils.data import DataLoader

from spt_data import DictDataset, transforms
from spt_data.masking import RandomMask


@pytest.mark.parametrize(
    ("grid", "ratio"), [((14, 14), 0.75), ((4, 4), 0.5), ((3, 5), 0.4), ((7, 2), 0.0)]
)
def test_masks_exactly_round_ratio_times_patches_in_every_sample(grid, ratio):
    n = grid[0] * grid[1]
    masks = RandomMask(grid, ratio).generate(32, generator=torch.Generator().manual_seed(0))
    assert masks.shape == (32, n)
    assert masks.dtype == torch.bool
    assert masks.sum(dim=1).tolist() == [round(ratio * n)] * 32


def test_samples_of_a_batch_get_different_masks():
    masks = RandomMask(14, 0.75).generate(16, generator=torch.Generator().manual_seed(1))
    assert len({tuple(row.tolist()) for row in masks}) == 16


def test_every_patch_is_masked_with_probability_ratio():
    masks = RandomMask((6, 6), 0.25).generate(8000, generator=torch.Generator().manual_seed(2))
    # Binomial(8000, 0.25) per patch: 4 standard deviations is 0.019.
    assert (masks.float().mean(dim=0) - 0.25).abs().max() < 0.02


def test_same_seed_same_masks_other_seed_other_masks():
    gen = RandomMask(8, 0.6)
    a = gen.generate(4, generator=torch.Generator().manual_seed(3))
    b = gen.generate(4, generator=torch.Generator().manual_seed(3))
    c = gen.generate(4, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_global_seed_reproduces_masks_without_a_generator():
    torch.manual_seed(5)
    a = RandomMask(8, 0.6).generate(4)
    torch.manual_seed(5)
    assert torch.equal(a, RandomMask(8, 0.6).generate(4))


def test_transform_adds_a_mask_that_the_default_collate_stacks():
    data = DictDataset({"image": torch.zeros(12, 3, 8, 8)}, transform=RandomMask((2, 4), 0.5))
    batch = next(iter(DataLoader(data, batch_size=12)))
    assert batch["mask"].shape == (12, 8)
    assert batch["mask"].dtype == torch.bool
    assert batch["mask"].sum(dim=1).tolist() == [4] * 12
    assert len({tuple(row.tolist()) for row in batch["mask"]}) > 1


def test_transform_composes_with_other_transforms_and_keeps_the_other_keys():
    t = transforms.Compose(transforms.ToImage(), RandomMask(4, 0.75, key="patch_mask"))
    out = t({"image": torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8), "label": 3})
    assert out["label"] == 3
    assert out["image"].dtype == torch.float32
    assert out["patch_mask"].shape == (16,)
    assert int(out["patch_mask"].sum()) == 12


def test_transform_refuses_to_overwrite_a_key_of_the_sample():
    with pytest.raises(KeyError, match=r"already has 'mask'.*key="):
        RandomMask(4)({"image": torch.zeros(1), "mask": torch.ones(4)})


def test_transform_refuses_a_non_dict_sample():
    with pytest.raises(TypeError, match=r"sample dict.*generate"):
        RandomMask(4)(torch.zeros(3, 16, 16))


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, float("nan"), "0.5", (0.2, 0.3), True])
def test_bad_ratio_is_an_error_naming_ratio(ratio):
    with pytest.raises(ValueError, match="RandomMask: ratio"):
        RandomMask(4, ratio)


@pytest.mark.parametrize("grid", [0, (4,), (4, 0), (2.0, 3), "14", (True, 2)])
def test_bad_grid_size_is_an_error_naming_grid_size(grid):
    with pytest.raises(ValueError, match="RandomMask: grid_size"):
        RandomMask(grid)


def test_bad_batch_size_is_an_error_naming_batch_size():
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        RandomMask(4).generate(0)
