"""A dict dataset over a Hugging Face ``datasets`` dataset, from the Hub or local files."""

from __future__ import annotations

from typing import Any

from spt_data.datasets import SAMPLE_IDX, SampleDataset, Transform

__all__ = ["HFDataset"]


class HFDataset(SampleDataset):
    """Load a dataset with ``datasets.load_dataset`` and serve its rows as dicts.

    Image columns (``datasets.Image`` features) are decoded to PIL images when a row is read,
    so the transforms of :mod:`spt_data.transforms` apply directly. Works from the Hub
    (``HFDataset("frgfm/imagenette", "160px", split="train")``) and from local files through
    the packaged builders: ``HFDataset("parquet", data_files="train.parquet")``,
    ``HFDataset("arrow", data_files=...)``, ``HFDataset("imagefolder", data_dir="images/")``.
    Needs the ``datasets`` package (``pip install spt-data[hf]``), imported on construction.

    Args:
        path: Hub name, local directory, or builder name (``"parquet"``, ``"imagefolder"``...).
        name: Configuration name on the Hub.
        split: The split to load (a ``datasets`` split string such as ``"train[:10%]"``).
        transform: Callable applied to the sample dict.
        gpu_transform: Stored for ``spt_module`` (see :class:`~spt_data.SampleDataset`).
        **load_kwargs: Passed to ``datasets.load_dataset`` (``data_files``, ``data_dir``,
            ``revision``, ``cache_dir``...). ``streaming=True`` is not supported.

    Raises:
        ImportError: ``datasets`` is not installed.
        ValueError: ``split`` is ``None`` or ``streaming=True`` is given, or the dataset has a
            ``sample_idx`` column.
        RuntimeError: (on read) a row cannot be read or an image cannot be decoded; the message
            names the index.

    Examples:
        >>> ds = HFDataset("imagefolder", data_dir="images/", split="train")  # doctest: +SKIP
        >>> ds[0]["image"], ds[0]["label"], ds[0]["sample_idx"]  # doctest: +SKIP
        (<PIL.Image.Image image mode=RGB size=32x32>, 0, 0)
    """

    def __init__(
        self,
        path: str,
        name: str | None = None,
        split: str = "train",
        transform: Transform | None = None,
        *,
        gpu_transform: Any = None,
        **load_kwargs: Any,
    ) -> None:
        super().__init__(transform, gpu_transform)
        if split is None:
            raise ValueError(
                "HFDataset: split must name one split such as 'train'; "
                "build one HFDataset per split"
            )
        if load_kwargs.get("streaming"):
            raise ValueError(
                "HFDataset: streaming=True gives an iterable dataset, which has no random "
                "access; load it without streaming"
            )
        try:
            import datasets
        except ImportError as error:
            raise ImportError(
                "HFDataset needs the `datasets` package: pip install 'spt-data[hf]'"
            ) from error
        self.path = path
        self.name = name
        self.split = split
        loaded = datasets.load_dataset(path, name, split=split, **load_kwargs)
        if not isinstance(loaded, datasets.Dataset):
            raise ValueError(
                f"HFDataset: load_dataset({path!r}, split={split!r}) returned "
                f"{type(loaded).__name__}, expected one split (a datasets.Dataset)"
            )
        if SAMPLE_IDX in loaded.column_names:
            raise ValueError(
                f"HFDataset: the dataset already has a '{SAMPLE_IDX}' column, which this dataset "
                "adds itself; remove or rename it with dataset.rename_column"
            )
        self.dataset = loaded
        self.image_columns = [
            column
            for column, feature in loaded.features.items()
            if isinstance(feature, datasets.Image)
        ]

    def __len__(self) -> int:
        return len(self.dataset)

    def _read(self, index: int) -> dict[str, Any]:
        try:
            row = self.dataset[int(index)]
        except IndexError:
            raise
        except Exception as error:
            columns = f" (image columns: {self.image_columns})" if self.image_columns else ""
            raise RuntimeError(
                f"HFDataset: could not read sample {index} of {self.path!r} split "
                f"{self.split!r}{columns}: {type(error).__name__}: {error}"
            ) from error
        return dict(row)

    def __repr__(self) -> str:
        return f"HFDataset({self.path!r}, split={self.split!r}, n={len(self)})"
