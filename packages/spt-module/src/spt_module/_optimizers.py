"""The optimizers of :class:`spt_module.Module` in the format ``configure_optimizers`` returns.

The optimizers come from :func:`spt_optim.build_optimizers` (no second parser here) and the
schedule length from :func:`spt_optim.length_from_module`, which counts the accumulation
the Module took over from the Trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spt_optim import OptimizerEntry

__all__ = ["lightning_configs"]


def lightning_configs(entries: Sequence[OptimizerEntry]) -> list[dict[str, Any]]:
    """What ``configure_optimizers`` returns for ``entries`` under manual optimization.

    Lightning ignores (and warns about) a scheduler's ``"monitor"`` under manual
    optimization, so it is left out: the Module steps every scheduler itself.
    """
    configs = []
    for entry in entries:
        config = dict(entry.lightning_dict())
        if config.get("lr_scheduler") is not None:
            config["lr_scheduler"] = {
                k: v for k, v in config["lr_scheduler"].items() if k != "monitor"
            }
        else:
            config.pop("lr_scheduler", None)
        configs.append(config)
    return configs
