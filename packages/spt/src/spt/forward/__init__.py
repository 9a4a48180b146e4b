"""SSL methods as ``forward(self, batch, stage) -> dict`` functions for ``spt.Module``.

Each reads named components of the module (``self.backbone``, ``self.projector``, a loss) and
handles a multi-view training batch (a list of view dicts, as ``MultiViewTransform`` yields) or
a single dict batch (views folded by ``sample_idx``; or one view for validation), returning
``embedding`` and ``label`` for the callbacks and ``loss`` when it can be computed.

Every method has two names for the same function: the short one that code ported from
stable-pretraining uses (``spt.forward.simclr``) and the explicit one
(``spt.forward.simclr_forward``). The files that define them have private names, so
``spt.forward.byol`` is always the function, never a submodule.

Examples:
    >>> import spt
    >>> spt.forward.byol is spt.forward.byol_forward
    True
"""

from spt.forward._byol import byol_forward
from spt.forward._clip import clip_forward
from spt.forward._dino import dino_forward
from spt.forward._ibot import dinov2_forward, ibot_forward
from spt.forward._ijepa import ijepa_forward
from spt.forward._joint_embedding import barlow_twins_forward, simclr_forward, vicreg_forward
from spt.forward._lejepa import lejepa_forward
from spt.forward._mae import mae_forward
from spt.forward._moco import moco_v2_forward, moco_v3_forward
from spt.forward._nnclr import nnclr_forward
from spt.forward._simsiam import simsiam_forward
from spt.forward._supcon import supcon_forward
from spt.forward._supervised import supervised_forward
from spt.forward._swav import swav_forward

barlow_twins = barlow_twins_forward
byol = byol_forward
clip = clip_forward
dino = dino_forward
dinov2 = dinov2_forward
ibot = ibot_forward
ijepa = ijepa_forward
lejepa = lejepa_forward
mae = mae_forward
moco_v2 = moco_v2_forward
moco_v3 = moco_v3_forward
nnclr = nnclr_forward
simclr = simclr_forward
simsiam = simsiam_forward
supcon = supcon_forward
supervised = supervised_forward
swav = swav_forward
vicreg = vicreg_forward

__all__ = [
    "barlow_twins",
    "barlow_twins_forward",
    "byol",
    "byol_forward",
    "clip",
    "clip_forward",
    "dino",
    "dino_forward",
    "dinov2",
    "dinov2_forward",
    "ibot",
    "ibot_forward",
    "ijepa",
    "ijepa_forward",
    "lejepa",
    "lejepa_forward",
    "mae",
    "mae_forward",
    "moco_v2",
    "moco_v2_forward",
    "moco_v3",
    "moco_v3_forward",
    "nnclr",
    "nnclr_forward",
    "simclr",
    "simclr_forward",
    "simsiam",
    "simsiam_forward",
    "supcon",
    "supcon_forward",
    "supervised",
    "supervised_forward",
    "swav",
    "swav_forward",
    "vicreg",
    "vicreg_forward",
]
