"""Dict datasets, CPU and GPU augmentation, multi-view transforms and a Lightning DataModule.

Samples are dicts that carry ``sample_idx``; transforms read and write named keys.

Examples:
    >>> import spt_data
    >>> from spt_data import transforms
    >>> train = spt_data.digits("train", transform=transforms.ToImage(**spt_data.static.digits))
    >>> train[0]["image"].dtype
    torch.float32
"""

from typing import TYPE_CHECKING, Any

from spt_data import gpu, masking, recipes, static, transforms
from spt_data.captions import DIGIT_NAMES, DIGIT_TEMPLATES, CaptionFromLabel
from spt_data.cifar import cifar, cifar_classes, read_cifar
from spt_data.datasets import DictDataset, FromTorchDataset, SampleDataset
from spt_data.device_loader import DeviceLoader
from spt_data.digits import digits
from spt_data.fold_views import fold_views
from spt_data.hf import HFDataset
from spt_data.image_folder import ImageFolder
from spt_data.samplers import RepeatedRandomSampler
from spt_data.timeseries import synthetic_timeseries

if TYPE_CHECKING:
    from spt_data.datamodule import DataModule

__version__ = "0.1.0"

__all__ = [
    "DIGIT_NAMES",
    "DIGIT_TEMPLATES",
    "CaptionFromLabel",
    "DataModule",
    "DeviceLoader",
    "DictDataset",
    "FromTorchDataset",
    "HFDataset",
    "ImageFolder",
    "RepeatedRandomSampler",
    "SampleDataset",
    "__version__",
    "cifar",
    "cifar_classes",
    "digits",
    "fold_views",
    "gpu",
    "masking",
    "read_cifar",
    "recipes",
    "static",
    "synthetic_timeseries",
    "transforms",
]


def __getattr__(name: str) -> Any:
    # DataModule imports lightning (seconds); users of the datasets and transforms alone
    # (in DataLoader workers, say) do not pay for it.
    if name == "DataModule":
        from spt_data.datamodule import DataModule

        return DataModule
    raise AttributeError(f"module 'spt_data' has no attribute {name!r}")
