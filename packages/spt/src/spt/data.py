"""Dict datasets, transforms, statistics, the DataModule: ``spt.data`` is ``spt_data``."""

from typing import TYPE_CHECKING

from spt._reexport import reexport

if TYPE_CHECKING:
    from spt_data import *  # noqa: F403
    from spt_data import __all__ as __all__

__getattr__ = reexport(globals(), "spt_data")
