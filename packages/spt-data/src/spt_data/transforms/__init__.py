"""Per-sample CPU transforms on sample dicts, built on ``torchvision.transforms.v2``.

Each transform reads and writes one key (``"image"`` by default) and passes every other key
through; random ones take ``p``. ``Compose(*transforms)`` chains them and
``MultiViewTransform`` makes a list of views (``MultiCropTransform``: global views, then
smaller local ones).

Examples:
    >>> from spt_data import static, transforms
    >>> view = transforms.Compose(
    ...     transforms.RGB(),
    ...     transforms.RandomResizedCrop((32, 32), scale=(0.2, 1.0)),
    ...     transforms.RandomHorizontalFlip(p=0.5),
    ...     transforms.ToImage(**static.CIFAR10),
    ... )
    >>> simclr = transforms.MultiViewTransform([view, view])
"""

from spt_data.transforms._base import DictTransform
from spt_data.transforms.blur import GaussianBlur
from spt_data.transforms.color import RGB, ColorJitter, RandomGrayscale, RandomSolarize
from spt_data.transforms.compose import Compose
from spt_data.transforms.geometry import CenterCrop, RandomHorizontalFlip, RandomResizedCrop, Resize
from spt_data.transforms.multi_crop import MultiCropTransform
from spt_data.transforms.multi_view import MultiViewTransform
from spt_data.transforms.to_image import ToImage

__all__ = [
    "RGB",
    "CenterCrop",
    "ColorJitter",
    "Compose",
    "DictTransform",
    "GaussianBlur",
    "MultiCropTransform",
    "MultiViewTransform",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomSolarize",
    "Resize",
    "ToImage",
]
