"""Classical repairs, the baselines a learned repair must beat: no training, no data.

    mean fill     every hole pixel gets the mean of the image's visible pixels (per channel)
    biharmonic    the smoothest surface through the hole's border: solve  Laplacian^2 u = 0  in the
                  hole with the visible pixels as boundary values (scikit-image's
                  ``restoration.inpaint_biharmonic``); it continues shading and edges
                  smoothly but cannot invent texture or detail
    bicubic       super-resolution by cubic interpolation of the low-resolution pixels
                  (``pix2pix.upsample_bicubic``)

All take and return float images in [0, 1], (N, C, H, W); masks (N, 1, H, W), 1 = missing.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.masks import composite
from .pix2pix import upsample_bicubic


def mean_fill(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The hole filled with the mean colour of the visible pixels of the same image."""
    keep = 1 - masks
    mean = (images * keep).flatten(2).sum(2) / keep.flatten(2).sum(2).clamp(min=1)   # (N, C)
    return composite(images, mean[:, :, None, None].expand_as(images).contiguous(), masks)


def biharmonic(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Biharmonic inpainting of every image (scikit-image; one image at a time, on the CPU)."""
    # scikit-image: a well-kept scientific library (NumPy/SciPy family) installed as a plain pip
    # wheel with no system libraries, unlike OpenCV's Telea which would bring a large binary.
    from skimage.restoration import inpaint_biharmonic

    x = images.detach().float().cpu().permute(0, 2, 3, 1).numpy()      # (N, H, W, C)
    m = masks.detach().cpu()[:, 0].numpy() > 0.5                       # (N, H, W)
    out = np.empty_like(x)
    for i in range(len(x)):
        if not m[i].any():
            out[i] = x[i]
            continue
        out[i] = inpaint_biharmonic(x[i], m[i], channel_axis=-1)
    filled = torch.from_numpy(out).permute(0, 3, 1, 2).clamp(0, 1)
    return composite(images.float().cpu(), filled, masks.cpu())


def bicubic(low: torch.Tensor, size: int) -> torch.Tensor:
    """Super-resolution baseline: low-resolution images (N, C, h, w) -> (N, C, size, size)."""
    return upsample_bicubic(low.float(), size)


__all__ = ["mean_fill", "biharmonic", "bicubic"]
