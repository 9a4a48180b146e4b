"""memory_format=torch.channels_last on the GPU ops: NHWC outputs equal to the NCHW ones.

The end-to-end test (device-resident uint8 data, GPU views, ``Module(channels_last=True)``)
is skipped when spt-module is not installed, so spt-data's tests still run alone.
"""

import pytest
import torch
from torch import nn

from spt_data import DataModule, DeviceLoader, gpu, static

CL = torch.channels_last


def uint8_batch(n=6, size=12):
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=gen)


def recipe(last=None, memory_format=None):
    ops = [
        gpu.RandomResizedCrop((8, 8), scale=(0.2, 1.0)),
        gpu.RandomHorizontalFlip(p=0.5),
        gpu.ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8),
        gpu.RandomGrayscale(p=0.2),
    ]
    ops.append(last if last is not None else gpu.Normalize(**static.CIFAR10))
    return gpu.GPUCompose(*ops, memory_format=memory_format)


@pytest.mark.parametrize("op", [gpu.Normalize(**static.CIFAR10), gpu.ToFloat()])
def test_normalize_and_to_float_write_channels_last(op):
    x = uint8_batch()
    out = op(x, memory_format=CL)
    assert out.is_contiguous(memory_format=CL)
    torch.testing.assert_close(out, op(x), rtol=0, atol=0)
    assert op(x.float() / 255).is_contiguous()  # the default keeps the layout of the ops


@pytest.mark.parametrize(
    "last", [None, gpu.RandomSolarize(0.5, p=1.0)], ids=["normalize", "solarize"]
)
def test_compose_output_is_channels_last_and_equal(last):
    x = uint8_batch()
    default = recipe(last)(x, generator=torch.Generator().manual_seed(1))
    nhwc = recipe(last, memory_format=CL)(x, generator=torch.Generator().manual_seed(1))
    assert nhwc.is_contiguous(memory_format=CL)
    assert default.is_contiguous()
    torch.testing.assert_close(nhwc, default, rtol=0, atol=0)


def test_multi_view_and_multi_crop_views_are_channels_last():
    batch = {"image": uint8_batch(), "label": torch.arange(6)}
    views = gpu.MultiViewGPUTransform([recipe(), recipe()], memory_format=CL)
    reference = gpu.MultiViewGPUTransform([recipe(), recipe()])
    out = views(batch, generator=torch.Generator().manual_seed(2))
    expected = reference(batch, generator=torch.Generator().manual_seed(2))
    for view, ref in zip(out, expected, strict=True):
        assert view["image"].is_contiguous(memory_format=CL)
        torch.testing.assert_close(view["image"], ref["image"], rtol=0, atol=0)
    crops = gpu.MultiCropGPUTransform(recipe(), recipe(), n_global=2, n_local=2, memory_format=CL)
    assert all(v.is_contiguous(memory_format=CL) for v in crops(uint8_batch()))


def test_device_resident_uint8_views_reach_a_channels_last_module():
    spt_module = pytest.importorskip("spt_module")
    testing = pytest.importorskip("spt_module.testing")

    def forward(self, batch, stage):
        self.layouts.append([v["image"].is_contiguous(memory_format=CL) for v in batch])
        z = [self.backbone(v["image"]) for v in batch]
        return {"loss": (z[0] - z[1]).pow(2).mean()}

    module = spt_module.Module(
        forward=forward,
        backbone=nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        optim={"optimizer": {"type": "SGD", "lr": 0.01}, "scheduler": None},
        channels_last=True,
    )
    module.layouts = []
    views = gpu.MultiViewGPUTransform([recipe(), recipe()])
    loader = DeviceLoader({"image": uint8_batch(16), "label": torch.arange(16)}, batch_size=8)
    data = DataModule(train=loader, gpu_transform=views)
    testing.make_trainer(max_epochs=1).fit(module, datamodule=data)
    assert views.memory_format is CL  # the Module asked the transform for NHWC views
    assert module.layouts == [[True, True], [True, True]]
