"""HFDataset from local files: an image folder, a parquet file and an arrow file written here.

Every load passes ``cache_dir`` inside ``tmp_path`` so tests never touch the user's cache.
"""

import pytest
import torch
from PIL import Image

from spt_data import HFDataset, transforms

datasets = pytest.importorskip("datasets")


def write_image_folder(root, per_class=3):
    for label, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (32, 32), colour).save(folder / f"{i}.png")
    return root


def image_column(n):
    return [Image.new("RGB", (8, 8), (10 * i, 0, 0)) for i in range(n)]


def test_imagefolder_rows_are_dicts_with_pil_images_labels_and_sample_idx(tmp_path):
    root = write_image_folder(tmp_path / "images")
    ds = HFDataset(
        "imagefolder", data_dir=str(root), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert len(ds) == 6
    assert ds.image_columns == ["image"]
    sample = ds[4]
    assert isinstance(sample["image"], Image.Image)
    assert sample["image"].size == (32, 32)
    assert sample["sample_idx"] == 4
    assert sorted(ds[i]["label"] for i in range(6)) == [0, 0, 0, 1, 1, 1]


def test_imagefolder_with_transform_gives_tensors(tmp_path):
    root = write_image_folder(tmp_path / "images", per_class=1)
    ds = HFDataset(
        "imagefolder",
        data_dir=str(root),
        split="train",
        cache_dir=str(tmp_path / "cache"),
        transform=transforms.Compose(transforms.Resize((16, 16)), transforms.ToImage()),
    )
    image = ds[0]["image"]
    assert image.shape == (3, 16, 16)
    assert image.dtype == torch.float32


def test_parquet_file_with_image_feature_decodes_to_pil(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    table = datasets.Dataset.from_dict(
        {"image": image_column(4), "label": [0, 1, 2, 3]}, features=features
    )
    path = tmp_path / "train.parquet"
    table.to_parquet(str(path))
    ds = HFDataset(
        "parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert len(ds) == 4
    sample = ds[2]
    assert isinstance(sample["image"], Image.Image)
    assert sample["image"].getpixel((0, 0)) == (20, 0, 0)
    assert sample["label"] == 2
    assert sample["sample_idx"] == 2


def test_arrow_file_loads_and_multi_view_batches_collate(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    table = datasets.Dataset.from_dict(
        {"image": image_column(4), "label": [0, 1, 0, 1]}, features=features
    )
    table.save_to_disk(str(tmp_path / "saved"))
    (arrow_file,) = sorted((tmp_path / "saved").glob("*.arrow"))
    view = transforms.Compose(
        transforms.RGB(), transforms.RandomHorizontalFlip(), transforms.ToImage()
    )
    ds = HFDataset(
        "arrow",
        data_files=str(arrow_file),
        split="train",
        cache_dir=str(tmp_path / "cache"),
        transform=transforms.MultiViewTransform(view, n_views=2),
    )
    assert len(ds) == 4
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert len(batch) == 2
    for v in batch:
        assert v["image"].shape == (4, 3, 8, 8)
        assert v["sample_idx"].tolist() == [0, 1, 2, 3]
        assert v["label"].tolist() == [0, 1, 0, 1]


def test_unreadable_image_names_the_index(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    good = image_column(1)[0]
    table = datasets.Dataset.from_dict({"image": [good, good], "label": [0, 1]}, features=features)
    broken = table.cast_column("image", datasets.Image(decode=False)).map(
        lambda row, i: {"image": {"bytes": b"not an image", "path": None}} if i == 1 else row,
        with_indices=True,
    )
    path = tmp_path / "broken.parquet"
    broken.cast_column("image", datasets.Image()).to_parquet(str(path))
    ds = HFDataset(
        "parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert isinstance(ds[0]["image"], Image.Image)
    with pytest.raises(RuntimeError, match=r"could not read sample 1 .*image columns: \['image'\]"):
        ds[1]


def test_split_none_and_streaming_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="split must name one split"):
        HFDataset("imagefolder", data_dir=str(tmp_path), split=None)
    with pytest.raises(ValueError, match="streaming"):
        HFDataset("imagefolder", data_dir=str(tmp_path), streaming=True)
