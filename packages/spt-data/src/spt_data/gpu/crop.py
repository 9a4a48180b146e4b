"""Batched ``RandomResizedCrop``: a per-sample box, one batched bilinear resampling."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spt_data.gpu._base import RandomOp, check_images, to_float
from spt_data.gpu._random import bernoulli, draw_device

_N_TRIES = 10  # torchvision tries 10 candidate boxes before falling back to the centre crop


def _pick(candidates: Tensor, first: Tensor) -> Tensor:
    """Entry ``first[i]`` of row ``i`` of ``candidates`` (N, tries) -> (N,)."""
    return candidates.gather(1, first).squeeze(1)


def _resize_matrix(
    start: Tensor, length: Tensor, in_size: int, out_size: int, antialias: bool
) -> Tensor:
    """Interpolation weights (N, out_size, in_size) of a per-sample 1-D crop and resize.

    Row ``k`` holds the weights that output pixel ``k`` gives to the input pixels, for the
    crop ``[start, start + length)`` resized to ``out_size`` with half-pixel centres
    (``align_corners=False``). With ``antialias`` the bilinear (triangle) filter is widened
    by the downscaling factor and renormalised over the crop, as PyTorch's antialiased
    bilinear resize (and so torchvision v2's default) does; without it, the source
    coordinate is clamped to the crop as in ``F.interpolate(mode="bilinear")``.
    """
    dtype, device = torch.float32, start.device
    scale = length.to(dtype) / out_size  # (N,)
    centre = scale[:, None] * (torch.arange(out_size, dtype=dtype, device=device) + 0.5)
    xc = torch.arange(in_size, dtype=dtype, device=device)[None, :] - start[:, None].to(dtype)
    xc = xc[:, None, :]  # (N, 1, in) input pixel positions in crop coordinates
    inside = (xc >= 0) & (xc < length[:, None, None].to(dtype))
    if antialias:
        support = scale.clamp(min=1.0)[:, None, None]
        w = (1.0 - (xc + 0.5 - centre[:, :, None]).abs() / support).clamp(min=0.0)
        w = w * inside
        return w / w.sum(dim=-1, keepdim=True).clamp(min=1e-12)
    src = centre - 0.5
    src = torch.minimum(src.clamp(min=0.0), (length.to(dtype) - 1.0)[:, None])
    w = (1.0 - (xc - src[:, :, None]).abs()).clamp(min=0.0)
    return w * inside


def resized_crop(
    x: Tensor,
    top: Tensor,
    left: Tensor,
    height: Tensor,
    width: Tensor,
    size: tuple[int, int],
    antialias: bool = True,
) -> Tensor:
    """Crop a box per sample and resize it to ``size`` with bilinear interpolation.

    Matches ``torchvision.transforms.v2.functional.resized_crop(img, top, left, height,
    width, size, antialias=antialias)`` applied to each sample.

    Args:
        x: Images (N, C, H, W), uint8 or float.
        top: Top row of each box, int tensor (N,).
        left: Left column of each box, int tensor (N,).
        height: Box heights (N,).
        width: Box widths (N,).
        size: Output (height, width).
        antialias: Antialiased downscaling, as torchvision's default.

    Returns:
        Float images (N, C, size[0], size[1]).
    """
    check_images(x, "resized_crop")
    x = to_float(x)
    ry = _resize_matrix(top, height, x.shape[-2], size[0], antialias).to(x.dtype)
    rx = _resize_matrix(left, width, x.shape[-1], size[1], antialias).to(x.dtype)
    # (N, 1, Ho, H) @ (N, C, H, W) -> (N, C, Ho, W); then @ (N, 1, W, Wo) -> (N, C, Ho, Wo)
    out = torch.matmul(ry[:, None], x)
    return torch.matmul(out, rx.transpose(1, 2)[:, None])


class RandomResizedCrop(RandomOp):
    """Crop a random box of random area and aspect ratio per sample, resize it to ``size``.

    The box is drawn with torchvision's rule, vectorised: for each sample 10 candidates with
    area fraction ~ U(scale) and log aspect ratio ~ U(log ratio); the first candidate that
    fits in the image is used, with a uniformly drawn integer position; when none fits, the
    centre crop clamped to ``ratio`` (torchvision's fallback). All samples of a batch share
    the image size (H, W). Samples not selected by ``p`` are resized whole.

    Args:
        size: Output size, an int (square) or (height, width).
        scale: Range of the crop's area as a fraction of the image area.
        ratio: Range of the crop's aspect ratio (width / height).
        p: Probability, per sample, of a random crop (else the whole image is resized).
        antialias: Antialiased bilinear downscaling (torchvision's default is True).
        generator: Default generator for the draws.

    Examples:
        >>> crop = RandomResizedCrop(32, scale=(0.2, 1.0))
        >>> crop(torch.zeros(4, 3, 40, 48, dtype=torch.uint8)).shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(
        self,
        size: int | tuple[int, int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        p: float = 1.0,
        antialias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, generator)
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ValueError(f"size={size!r} must be a positive int or (height, width).")
        if not (0.0 < scale[0] <= scale[1]):
            raise ValueError(f"scale={scale!r} must satisfy 0 < scale[0] <= scale[1].")
        if not (0.0 < ratio[0] <= ratio[1]):
            raise ValueError(f"ratio={ratio!r} must satisfy 0 < ratio[0] <= ratio[1].")
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.antialias = antialias

    def sample_boxes(
        self,
        n: int,
        image_size: tuple[int, int],
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Draw ``n`` boxes (top, left, height, width), int64 tensors (n,), on ``device``."""
        H, W = image_size
        dev = draw_device(device, generator)
        u = torch.rand((4, n, _N_TRIES), generator=generator, device=dev, dtype=torch.float64)
        area = H * W * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[0])
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(lo + (hi - lo) * u[1])
        w = torch.round(torch.sqrt(area * aspect)).long()
        h = torch.round(torch.sqrt(area / aspect)).long()
        valid = (w > 0) & (w <= W) & (h > 0) & (h <= H)
        first = valid.to(torch.uint8).argmax(dim=1, keepdim=True)  # first valid candidate
        h, w = _pick(h, first), _pick(w, first)
        top = torch.floor(_pick(u[2], first) * (H - h + 1)).long().clamp(max=H - h)
        left = torch.floor(_pick(u[3], first) * (W - w + 1)).long().clamp(max=W - w)
        fh, fw = self._fallback(H, W)
        ok = valid.any(dim=1)
        top = torch.where(ok, top, (H - fh) // 2)
        left = torch.where(ok, left, (W - fw) // 2)
        h = torch.where(ok, h, fh)
        w = torch.where(ok, w, fw)
        boxes = {"top": top, "left": left, "height": h, "width": w}
        return {k: v.to(device, non_blocking=True) for k, v in boxes.items()}

    def _fallback(self, H: int, W: int) -> tuple[int, int]:
        """torchvision's centre-crop fallback: the whole image, clamped to ``ratio``."""
        in_ratio = W / H
        if in_ratio < self.ratio[0]:
            return round(W / self.ratio[0]), W
        if in_ratio > self.ratio[1]:
            return H, round(H * self.ratio[1])
        return H, W

    def sample_params(
        self, shape: torch.Size, device: torch.device, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        n, H, W = int(shape[0]), int(shape[-2]), int(shape[-1])
        boxes = self.sample_boxes(n, (H, W), device, generator)
        if self.p < 1.0:
            keep = ~bernoulli(n, self.p, device, generator)
            full = {"top": 0, "left": 0, "height": H, "width": W}
            boxes = {k: torch.where(keep, full[k], v) for k, v in boxes.items()}
        return boxes

    def apply_params(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        return resized_crop(
            x,
            params["top"],
            params["left"],
            params["height"],
            params["width"],
            self.size,
            self.antialias,
        )

    def extra_repr(self) -> str:
        return f"size={self.size}, scale={self.scale}, ratio={self.ratio}, p={self.p}"
