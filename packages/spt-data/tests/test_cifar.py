"""read_cifar / cifar: CIFAR-10/100 from their python pickle batches, on stand-ins written here."""

import collections
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from spt_data import cifar, cifar_classes, read_cifar
from spt_data.testing import write_cifar


def plain_pickle(path: Path) -> dict:
    with path.open("rb") as handle:
        return pickle.load(handle, encoding="bytes")


def reference_image(row: np.ndarray) -> np.ndarray:
    """CIFAR's layout written out pixel by pixel: 1,024 red values row-major, green, blue."""
    image = np.zeros((3, 32, 32), dtype=np.uint8)
    for c in range(3):
        for y in range(32):
            for x in range(32):
                image[c, y, x] = row[c * 1024 + y * 32 + x]
    return image


def test_cifar10_train_is_the_five_batches_in_order_with_the_channel_plane_layout(tmp_path):
    folder = write_cifar(tmp_path, "cifar10", per_batch=4)
    data = read_cifar(tmp_path, "cifar10", "train")
    assert data["image"].shape == (20, 3, 32, 32)
    assert data["image"].dtype == torch.uint8
    assert data["label"].dtype == torch.int64
    rows, labels = [], []
    for i in range(1, 6):
        batch = plain_pickle(folder / f"data_batch_{i}")
        rows.extend(batch[b"data"])
        labels.extend(batch[b"labels"])
    for i in (0, 7, 19):
        assert np.array_equal(data["image"][i].numpy(), reference_image(rows[i]))
    assert data["label"].tolist() == labels


def test_cifar10_test_split_and_class_names(tmp_path):
    folder = write_cifar(tmp_path, "cifar10", test_size=6)
    data = read_cifar(tmp_path, "cifar10", "test")
    expected = plain_pickle(folder / "test_batch")
    assert data["image"].shape == (6, 3, 32, 32)
    assert np.array_equal(data["image"][5].numpy(), reference_image(expected[b"data"][5]))
    assert cifar_classes(tmp_path, "cifar10") == [f"class_{i}" for i in range(10)]


def test_cifar100_fine_and_coarse_labels(tmp_path):
    folder = write_cifar(tmp_path, "cifar100", per_batch=12)
    raw = plain_pickle(folder / "train")
    fine = read_cifar(tmp_path, "cifar100", "train")
    coarse = read_cifar(tmp_path, "cifar100", "train", labels="coarse")
    assert fine["label"].tolist() == raw[b"fine_labels"]
    assert coarse["label"].tolist() == raw[b"coarse_labels"]
    assert torch.equal(fine["image"], coarse["image"])
    assert len(cifar_classes(tmp_path, "cifar100")) == 100


def test_root_may_be_the_batch_folder_itself(tmp_path):
    folder = write_cifar(tmp_path, "cifar10")
    assert torch.equal(read_cifar(folder)["image"], read_cifar(tmp_path)["image"])


def test_str_keys_of_a_re_pickled_batch_are_read_too(tmp_path):
    folder = write_cifar(tmp_path, "cifar10", test_size=3)
    batch = plain_pickle(folder / "test_batch")
    with (folder / "test_batch").open("wb") as handle:
        pickle.dump({k.decode(): v for k, v in batch.items()}, handle)  # protocol 5, str keys
    assert read_cifar(tmp_path, split="test")["label"].tolist() == batch[b"labels"]


def test_cifar_dataset_serves_uint8_image_samples(tmp_path):
    write_cifar(tmp_path, "cifar10", per_batch=2)
    ds = cifar(tmp_path, "cifar10", "train")
    sample = ds[3]
    assert len(ds) == 10
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].shape == (3, 32, 32)
    assert sample["image"].dtype == torch.uint8
    assert (sample["label"], sample["sample_idx"]) == (1, 3)  # labels cycle within a batch


def test_missing_files_name_the_file_and_where_to_get_it(tmp_path):
    folder = write_cifar(tmp_path, "cifar10")
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_3.*cifar-10-python\.tar\.gz"):
        read_cifar(tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        read_cifar(tmp_path, "cifar100")


def test_a_pickle_with_other_objects_is_refused(tmp_path):
    folder = write_cifar(tmp_path, "cifar10")
    with (folder / "test_batch").open("wb") as handle:
        pickle.dump(collections.OrderedDict(data=1), handle)
    with pytest.raises(pickle.UnpicklingError, match=r"collections\.OrderedDict"):
        read_cifar(tmp_path, split="test")


def test_bad_arguments_name_the_argument(tmp_path):
    write_cifar(tmp_path, "cifar10")
    with pytest.raises(ValueError, match="variant"):
        read_cifar(tmp_path, "cifar1000")
    with pytest.raises(ValueError, match="split"):
        read_cifar(tmp_path, split="val")
    with pytest.raises(ValueError, match="labels"):
        read_cifar(tmp_path, labels="medium")


def test_a_batch_of_the_wrong_shape_is_refused(tmp_path):
    folder = write_cifar(tmp_path, "cifar10")
    batch = plain_pickle(folder / "test_batch")
    batch[b"data"] = batch[b"data"][:, :100]
    with (folder / "test_batch").open("wb") as handle:
        pickle.dump(batch, handle, protocol=2)
    with pytest.raises(ValueError, match=r"uint8 \(N, 3072\)"):
        read_cifar(tmp_path, split="test")
