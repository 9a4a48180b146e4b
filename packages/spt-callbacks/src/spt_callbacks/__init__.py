"""Online linear probes, kNN and representation-collapse monitors for Lightning, on shared device queues."""

__version__ = "0.1.0"

__all__: list[str] = ["__version__"]
