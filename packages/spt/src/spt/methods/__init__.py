"""Builders of SSL methods: ``spt.methods.<name>(backbone, embed_dim, ...) -> spt.Module``.

Each builder is a shortcut over the component style: it returns
``spt.Module(forward=spt.forward.<name>, backbone=..., projector=..., <loss>=..., ...)`` with the
heads and defaults of the method's paper. Every keyword a builder does not know (``hparams``,
``metrics``, ...) passes through to ``spt.Module``; components can be replaced afterwards like
on any module built by hand.
"""

from spt.methods._barlow_twins import barlow_twins
from spt.methods._byol import byol
from spt.methods._clip import clip
from spt.methods._dino import DINOHead, dino
from spt.methods._dinov2 import dinov2
from spt.methods._ibot import ibot
from spt.methods._ijepa import LinearMomentumTeacherStudent, ijepa
from spt.methods._lejepa import lejepa
from spt.methods._mae import mae
from spt.methods._moco import moco_v2, moco_v3
from spt.methods._nnclr import nnclr
from spt.methods._simclr import simclr
from spt.methods._simsiam import simsiam
from spt.methods._supcon import supcon
from spt.methods._supervised import supervised
from spt.methods._swav import swav
from spt.methods._vicreg import vicreg

__all__: list[str] = [
    "DINOHead",
    "LinearMomentumTeacherStudent",
    "barlow_twins",
    "byol",
    "clip",
    "dino",
    "dinov2",
    "ibot",
    "ijepa",
    "lejepa",
    "mae",
    "moco_v2",
    "moco_v3",
    "nnclr",
    "simclr",
    "simsiam",
    "supcon",
    "supervised",
    "swav",
    "vicreg",
]
