"""Differentiable augmentation (DiffAugment) for GANs trained on small catalogues.

A discriminator trained on a few thousand images memorises them: D(x) goes to
"real" for every training image, D(G(z)) to "fake", and G's gradient stops
helping. Augmenting the real images alone does not fix this, because then G
learns to *produce* augmented images (shifted, cut out, recoloured). DiffAugment
(Zhao et al., 2020) applies the same random transform T to both sides, and only
uses transforms T that are differentiable in their input, so G is trained
through them:

    D step:  L_D( D(T(x)), D(T(G(z))) )
    G step:  L_G( D(T(G(z))) )

Every transform here works on a whole batch at once, on images in [-1, 1]
(the range the discriminator sees), and draws its own random numbers for each
image:

    color        brightness  x + (b - 0.5),               b ~ U(0, 1)
                 saturation  (x - mean_c x) * 2s + mean_c x,  s ~ U(0, 1)   (colour images only)
                 contrast    (x - mean x) * (k + 0.5) + mean x, k ~ U(0, 1)
    translation  shift by up to 1/8 of the side, the border repeated
    cutout       a square of half the side set to 0 (mid grey), at a random place
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """"color,translation" -> ("color", "translation"); "" -> () (no augmentation)."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    for name in names:
        if name not in POLICIES:
            raise ValueError(f"Unknown DiffAugment transform {name!r}: use a comma-separated subset of {POLICIES}.")
    return names


def _uniform(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One U(0, 1) number per image, shaped to broadcast: (N, 1, 1, 1)."""
    return torch.rand(x.shape[0], 1, 1, 1, generator=generator).to(x.device, x.dtype)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness, saturation (colour only) and contrast: (N, C, H, W) -> (N, C, H, W)."""
    x = x + (_uniform(x, generator) - 0.5)
    if x.shape[1] > 1:
        mean_c = x.mean(dim=1, keepdim=True)                       # (N, 1, H, W)
        x = (x - mean_c) * (_uniform(x, generator) * 2) + mean_c
    mean = x.mean(dim=(1, 2, 3), keepdim=True)                     # (N, 1, 1, 1)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by its own (dy, dx), |dy|, |dx| <= ratio * side: (N, C, H, W) -> (N, C, H, W).

    The batch is padded by the largest shift (repeating the border) and every
    image is cropped back at its own offset with one gather, so the gradient
    flows to the pixels that moved.
    """
    n, _, h, w = x.shape
    s = max(1, int(round(min(h, w) * ratio)))
    padded = F.pad(x, (s, s, s, s), mode="replicate")               # (N, C, H + 2s, W + 2s)
    dy = torch.randint(0, 2 * s + 1, (n, 1), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * s + 1, (n, 1), generator=generator).to(x.device)
    rows = (dy + torch.arange(h, device=x.device))[:, :, None]      # (N, H, 1)
    cols = (dx + torch.arange(w, device=x.device))[:, None, :]      # (N, 1, W)
    item = torch.arange(n, device=x.device)[:, None, None]          # (N, 1, 1)
    return padded.permute(0, 2, 3, 1)[item, rows, cols].permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, ratio: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set a (ratio * H) x (ratio * W) square of each image to 0 at a random place: (N, C, H, W) -> same."""
    n, _, h, w = x.shape
    ch, cw = max(1, int(h * ratio)), max(1, int(w * ratio))
    top = torch.randint(0, h - ch + 1, (n, 1, 1), generator=generator).to(x.device)
    left = torch.randint(0, w - cw + 1, (n, 1, 1), generator=generator).to(x.device)
    r = torch.arange(h, device=x.device)[None, :, None]             # (1, H, 1)
    c = torch.arange(w, device=x.device)[None, None, :]             # (1, 1, W)
    inside = (r >= top) & (r < top + ch) & (c >= left) & (c < left + cw)   # (N, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diff_augment(x: torch.Tensor, policy: tuple[str, ...] | str,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the transforms named in ``policy`` in order; the identity for an empty policy."""
    names = parse_policy(policy) if isinstance(policy, str) else policy
    for name in names:
        if name == "color":
            x = color(x, generator)
        elif name == "translation":
            x = translation(x, generator=generator)
        else:
            x = cutout(x, generator=generator)
    return x
