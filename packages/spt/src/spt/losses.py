"""Self-supervised losses: ``spt.losses`` is ``spt_losses`` (its names and submodules)."""

from typing import TYPE_CHECKING

from spt._reexport import reexport

if TYPE_CHECKING:
    from spt_losses import *  # noqa: F403
    from spt_losses import __all__ as __all__

__getattr__ = reexport(globals(), "spt_losses")
