"""Self-supervised objectives (NT-Xent, VICReg, Barlow Twins, DINO, BYOL, MAE) correct under DDP."""

__version__ = "0.1.0"

__all__: list[str] = ["__version__"]
