"""Holes to repair: masks, damage and the composite step.

A mask is a float tensor (N, 1, H, W) with 1 where the image is missing (the
hole) and 0 where it is kept. Four kinds, each a fixed function of its seed:

    centre    one square of half the side in the middle: a quarter of the area
              (14x14 on 28x28, the Context Encoders setting)
    boxes     1 to 3 axis-aligned rectangles, each 1/6 to 1/2 of the side
    strokes   free-form brush strokes: a few random walks of 2 to 5 segments,
              drawn with a round brush (what a scratch or a price sticker looks like)
    half      the left, right, top or bottom half (``half-right`` etc. fixes the side)

``damage`` puts a neutral value in the hole, so the model never sees the
missing pixels; ``composite`` puts the model's output back into the hole:

    damaged   = (1 - m) * x + m * fill
    repaired  = (1 - m) * x + m * output          (pixels outside the hole are x, exactly)

``composite`` is the one function that does the second step, for the library,
the command line and the notebook.
"""
from __future__ import annotations

import math

import torch

KINDS = ("centre", "boxes", "strokes", "half", "half-left", "half-right", "half-top", "half-bottom", "full")
FILL = 0.5   # the neutral value of a hole: mid grey, 0 after mapping [0, 1] to [-1, 1]


def _generator(seed: int | torch.Generator | None) -> torch.Generator | None:
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(int(seed))


def box_mask(size: int | tuple[int, int], x: int, y: int, w: int, h: int) -> torch.Tensor:
    """One mask (1, 1, H, W) with the rectangle of top-left corner (x, y), width w and height h set to 1.

    The rectangle is clipped to the image; raises if nothing of it is inside.
    """
    hgt, wid = (size, size) if isinstance(size, int) else size
    if w < 1 or h < 1:
        raise ValueError(f"a box needs a width and height of at least 1 pixel, got w={w}, h={h}")
    m = torch.zeros(1, 1, hgt, wid)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, wid), min(y + h, hgt)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"the box x={x}, y={y}, w={w}, h={h} lies outside the {wid}x{hgt} image")
    m[..., y0:y1, x0:x1] = 1.0
    return m


def centre_box(n: int, size: int) -> torch.Tensor:
    """(n, 1, size, size): the central square of side size // 2 (a quarter of the area)."""
    side = size // 2
    start = (size - side) // 2
    return box_mask(size, start, start, side, side).expand(n, -1, -1, -1).clone()


def half(n: int, size: int, side: str = "right") -> torch.Tensor:
    """(n, 1, size, size): one half of the image missing (``side``: left, right, top or bottom)."""
    m = torch.zeros(n, 1, size, size)
    h = size // 2
    if side == "left":
        m[..., :, :h] = 1
    elif side == "right":
        m[..., :, h:] = 1
    elif side == "top":
        m[..., :h, :] = 1
    elif side == "bottom":
        m[..., h:, :] = 1
    else:
        raise ValueError(f"side {side!r}: use left, right, top or bottom")
    return m


def random_halves(n: int, size: int, seed: int | torch.Generator | None = None) -> torch.Tensor:
    """(n, 1, size, size): each image loses a random one of its four halves."""
    gen = _generator(seed)
    sides = torch.randint(0, 4, (n,), generator=gen)
    out = torch.zeros(n, 1, size, size)
    for k, name in enumerate(("left", "right", "top", "bottom")):
        sel = sides == k
        if sel.any():
            out[sel] = half(int(sel.sum()), size, name)
    return out


def random_boxes(n: int, size: int, seed: int | torch.Generator | None = None, max_boxes: int = 3) -> torch.Tensor:
    """(n, 1, size, size): 1 to ``max_boxes`` rectangles per image, sides 1/6 to 1/2 of the image."""
    gen = _generator(seed)
    count = torch.randint(1, max_boxes + 1, (n,), generator=gen)
    lo, hi = max(2, size // 6), size // 2
    wh = torch.randint(lo, hi + 1, (n, max_boxes, 2), generator=gen)
    corner = (torch.rand(n, max_boxes, 2, generator=gen) * (size - wh + 1)).floor().long()
    ys = torch.arange(size).view(1, 1, size, 1)
    xs = torch.arange(size).view(1, 1, 1, size)
    x0, y0 = corner[..., 0, None, None], corner[..., 1, None, None]          # (n, B, 1, 1)
    x1, y1 = x0 + wh[..., 0, None, None], y0 + wh[..., 1, None, None]
    inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)                 # (n, B, size, size)
    used = torch.arange(max_boxes).view(1, -1, 1, 1) < count.view(-1, 1, 1, 1)
    return (inside & used).any(1, keepdim=True).float()


def brush_strokes(n: int, size: int, seed: int | torch.Generator | None = None, max_strokes: int = 3,
                  width: tuple[float, float] = (0.08, 0.16)) -> torch.Tensor:
    """(n, 1, size, size): free-form strokes, each a random walk of 2-5 segments drawn with a round brush.

    A pixel is in the hole when its distance to the nearest segment is below the
    brush radius:  d(p, [a, b]) = |p - (a + t (b - a))|,  t = clamp(<p - a, b - a> / |b - a|^2, 0, 1).
    Lengths are in units of the image side, so a mask looks the same at any size.
    """
    gen = _generator(seed)
    segs = 4
    n_strokes = torch.randint(1, max_strokes + 1, (n,), generator=gen)
    n_segs = torch.randint(2, segs + 1, (n, max_strokes), generator=gen)
    start = torch.rand(n, max_strokes, 1, 2, generator=gen) * 0.8 + 0.1
    angle = torch.rand(n, max_strokes, segs, generator=gen) * 2 * math.pi
    length = torch.rand(n, max_strokes, segs, generator=gen) * 0.25 + 0.1
    radius = (torch.rand(n, max_strokes, generator=gen) * (width[1] - width[0]) + width[0]) / 2
    steps = torch.stack([angle.cos(), angle.sin()], -1) * length[..., None]    # (n, S, segs, 2)
    points = torch.cat([start, start + steps.cumsum(2)], 2).clamp(0, 1)      # (n, S, segs + 1, 2)
    a, b = points[:, :, :-1], points[:, :, 1:]                               # (n, S, segs, 2)
    grid = (torch.arange(size) + 0.5) / size
    p = torch.stack(torch.meshgrid(grid, grid, indexing="xy"), -1).view(1, 1, 1, size * size, 2)
    ab = (b - a)[..., None, :]                                               # (n, S, segs, 1, 2)
    t = (((p - a[..., None, :]) * ab).sum(-1) / ab.pow(2).sum(-1).clamp(min=1e-8)).clamp(0, 1)
    d = (p - (a[..., None, :] + t[..., None] * ab)).norm(dim=-1)              # (n, S, segs, P)
    seg_used = torch.arange(segs).view(1, 1, -1, 1) < n_segs[..., None, None]
    stroke_used = (torch.arange(max_strokes).view(1, -1) < n_strokes[:, None])[..., None, None]
    hit = (d <= radius[..., None, None]) & seg_used & stroke_used
    return hit.any(2).any(1).view(n, 1, size, size).float()


def make_masks(kind: str, n: int, size: int, seed: int | torch.Generator | None = None) -> torch.Tensor:
    """(n, 1, size, size) masks of one ``kind`` (see ``KINDS``), or a mixture such as
    ``"centre:2,boxes:1,strokes:1"`` (each image draws its kind with these weights)."""
    gen = _generator(seed)
    if "," in kind or ":" in kind:
        kinds, weights = parse_mixture(kind)
        pick = torch.multinomial(torch.tensor(weights), n, replacement=True, generator=gen)
        out = torch.zeros(n, 1, size, size)
        for k, name in enumerate(kinds):
            sel = pick == k
            if sel.any():
                out[sel] = make_masks(name, int(sel.sum()), size, gen)
        return out
    if kind == "centre":
        return centre_box(n, size)
    if kind == "boxes":
        return random_boxes(n, size, gen)
    if kind == "strokes":
        return brush_strokes(n, size, gen)
    if kind == "half":
        return random_halves(n, size, gen)
    if kind.startswith("half-"):
        return half(n, size, kind[5:])
    if kind == "full":
        return torch.ones(n, 1, size, size)
    raise ValueError(f"unknown mask kind {kind!r}; use one of {', '.join(KINDS)} or a mixture 'centre:2,strokes:1'")


def parse_mixture(spec: str) -> tuple[list[str], list[float]]:
    """"centre:2,strokes:1" -> (["centre", "strokes"], [2.0, 1.0]); a kind without weight counts 1."""
    kinds, weights = [], []
    for part in spec.split(","):
        name, _, w = part.strip().partition(":")
        if name not in KINDS:
            raise ValueError(f"unknown mask kind {name!r} in {spec!r}; use {', '.join(KINDS)}")
        kinds.append(name)
        weights.append(float(w) if w else 1.0)
    if min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"mask weights in {spec!r} must be non-negative and not all zero")
    return kinds, weights


def damage(images: torch.Tensor, masks: torch.Tensor, fill: float = FILL) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] with the hole (masks (N, 1, H, W), 1 = missing) set to ``fill``."""
    return images * (1 - masks) + fill * masks


def composite(images: torch.Tensor, output: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The repaired images: ``output`` inside the hole, ``images`` outside it, bit for bit.

    Works for float and uint8 alike (``torch.where``, no arithmetic on the kept pixels);
    masks (N, 1, H, W) or (N, H, W) broadcast over the channels.
    """
    if masks.ndim == images.ndim - 1:
        masks = masks.unsqueeze(1)
    if masks.shape[-2:] != images.shape[-2:] or output.shape != images.shape:
        raise ValueError(f"composite: images {tuple(images.shape)}, output {tuple(output.shape)} and masks "
                         f"{tuple(masks.shape)} must agree in size")
    return torch.where(masks > 0.5, output.to(images.dtype), images)


def border_band(masks: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Hole pixels within ``width`` pixels of the kept region (N, 1, H, W): where a repair must
    join the visible image (Context Encoders weight these more)."""
    kept = 1 - masks
    near = torch.nn.functional.max_pool2d(kept, 2 * width + 1, stride=1, padding=width)
    return masks * near


def hole_fraction(masks: torch.Tensor) -> torch.Tensor:
    """Share of missing pixels per mask: (N, 1, H, W) -> (N,)."""
    return masks.flatten(1).mean(1)


__all__ = ["KINDS", "FILL", "box_mask", "centre_box", "half", "random_halves", "random_boxes", "brush_strokes",
           "make_masks", "parse_mixture", "damage", "composite", "border_band", "hole_fraction"]
