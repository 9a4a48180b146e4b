"""2-D maps of embeddings coloured by label: PCA always, UMAP when ``umap-learn`` is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from spt.plots._mpl import new_figure, save_figure

__all__ = ["PANEL_SIZE", "draw_latent_map", "pca_2d", "umap_2d"]

PANEL_SIZE = (5.0, 4.5)  # inches per panel; 500 x 450 pixels at the DPI of spt.plots._mpl


def _pca(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    data = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(len(x), -1)
    data = data - data.mean(dim=0, keepdim=True)
    if data.shape[1] < 2:  # one feature: nothing to rotate
        return torch.cat([data, torch.zeros_like(data)], dim=1).numpy(), np.array([1.0, 0.0])
    _, s, v = torch.linalg.svd(data, full_matrices=False)  # exact; D is small for a plot
    variance = s.square()
    ratio = (variance[:2] / variance.sum().clamp_min(1e-300)).numpy()
    return (data @ v[:2].T).numpy(), ratio


def pca_2d(x: np.ndarray) -> np.ndarray:
    """The first two principal components of ``x`` (N, D) -> (N, 2), float64, centred.

    Examples:
        >>> pca_2d(np.eye(3)).shape
        (3, 2)
    """
    return _pca(x)[0]


def umap_2d(x: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """A UMAP embedding of ``x`` (N, D) -> (N, 2), or ``None`` when umap-learn is missing."""
    if importlib.util.find_spec("umap") is None:
        return None
    import umap

    reducer = umap.UMAP(n_components=2, random_state=seed)
    return np.asarray(reducer.fit_transform(np.asarray(x, dtype=np.float32).reshape(len(x), -1)))


def draw_latent_map(
    embedding: np.ndarray,
    label: np.ndarray | None,
    path: str | Path,
    title: str,
    use_umap: bool = True,
) -> Path:
    """A PNG of the embeddings in 2-D coloured by label: a PCA panel, and a UMAP panel when
    umap-learn is installed (and ``use_umap``).

    Args:
        embedding: ``(N, D)`` embeddings.
        label: ``(N,)`` integer labels (a legend per class up to 20 classes, a colour bar
            beyond), or ``None`` for one colour.
        path: The PNG to write.
        title: The figure's title (e.g. ``"validation embeddings, epoch 5"``).
        use_umap: Also draw UMAP when it is installed.

    Returns:
        ``path``: ``500 x 450`` pixels per panel.
    """
    embedding = np.asarray(embedding).reshape(len(embedding), -1)
    pca_xy, ratio = _pca(embedding)
    panels = [
        ("PCA", pca_xy, [f"PC {i + 1} ({100 * r:.0f}% of variance)" for i, r in enumerate(ratio)])
    ]
    umap_xy = umap_2d(embedding) if use_umap else None
    if umap_xy is not None:
        panels.append(("UMAP", umap_xy, ["UMAP 1", "UMAP 2"]))
    figure = new_figure(PANEL_SIZE[0] * len(panels), PANEL_SIZE[1])
    import matplotlib as mpl  # new_figure succeeded: matplotlib is there

    figure.suptitle(title)
    classes = np.unique(label) if label is not None else np.array([])
    discrete = label is not None and len(classes) <= 20
    cmap = "tab10" if len(classes) <= 10 else "tab20"
    for i, (name, xy, axis_labels) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), i + 1)
        if label is None:
            axes.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.7)
        elif discrete:
            palette = mpl.colormaps[cmap]
            for j, c in enumerate(classes):
                rows = label == c
                axes.scatter(
                    xy[rows, 0], xy[rows, 1], s=6, alpha=0.7, color=palette(j), label=str(c)
                )
        else:
            points = axes.scatter(xy[:, 0], xy[:, 1], c=label, s=6, alpha=0.7, cmap="viridis")
            figure.colorbar(points, ax=axes, label="label")
        axes.set_title(f"{name} of {len(xy)} embeddings ({embedding.shape[1]}-d)")
        axes.set_xlabel(axis_labels[0])
        axes.set_ylabel(axis_labels[1])
        axes.set_xticks([])
        axes.set_yticks([])
    if discrete:
        figure.legend(
            *figure.axes[0].get_legend_handles_labels(),
            loc="outside right upper",
            title="label",
            fontsize="small",
            markerscale=2,
        )
    return save_figure(figure, Path(path))
