"""Self-supervised objectives (NT-Xent, VICReg, Barlow Twins, DINO, BYOL, MAE) correct under DDP."""

from spt_losses.barlow_twins import BarlowTwinsLoss
from spt_losses.dino import DINOLoss
from spt_losses.mae import MAELoss
from spt_losses.negative_cosine import NegativeCosineSimilarity
from spt_losses.ntxent import NTXEntLoss, NTXentLoss
from spt_losses.vicreg import VICRegLoss

__version__ = "0.1.0"

__all__: list[str] = [
    "BarlowTwinsLoss",
    "DINOLoss",
    "MAELoss",
    "NTXEntLoss",
    "NTXentLoss",
    "NegativeCosineSimilarity",
    "VICRegLoss",
    "__version__",
]
