"""Dict datasets, per-sample and GPU batched augmentation, multi-view transforms and a Lightning DataModule."""

__version__ = "0.1.0"

__all__: list[str] = ["__version__"]
