"""A Lightning module with one ``forward(self, batch, stage)``, manual optimization and FSDP2.

Accumulation, clipping, per-optimizer frequencies and schedulers are applied by the Module.

Importing this package registers ``Trainer(strategy="fsdp2")`` in Lightning's StrategyRegistry.
"""

from spt_module._compile import compile_components
from spt_module.fsdp import FSDP2Strategy, default_parallelize_fn, register_fsdp2
from spt_module.module import Module

__version__ = "0.1.0"

register_fsdp2()

__all__: list[str] = [
    "FSDP2Strategy",
    "Module",
    "__version__",
    "compile_components",
    "default_parallelize_fn",
]
