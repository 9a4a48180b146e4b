"""Self-supervised objectives (NT-Xent, VICReg, Barlow Twins, DINO, BYOL, MAE) correct under DDP."""

from spt_losses.barlow_twins import BarlowTwinsLoss
from spt_losses.clip import CLIPLoss
from spt_losses.dino import DINOLoss
from spt_losses.ibot import IBOTPatchLoss
from spt_losses.ijepa import IJEPALoss
from spt_losses.koleo import KoLeoLoss
from spt_losses.lejepa import LeJEPALoss
from spt_losses.mae import MAELoss
from spt_losses.memory_bank import MemoryBank
from spt_losses.moco import MoCoV2Loss, MoCoV3Loss
from spt_losses.negative_cosine import NegativeCosineSimilarity
from spt_losses.nnclr import NNCLRLoss, nearest_neighbours
from spt_losses.ntxent import NTXEntLoss, NTXentLoss
from spt_losses.sigreg import SIGReg
from spt_losses.sinkhorn import sinkhorn_knopp
from spt_losses.supcon import SupConLoss
from spt_losses.swav import Prototypes, SwAVLoss
from spt_losses.vicreg import VICRegLoss

__version__ = "0.1.0"

__all__: list[str] = [
    "BarlowTwinsLoss",
    "CLIPLoss",
    "DINOLoss",
    "IBOTPatchLoss",
    "IJEPALoss",
    "KoLeoLoss",
    "LeJEPALoss",
    "MAELoss",
    "MemoryBank",
    "MoCoV2Loss",
    "MoCoV3Loss",
    "NNCLRLoss",
    "NTXEntLoss",
    "NTXentLoss",
    "NegativeCosineSimilarity",
    "Prototypes",
    "SIGReg",
    "SupConLoss",
    "SwAVLoss",
    "VICRegLoss",
    "__version__",
    "nearest_neighbours",
    "sinkhorn_knopp",
]
