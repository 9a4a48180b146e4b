"""SSL methods as ``forward(self, batch, stage) -> dict`` functions for ``spt.Module``.

Each reads named components of the module (``self.backbone``, ``self.projector``, a loss) and
handles a multi-view training batch (a list of view dicts, as ``MultiViewTransform`` yields) or
a single dict batch (views folded by ``sample_idx``; or one view for validation), returning
``embedding`` and ``label`` for the callbacks and ``loss`` when it can be computed.
"""

from spt.forward.byol import byol_forward
from spt.forward.dino import dino_forward
from spt.forward.joint_embedding import barlow_twins_forward, simclr_forward, vicreg_forward
from spt.forward.mae import mae_forward
from spt.forward.supervised import supervised_forward

__all__ = [
    "barlow_twins_forward",
    "byol_forward",
    "dino_forward",
    "mae_forward",
    "simclr_forward",
    "supervised_forward",
    "vicreg_forward",
]
