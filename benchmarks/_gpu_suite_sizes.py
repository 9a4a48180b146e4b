"""The sizes of every measurement of ``gpu_suite.py``: the issue's, and toy ones (``--dry-run``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

VIT_S16 = {"img_size": 224, "patch_size": 16, "dim": 384, "depth": 12, "heads": 6}


@dataclass(frozen=True)
class Sizes:
    """What each section measures and how long; ``full()`` is the GPU run, ``dry()`` the CPU one."""

    # the convolutional backbone of sections 1 and 5: "resnet18" (CIFAR stem) or a toy CNN
    cnn: str
    # 1. SimCLR ResNet-18 step
    step_batch: int
    step_image: int
    step_projector: tuple[int, int, int]  # hidden, hidden, output widths
    step_warmup: int
    step_steps: int
    step_dataset: int  # uint8 images behind the end-to-end loaders
    step_workers: int
    monitor_queue: int  # OnlineKNN / RankMe queue length
    compile_backend: str
    step_grid: tuple[str, ...]  # option sets run when --grid is not given
    # 2. two-view augmentation: (output side, source side, batch)
    augment: tuple[tuple[int, int, int], ...]
    augment_warmup: int
    augment_iterations: int
    # 3. NT-Xent: (batch per view, dim)
    ntxent: tuple[tuple[int, int], ...]
    ntxent_warmup: int
    ntxent_iterations: int
    # 4. kNN
    knn_queue: int
    knn_queries: int
    knn_dim: int
    knn_classes: int
    # 5. every method
    method_batch: int
    method_image: int
    method_vit: dict[str, int] = field(default_factory=dict)
    method_vit_batch: int = 64
    method_shrink: dict[str, int] = field(default_factory=dict)
    method_warmup: int = 5
    method_steps: int = 20
    # 6. a ViT step of I-JEPA and DINOv2 (batch per method; DINOv2's local crops: count, side)
    vit_step_vit: dict[str, int] = field(default_factory=lambda: dict(VIT_S16))
    vit_step_batch: dict[str, int] = field(default_factory=lambda: {"ijepa": 64, "dinov2": 32})
    vit_step_local: tuple[int, int] = (8, 96)
    vit_step_shrink: dict[str, int] = field(default_factory=dict)
    vit_step_warmup: int = 10  # compiled I-JEPA recompiles while its mask sizes vary
    vit_step_steps: int = 20
    dry_run: bool = False

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            cnn="resnet18",
            step_batch=256,
            step_image=32,
            step_projector=(2048, 2048, 128),
            step_warmup=10,
            step_steps=50,
            step_dataset=50_000,
            step_workers=4,
            monitor_queue=20_000,
            compile_backend="inductor",
            step_grid=("eager", "channels_last", "compile", "channels_last+compile"),
            augment=((32, 32, 512), (224, 256, 128)),
            augment_warmup=5,
            augment_iterations=50,
            ntxent=((4096, 128), (4096, 2048)),
            ntxent_warmup=3,
            ntxent_iterations=20,
            knn_queue=1_000_000,
            knn_queries=10_000,
            knn_dim=256,
            knn_classes=100,
            method_batch=256,
            method_image=32,
            method_vit=dict(VIT_S16),
            method_vit_batch=64,
        )

    @classmethod
    def dry(cls) -> Sizes:
        return cls(
            cnn="small_cnn",  # the same code paths at a thousandth of ResNet-18's parameters
            step_batch=4,
            step_image=16,
            step_projector=(32, 32, 16),
            step_warmup=1,
            step_steps=2,
            step_dataset=16,
            step_workers=0,
            monitor_queue=64,
            compile_backend="eager",  # dynamo traces the graphs; no code generation on the CPU
            step_grid=("eager", "channels_last+compile"),
            augment=((32, 32, 8), (64, 72, 2)),
            augment_warmup=1,
            augment_iterations=2,
            ntxent=((64, 16), (64, 64)),
            ntxent_warmup=1,
            ntxent_iterations=2,
            knn_queue=4096,
            knn_queries=256,
            knn_dim=16,
            knn_classes=10,
            method_batch=4,
            method_image=16,
            method_vit={"img_size": 16, "patch_size": 4, "dim": 32, "depth": 1, "heads": 2},
            method_vit_batch=4,
            method_shrink={
                "hidden_dim": 64,
                "proj_dim": 32,
                "pred_hidden_dim": 64,
                "bottleneck_dim": 32,
                "out_dim": 128,
                "queue_size": 64,
                "support_size": 64,
                "num_prototypes": 32,
                "decoder_dim": 32,
                "decoder_depth": 1,
                "decoder_heads": 2,
                "predictor_dim": 32,
                "predictor_depth": 1,
                "predictor_heads": 2,
            },
            method_warmup=1,
            method_steps=2,
            vit_step_vit={"img_size": 32, "patch_size": 4, "dim": 32, "depth": 2, "heads": 2},
            vit_step_batch={"ijepa": 8, "dinov2": 8},
            vit_step_local=(2, 16),
            vit_step_shrink={
                "predictor_dim": 32,
                "predictor_depth": 1,
                "predictor_heads": 2,
                "hidden_dim": 64,
                "bottleneck_dim": 32,
                "out_dim": 128,
                "patch_out_dim": 128,
            },
            vit_step_warmup=2,
            vit_step_steps=3,
            dry_run=True,
        )


def cnn_backbone(sizes: Sizes) -> tuple[nn.Module, int, str]:
    """The convolutional backbone of sections 1 and 5, its output width and its name."""
    import spt
    from spt.config import without_head

    if sizes.cnn == "resnet18":
        model = spt.backbone.from_torchvision("resnet18", low_resolution=True)
        return without_head(model), 512, "ResNet-18"
    return spt.backbone.SmallCNN(3, 8, embed_dim=32), 32, "SmallCNN(width 8)"
