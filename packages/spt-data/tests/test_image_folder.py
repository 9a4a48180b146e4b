"""ImageFolder: class sub-folders of JPEG/PNG files as dict samples, on trees written here."""

import numpy as np
import pytest
from PIL import Image

from spt_data import ImageFolder
from spt_data.testing import write_image_folder


def test_labels_follow_the_sorted_class_folders_and_images_decode_to_rgb(tmp_path):
    write_image_folder(tmp_path, ["n02", "n01"], per_class=3, size=(40, 48))
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["n01", "n02"]
    assert len(ds) == 6
    assert [label for _, label in ds.samples] == [0, 0, 0, 1, 1, 1]
    sample = ds[4]
    assert isinstance(sample["image"], Image.Image)
    assert sample["image"].mode == "RGB"
    assert sample["image"].size == (48, 40)  # PIL: (width, height)
    assert (sample["label"], sample["sample_idx"]) == (1, 4)


def test_png_pixels_are_read_exactly(tmp_path):
    write_image_folder(tmp_path, ["a"], per_class=1, formats=["png"], seed=3)
    expected = np.random.default_rng(3).integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(ImageFolder(tmp_path)[0]["image"]), expected)


def test_classes_pick_a_subset_labelled_in_the_given_order(tmp_path):
    write_image_folder(tmp_path, ["n01", "n02", "n03"], per_class=2)
    ds = ImageFolder(tmp_path, classes=["n03", "n01"])
    assert ds.classes == ["n03", "n01"]
    assert {path.parent.name for path, _ in ds.samples} == {"n01", "n03"}
    assert ds[0]["label"] == 0
    assert ds.samples[0][0].parent.name == "n03"


def test_other_files_are_skipped_and_a_transform_sees_the_sample(tmp_path):
    write_image_folder(tmp_path, ["n01"], per_class=2)
    (tmp_path / "n01" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path, transform=lambda s: {**s, "seen": True})
    assert len(ds) == 2
    assert ds[1]["seen"]


def test_errors_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        ImageFolder(tmp_path)
    write_image_folder(tmp_path, ["n01"], per_class=1)
    with pytest.raises(FileNotFoundError, match=r"not in .*\['n09'\]"):
        ImageFolder(tmp_path, classes=["n01", "n09"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no file ending in"):
        ImageFolder(tmp_path, classes=["empty"])
