"""The spt toolkit: SSL methods, backbones, the run Manager and the spt command."""

__version__ = "0.1.0"

__all__: list[str] = ["__version__"]
