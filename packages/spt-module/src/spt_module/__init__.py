"""A Lightning module with one forward(self, batch, stage), manual optimization, accumulation, clipping and FSDP2."""

__version__ = "0.1.0"

__all__: list[str] = ["__version__"]
