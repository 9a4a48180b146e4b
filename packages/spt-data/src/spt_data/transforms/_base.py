"""The dict layer: apply one ``torchvision.transforms.v2`` op to one key of a sample dict."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["DictTransform", "check_p"]


def check_p(name: str, p: float) -> float:
    """Return ``p`` as a float after checking it is a probability."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name}: p must be a probability in [0, 1], got {p!r}")
    return float(p)


class DictTransform:
    """Apply ``op`` to ``sample[key]`` with probability ``p``; every other key passes through.

    The input dict is not modified: the result is a shallow copy with ``key`` replaced. This is
    the base of every transform in :mod:`spt_data.transforms`, and it wraps any other
    ``torchvision.transforms.v2`` op (or any callable on one value) as well.

    Args:
        op: Callable applied to the value at ``key``, e.g. ``v2.RandomRotation(15)``.
        key: The key the op reads and writes (default ``"image"``).
        p: Probability of applying ``op``; the draw uses torch's generator, so
            ``torch.manual_seed`` and DataLoader worker seeding make it reproducible.
        op_applies_p: True when ``op`` already applies ``p`` itself (torchvision's
            ``RandomHorizontalFlip(p)``, ...): the layer then draws nothing.

    Raises:
        KeyError: (on call) ``key`` is not in the sample; the message lists the keys present.
        TypeError: (on call) the sample is not a dict.

    Examples:
        >>> from torchvision.transforms import v2
        >>> rotate = DictTransform(v2.RandomRotation(15), p=0.5)
        >>> out = rotate({"image": torch.zeros(3, 8, 8), "label": 1})
        >>> out["label"]
        1
    """

    def __init__(
        self,
        op: Callable[[Any], Any],
        key: str = "image",
        p: float = 1.0,
        *,
        op_applies_p: bool = False,
    ) -> None:
        name = type(self).__name__
        if not callable(op):
            raise TypeError(f"{name}: op must be callable, got {type(op).__name__}")
        if not isinstance(key, str):
            raise TypeError(f"{name}: key must be a string such as 'image', got {key!r}")
        self.op = op
        self.key = key
        self.p = check_p(name, p)
        self._draw_p = 1.0 if op_applies_p else self.p

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        try:
            value = sample[self.key]
        except KeyError:
            raise KeyError(
                f"{type(self).__name__}: key {self.key!r} is not in the sample; keys present: "
                f"{sorted(sample)}. Pass key=... to choose the key to transform"
            ) from None
        except TypeError:
            raise TypeError(
                f"{type(self).__name__}: expected a sample dict, got {type(sample).__name__}; "
                "wrap tuple datasets with spt_data.FromTorchDataset(dataset, names=[...])"
            ) from None
        out = dict(sample)
        p = self._draw_p
        if p == 1.0 or (p > 0.0 and torch.rand(1).item() < p):
            out[self.key] = self.op(value)
        return out

    def extra_repr(self) -> str:
        """Arguments shown by ``repr`` besides the op."""
        parts = [] if self.key == "image" else [f"key={self.key!r}"]
        if self.p != 1.0:
            parts.append(f"p={self.p}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        extra = self.extra_repr()
        return f"{type(self).__name__}({self.op!r}{', ' + extra if extra else ''})"
