"""Online probes, kNN, representation monitors and the EMA teacher callback.

``spt.callbacks`` is ``spt_callbacks`` plus :class:`spt.ema.TeacherStudentCallback`.
"""

from typing import TYPE_CHECKING

from spt._reexport import reexport

if TYPE_CHECKING:
    from spt.ema import TeacherStudentCallback
    from spt_callbacks import *  # noqa: F403
    from spt_callbacks import __all__ as _member_all

    __all__ = [*_member_all, "TeacherStudentCallback"]

__getattr__ = reexport(globals(), "spt_callbacks", extra={"TeacherStudentCallback": "spt.ema"})
