"""Images in, images out: the kit's one rule for turning arrays into float images and back.

Every model works on float images in [0, 1], (N, C, H, W); files hold uint8
pixels (0..255), laid out (N, H, W, C) in .npz sample files and PNGs. The two
functions here are the only conversions between them:

    to_float_images:  uint8 / float, any of the usual layouts  ->  float32 (N, C, H, W) in [0, 1]
    to_uint8:         float in [0, 1]                           ->  uint8, round(255 x)
"""
from __future__ import annotations

import numpy as np
import torch


def to_float_images(images, channels: int | None = None) -> torch.Tensor:
    """Any batch of images -> float32 tensor (N, C, H, W) in [0, 1] on the CPU.

    Accepts uint8 (0..255) or float ([0, 1]) numpy arrays or tensors, laid out
    (N, H, W, C) (the .npz convention), (N, C, H, W) (the torch convention) or
    (N, H, W) for grey. The layout is read from where the channel axis (size 1
    or 3) is; when both ends could be channels, numpy arrays count as
    (N, H, W, C) and tensors as (N, C, H, W).
    """
    is_numpy = not isinstance(images, torch.Tensor)
    x = torch.from_numpy(np.ascontiguousarray(images)) if is_numpy else images.detach().cpu()
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), (N, C, H, W) or (N, H, W); got shape {tuple(x.shape)}")
    first, last = x.shape[1] in (1, 3), x.shape[-1] in (1, 3)
    if last and (not first or is_numpy):
        x = x.permute(0, 3, 1, 2)
    elif not first:
        raise ValueError(f"cannot find the channel axis (1 or 3 channels) in images of shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif x.is_floating_point():
        x = x.float()
        lo, hi = (float(x.min()), float(x.max())) if x.numel() else (0.0, 1.0)
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"float images must be in [0, 1] (got values from {lo:.3g} to {hi:.3g}); "
                             "map [-1, 1] outputs with (x + 1) / 2 first")
        x = x.clamp(0, 1)
    else:
        raise ValueError(f"images must be uint8 or float, got {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"expected {channels}-channel images, got {x.shape[1]} channels (shape {tuple(x.shape)})")
    return x.contiguous()


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] -> uint8 0..255 (rounded), same shape."""
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
