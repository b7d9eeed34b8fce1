"""Known-good and known-bad "generators" for checking that the metrics move the way they should.

Blur, noise, dropped classes, copies of training images and pure noise are
controlled cases: each has an obvious right answer (copies are perfect on FID
and caught by the memorisation check; dropping classes hurts recall and
coverage; blur hurts precision), so a metric that does not move with them
is broken (notebook 09).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..images import to_float_images


def blur(images, sigma: float) -> torch.Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels: float (N, C, H, W) in [0, 1] out."""
    x = to_float_images(images)
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(3 * sigma))
    u = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-u ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)   # along rows
    x = F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)   # along columns
    return x.clamp(0, 1)


def add_noise(images, std: float, seed: int = 0) -> torch.Tensor:
    """Images plus Gaussian pixel noise of standard deviation ``std``, clipped to [0, 1]."""
    x = to_float_images(images)
    gen = torch.Generator().manual_seed(seed)
    return (x + std * torch.randn(x.shape, generator=gen)).clamp(0, 1)


def noise_images(n: int, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    """Uniform noise "images" (n, channels, size, size) in [0, 1]: the worst generator."""
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def drop_classes(images, labels, keep: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Only the images whose label is in ``keep``: a generator that has lost some modes."""
    x = to_float_images(images)
    y = torch.as_tensor(np.asarray(labels)).long()
    mask = torch.isin(y, torch.as_tensor(list(keep)))
    return x[mask], y[mask]


def copies(train_images, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` exact copies of random training images: a generator that memorised its data."""
    x = to_float_images(train_images)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx]


@dataclass
class Case:
    """A controlled "generator": images (float, [0, 1]), their labels, and what should happen."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None
    expect: str = ""
    extra: dict = field(default_factory=dict)


def controlled_cases(held_out, train, n: int = 2000, seed: int = 0) -> list[Case]:
    """Known-good and known-bad sample sets, roughly from best to worst by FID.

    held_out: real images the classifier was not trained on and that are not the
              reference split (e.g. Fashion-MNIST "val"); train: the training split.
    """
    x = to_float_images(held_out.images)
    y = held_out.labels
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(x), generator=gen)[:n]
    xs, ys = x[pick], y[pick]
    half = list(range(held_out.num_classes // 2))
    dropped_x, dropped_y = drop_classes(x, y, half)
    copy_idx = torch.randperm(len(train), generator=gen)[:n]
    c, s = x.shape[1], x.shape[-1]
    return [
        Case("real (held out)", xs, ys, "FID ~ 0; the other metrics show what real data scores"),
        Case("training copies", to_float_images(train.images[copy_idx]), train.labels[copy_idx],
             "as good as real by every distribution metric; only the memorisation check sees it"),
        Case("blur sigma=0.5", blur(xs, 0.5), ys, "slightly worse than real"),
        Case("blur sigma=1.0", blur(xs, 1.0), ys, "worse: precision, recall, density and coverage drop"),
        Case(f"half the classes ({len(half)} of {held_out.num_classes})", dropped_x[:n], dropped_y[:n],
             "recall, coverage and IS drop; precision and density stay like real"),
        Case("blur sigma=2.0", blur(xs, 2.0), ys, "much worse"),
        Case("uniform noise", noise_images(len(xs), c, s, seed), None,
             "FID/KID far off, recall and coverage ~ 0; precision can stay high (outlying real images "
             "have huge neighbourhoods), density does not"),
        Case("one image repeated", xs[:1].repeat(len(xs), 1, 1, 1), ys[:1].repeat(len(xs)),
             "mode collapse: the worst FID, recall, coverage and diversity ~ 0, yet precision ~ 1"),
    ]

