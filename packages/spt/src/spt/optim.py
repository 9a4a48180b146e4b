"""Optimizers, schedulers and parameter routing: ``spt.optim`` is ``spt_optim``."""

from typing import TYPE_CHECKING

from spt._reexport import reexport

if TYPE_CHECKING:
    from spt_optim import *  # noqa: F403
    from spt_optim import __all__ as __all__

__getattr__ = reexport(globals(), "spt_optim")
