"""Declarative optimizers, regex parameter routing and schedulers with defaults for any PyTorch or Lightning code."""

__version__ = "0.1.0"

__all__: list[str] = ["__version__"]
