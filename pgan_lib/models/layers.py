"""Small building blocks shared by the kit's convolutional models."""
from __future__ import annotations

from torch import nn

SIZES = (28, 32, 64)


def down_steps(size: int) -> tuple[int, int]:
    """How many stride-2 steps take an image of ``size`` to a small grid, and that grid's side.

    28 -> 14 -> 7 (2 steps), 32 -> 16 -> 8 -> 4 (3 steps), 64 -> ... -> 4 (4 steps).
    """
    if size == 28:
        return 2, 7
    if size == 32:
        return 3, 4
    if size == 64:
        return 4, 4
    raise ValueError(f"image size {size} is not supported; use one of {SIZES}")


def down_block(c_in: int, c_out: int, norm: bool = True) -> nn.Sequential:
    """(N, c_in, H, W) -> (N, c_out, H/2, W/2): 4x4 convolution with stride 2."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def up_block(c_in: int, c_out: int) -> nn.Sequential:
    """(N, c_in, H, W) -> (N, c_out, 2H, 2W): 4x4 transposed convolution with stride 2."""
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def channel_plan(hidden: int, steps: int, cap: int = 256) -> list[int]:
    """Channels after each down step: hidden, 2*hidden, 4*hidden, ... (at most ``cap``)."""
    return [min(hidden * 2 ** i, cap) for i in range(steps)]
