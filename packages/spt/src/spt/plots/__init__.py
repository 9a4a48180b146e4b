"""Pictures of a run: training curves, latent maps, ViT attention maps, and ``spt plot``.

matplotlib is an optional extra (``pip install "spt[plots]"``), imported when a picture is
drawn; without it the callbacks log one line and draw nothing, and ``spt plot`` says which
extra to install.

Examples:
    >>> from spt.plots import TrainingCurves, LatentMap
    >>> callbacks = [TrainingCurves(), LatentMap(every_n_epochs=5)]
"""

from spt.plots._attention import class_token_attention, draw_attention_maps
from spt.plots._callbacks import LatentMap, TrainingCurves, plots_dir
from spt.plots._command import main
from spt.plots._curves import plot_comparison, plot_run
from spt.plots._latent import draw_latent_map, pca_2d
from spt.plots._metrics_csv import find_metrics_csv, read_metrics
from spt.plots._mpl import MissingExtraError

__all__ = [
    "LatentMap",
    "MissingExtraError",
    "TrainingCurves",
    "class_token_attention",
    "draw_attention_maps",
    "draw_latent_map",
    "find_metrics_csv",
    "main",
    "pca_2d",
    "plot_comparison",
    "plot_run",
    "plots_dir",
    "read_metrics",
]
