"""FromTorchDataset and DictDataset: dict samples that carry sample_idx."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate
from torchvision import tv_tensors

from spt_data import DictDataset, FromTorchDataset


def pairs(n=5):
    return [(torch.full((2,), float(i)), i % 3) for i in range(n)]


def test_from_torch_dataset_names_tuple_fields_and_adds_sample_idx():
    ds = FromTorchDataset(pairs(), names=["x", "label"])
    sample = ds[3]
    assert set(sample) == {"x", "label", "sample_idx"}
    assert torch.equal(sample["x"], torch.full((2,), 3.0))
    assert sample["label"] == 0
    assert sample["sample_idx"] == 3
    assert len(ds) == 5


def test_from_torch_dataset_runs_transform_on_the_dict_with_sample_idx():
    seen = []

    def transform(sample):
        seen.append(dict(sample))
        return {**sample, "x": sample["x"] * 2}

    ds = FromTorchDataset(pairs(), names=["x", "label"], transform=transform)
    assert torch.equal(ds[1]["x"], torch.full((2,), 2.0))
    assert seen[0]["sample_idx"] == 1


def test_from_torch_dataset_wrong_number_of_names_says_both_lengths():
    ds = FromTorchDataset(pairs(), names=["x", "label", "extra"])
    with pytest.raises(ValueError, match=r"3 entries.*index 0 has 2 fields"):
        ds[0]


@pytest.mark.parametrize(
    ("names", "error"),
    [
        ([], ValueError),
        ("image", ValueError),
        (["a", "a"], ValueError),
        (["sample_idx"], ValueError),
        ([1], TypeError),
    ],
)
def test_from_torch_dataset_rejects_bad_names(names, error):
    with pytest.raises(error, match="names"):
        FromTorchDataset(pairs(), names=names)


def test_from_torch_dataset_rejects_non_callable_transform():
    with pytest.raises(TypeError, match="transform must be a callable"):
        FromTorchDataset(pairs(), names=["x", "label"], transform="flip")


def test_from_torch_dataset_collates_into_batched_dict():
    loader = DataLoader(FromTorchDataset(pairs(6), names=["x", "label"]), batch_size=3)
    batch = next(iter(loader))
    assert batch["x"].shape == (3, 2)
    assert batch["sample_idx"].tolist() == [0, 1, 2]
    assert batch["label"].tolist() == [0, 1, 2]


def test_dict_dataset_serves_rows_of_every_column():
    x = torch.arange(12.0).view(4, 3)
    ds = DictDataset({"x": x, "label": [3, 1, 2, 0], "name": np.array(["a", "b", "c", "d"])})
    assert len(ds) == 4
    sample = ds[2]
    assert torch.equal(sample["x"], x[2])
    assert sample["label"] == 2
    assert sample["name"] == "c"
    assert sample["sample_idx"] == 2


def test_dict_dataset_turns_numeric_arrays_into_tensors_and_1d_arrays_into_scalars():
    ds = DictDataset({"x": np.ones((3, 2), dtype=np.float32), "label": np.array([4, 5, 6])})
    sample = ds[1]
    assert isinstance(sample["x"], torch.Tensor)
    assert sample["x"].dtype == torch.float32
    assert sample["label"] == 5
    assert isinstance(sample["label"], int)


def test_dict_dataset_keeps_tv_tensor_image_rows():
    images = tv_tensors.Image(torch.zeros(3, 1, 4, 4, dtype=torch.uint8))
    sample = DictDataset({"image": images})[0]
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].shape == (1, 4, 4)


def test_dict_dataset_applies_transform_and_collates():
    ds = DictDataset(
        {"x": torch.zeros(4, 2), "label": [0, 1, 0, 1]},
        transform=lambda s: {**s, "x": s["x"] + s["sample_idx"]},
    )
    batch = default_collate([ds[i] for i in range(4)])
    assert batch["x"][:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert batch["label"].tolist() == [0, 1, 0, 1]


def test_dict_dataset_rejects_columns_of_different_lengths_naming_them():
    with pytest.raises(ValueError, match=r"same length.*'x': 3.*'label': 2"):
        DictDataset({"x": torch.zeros(3, 2), "label": [0, 1]})


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({}, ValueError, "non-empty"),
        ({"sample_idx": [0]}, ValueError, "sample_idx"),
        ({"x": torch.tensor(1.0)}, ValueError, "0-d"),
        ({"x": 3}, TypeError, "tensor, a numpy array or a sequence"),
    ],
)
def test_dict_dataset_rejects_bad_data(data, error, match):
    with pytest.raises(error, match=match):
        DictDataset(data)


def test_dict_dataset_index_out_of_range():
    with pytest.raises(IndexError, match="out of range"):
        DictDataset({"x": [1, 2]})[5]


def test_gpu_transform_is_stored_on_the_dataset():
    def flip(batch):
        return batch

    assert DictDataset({"x": [1]}, gpu_transform=flip).gpu_transform is flip
    assert FromTorchDataset(pairs(), names=["x", "y"]).gpu_transform is None


def test_non_callable_gpu_transform_is_rejected_with_the_fix():
    with pytest.raises(TypeError, match=r"gpu_transform must be a callable.*GPUCompose"):
        DictDataset({"x": [1]}, gpu_transform={"train": None})
