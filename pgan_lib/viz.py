"""Pictures: grids of product images, with their descriptions underneath."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch


def to_numpy_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Images as uint8 (N, H, W, C) from uint8 or [0,1]-float tensors in (N,C,H,W) or (N,H,W,C)."""
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(0, 2, 3, 1)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return arr


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
    import matplotlib.pyplot as plt

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


def save_grid_png(images: torch.Tensor | np.ndarray, path: str | Path, ncols: int = 8, scale: int = 4) -> Path:
    """Write an image grid as a PNG, each pixel enlarged ``scale`` times (no captions)."""
    from PIL import Image

    grid = image_grid(images, ncols=ncols)
    img = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
