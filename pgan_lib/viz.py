"""Pictures: grids of product images, with their descriptions underneath."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from .images import to_float_images, to_uint8
from .provenance import Provenance, save_png_with_provenance


def to_numpy_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Images as uint8 (N, H, W, C) from uint8 or [0,1]-float tensors in (N,C,H,W) or (N,H,W,C)."""
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        images = images.detach().clamp(0, 1)
    elif isinstance(images, np.ndarray) and images.dtype.kind == "f":
        images = np.clip(images, 0.0, 1.0)
    return to_uint8(to_float_images(images)).permute(0, 2, 3, 1).numpy()


def image_grid(images: torch.Tensor | np.ndarray, ncols: int = 8, pad: int = 2, invert_grey: bool = True) -> np.ndarray:
    """Tile images into one uint8 (H, W, 3) picture.

    Grey images are shown as photographed (dark product on white) when
    ``invert_grey`` is set: Fashion-MNIST stores negated photos.
    """
    arr = to_numpy_images(images)
    n, h, w, c = arr.shape
    if c == 1:
        arr = np.repeat(255 - arr if invert_grey else arr, 3, axis=-1)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), 235, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = arr[i]
    return grid


def show_grid(
    images: torch.Tensor | np.ndarray,
    captions: list[str] | None = None,
    ncols: int = 8,
    title: str | None = None,
    invert_grey: bool = True,
    cell_inches: float = 1.3,
    out: str | Path | None = None,
):
    """A matplotlib figure of images in a grid, each with its (wrapped) caption; saved to ``out`` if given."""
    import matplotlib.pyplot as plt  # pyplot only when a figure is drawn (it picks a backend on import)

    arr = to_numpy_images(images)
    n = arr.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    extra = 0.55 if captions else 0.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * cell_inches, nrows * (cell_inches + extra)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = arr[i]
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray_r" if invert_grey else "gray", vmin=0, vmax=255)
        else:
            ax.imshow(img)
        if captions:
            ax.set_title("\n".join(textwrap.wrap(captions[i], 16)[:3]), fontsize=6.5)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120)
    return fig


def save_grid_png(images: torch.Tensor | np.ndarray, path: str | Path, provenance: Provenance, ncols: int = 8,
                  scale: int = 4) -> Path:
    """Write an image grid as a PNG, each pixel enlarged ``scale`` times (no captions), carrying
    ``provenance`` (text chunks + XMP, ``pgan_lib.provenance``): generated images always say so."""
    grid = image_grid(images, ncols=ncols)
    return save_png_with_provenance(grid.repeat(scale, axis=0).repeat(scale, axis=1), path, provenance)


def show_rows(
    rows: Mapping[str, torch.Tensor | Sequence[torch.Tensor]],
    panel_titles: Sequence[str] | None = None,
    title: str | None = None,
    cell_inches: float = 0.55,
    label_inches: float = 2.2,
    fontsize: float = 8.5,
):
    """Labelled rows of image strips: one row per entry of ``rows``, its key written on the left.

    A value is one batch of images (N, C, H, W), drawn as a single strip, or a list of
    batches, drawn as panels side by side (``panel_titles`` names the panels). Grey
    images are shown as photographed (dark on white). Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt  # pyplot only when a figure is drawn (it picks a backend on import)

    labels = list(rows)
    panels = [[v] if isinstance(v, torch.Tensor) else list(v) for v in rows.values()]
    n_panels = max(len(p) for p in panels)
    widths = [max(len(p[j]) for p in panels if j < len(p)) for j in range(n_panels)]
    fig_w = label_inches + cell_inches * sum(widths) + 0.15 * (n_panels - 1)
    head = 0.35 if (title or panel_titles) else 0.05
    fig_h = cell_inches * 1.08 * len(labels) + head
    fig, axes = plt.subplots(len(labels), n_panels, figsize=(fig_w, fig_h), squeeze=False,
                             gridspec_kw=dict(width_ratios=widths, wspace=0.03, hspace=0.08))
    for r, (label, row) in enumerate(zip(labels, panels)):
        for j in range(n_panels):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if j < len(row) and len(row[j]):
                ax.imshow(image_grid(row[j].detach().cpu(), ncols=len(row[j])))
                ax.set_anchor("W")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=fontsize)
    if panel_titles:
        for j, text in enumerate(panel_titles):
            axes[0, j].set_title(text, fontsize=fontsize + 0.5)
    if title:
        fig.suptitle(title, fontsize=fontsize + 1.5)
    fig.subplots_adjust(left=label_inches / fig_w, right=0.995, bottom=0.01,
                        top=1 - head / fig_h if head > 0.05 else 0.99)
    return fig


def show_tiles(images: torch.Tensor, ncols: int = 8, title: str | None = None, cell_inches: float = 0.6):
    """Many images as one picture (a single matplotlib axes, so it stays fast for big grids).

    Like ``viz.show_grid`` without captions; grey images are shown as photographed.
    """
    import matplotlib.pyplot as plt  # pyplot only when a figure is drawn (it picks a backend on import)

    grid = image_grid(images.detach().cpu(), ncols=ncols)
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    fig, ax = plt.subplots(figsize=(ncols * cell_inches, nrows * cell_inches + (0.3 if title else 0.0)))
    ax.imshow(grid)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout(pad=0.2)
    return fig
