"""The built-in product catalogue: small colour product photos, drawn by code.

How the pictures are drawn
--------------------------
Every product has three attributes: a **category** (t-shirt, trousers, dress,
sneaker, handbag, mug), a **colour** and a **pattern** (plain, striped, dotted).
Nothing is downloaded: each image is *rendered* from these three words plus a
few random numbers (size, position, lighting), like a tiny vector-graphics
program.

The renderer works on a whole batch of images at once instead of drawing one
picture after another:

1. Make a grid of pixel coordinates, at twice the final resolution.
2. Move and scale that grid for every item (its random size and position), so
   each item gets its own *local* coordinates ``x`` (left to right) and ``y``
   (top to bottom), both running roughly from -1 to 1 across the product.
3. Describe each shape with simple geometry in those local coordinates: boxes,
   ellipses, trapezoids and straight edges. "Is this pixel inside the sleeve?"
   becomes a comparison like ``(x > 0.4) & (y < 0.2)``, evaluated for every
   pixel of every image in one tensor operation. The result is a mask.
4. Colour the masks: the product colour, a pattern (stripes or dots, also
   just formulas of ``x`` and ``y``), a soft light gradient for shading, a
   darker outline, a faint drop shadow, on a light near-white background.
5. Average each 2x2 block of pixels (supersampling), which smooths the jagged
   edges (anti-aliasing), and convert to 8-bit RGB.

The random numbers come from a seeded generator, so the same seed always gives
exactly the same images; the finished catalogue is cached on disk.

Try it::

    from pgan_lib.data.catalog import load_catalog, render_words
    train = load_catalog("train")          # ProductData: images, descriptions, ...
    print(train.descriptions[0])           # e.g. "a red striped mug"
    mugs = render_words([("mug", "blue", "dotted")] * 4, seed=1)  # (4, 3, 32, 32) uint8

Why there is a "heldout" split
------------------------------
A few (category, colour, pattern) *combinations*, e.g. "purple dotted mug",
never appear in the train, val or test splits, although each of the words
does (the model sees purple things, dotted things and mugs, and even purple
mugs with other patterns). Those combinations form their own split,
``"heldout"``. A text-to-image model that really understands the words should
be able to draw a purple dotted mug anyway: this is *compositional
generalisation*, and the heldout split lets us measure it instead of just
hoping for it. In the same spirit, a couple of description templates
(``HELD_OUT_TEMPLATES``) are never used in the stored descriptions, so that a
model can be tested on phrasings it has never read.
"""
from __future__ import annotations

import random
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from pgan_lib.config import cache_dir, cache_write_failed, get_mode
from pgan_lib.data.base import ProductData
from pgan_lib.images import to_uint8
from pgan_lib.safety import clean_stale_temps, write_atomically

# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

CATEGORIES: tuple[str, ...] = ("t-shirt", "trousers", "dress", "sneaker", "handbag", "mug")

#: Colour name -> RGB in [0, 1]. Chosen to stay distinguishable at 32x32.
COLOUR_RGB: dict[str, tuple[float, float, float]] = {
    "red": (0.84, 0.11, 0.12),
    "orange": (0.98, 0.54, 0.08),
    "yellow": (0.96, 0.84, 0.12),
    "green": (0.13, 0.60, 0.22),
    "blue": (0.14, 0.34, 0.86),
    "purple": (0.50, 0.20, 0.70),
    "pink": (0.98, 0.56, 0.76),
    "brown": (0.48, 0.28, 0.12),
    "black": (0.13, 0.13, 0.14),
    "white": (0.97, 0.97, 0.96),
}
COLOURS: tuple[str, ...] = tuple(COLOUR_RGB)

PATTERNS: tuple[str, ...] = ("plain", "striped", "dotted")

SIZES: tuple[int, ...] = (32, 64)
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test", "heldout")

#: Version tag in the cache file name; bump it whenever the drawing changes.
CACHE_VERSION = "v1"

# --------------------------------------------------------------------------
# Descriptions
# --------------------------------------------------------------------------

#: Description templates. ``{a}`` becomes "a", "an" or (for trousers) "a pair of".
TEMPLATES: tuple[str, ...] = (
    "{a} {colour} {pattern} {category}",
    "{colour} {category}, {pattern}",
    "{pattern} {category} in {colour}",
    "{a} {category}, {colour}, with a {pattern} pattern",
    "product photo of {a} {pattern} {colour} {category}",
    "{colour} {pattern} {category}, studio shot",
    # The two below are never used for the stored descriptions.
    "{category} (colour: {colour}, pattern: {pattern})",
    "shop listing: {a} {category} in {colour} with a {pattern} finish",
)
#: Indices into TEMPLATES kept out of every stored description (for paraphrase tests).
HELD_OUT_TEMPLATES: tuple[int, ...] = (6, 7)
#: Indices into TEMPLATES used for the catalogue's descriptions.
TRAIN_TEMPLATES: tuple[int, ...] = tuple(i for i in range(len(TEMPLATES)) if i not in HELD_OUT_TEMPLATES)


def _article(next_word: str, category: str) -> str:
    if category == "trousers":
        return "a pair of"
    return "an" if next_word[:1] in "aeiou" else "a"


def describe(
    category: str,
    colour: str,
    pattern: str,
    template: int | None = None,
    rng: np.random.Generator | random.Random | None = None,
) -> str:
    """Phrase one product as a shop-style description, e.g. "a red striped mug".

    ``template`` picks one of ``TEMPLATES`` by index. Without it, a training
    template is chosen with ``rng`` (a numpy Generator or ``random.Random``);
    without either, the first template is used. Every phrasing names the
    category, colour and pattern words, so the attributes can be read back.
    """
    for word, vocab, kind in ((category, CATEGORIES, "category"), (colour, COLOURS, "colour"), (pattern, PATTERNS, "pattern")):
        if word not in vocab:
            raise ValueError(f"Unknown {kind} {word!r}; choose one of {', '.join(vocab)}")
    if template is None:
        if rng is None:
            template = TRAIN_TEMPLATES[0]
        elif isinstance(rng, random.Random):
            template = rng.choice(TRAIN_TEMPLATES)
        else:
            template = TRAIN_TEMPLATES[int(rng.integers(len(TRAIN_TEMPLATES)))]
    if not 0 <= template < len(TEMPLATES):
        raise ValueError(f"template must be in 0..{len(TEMPLATES) - 1}, got {template}")
    text = TEMPLATES[template]
    # The article agrees with whatever word follows "{a} ".
    if "{a}" in text:
        following = text.split("{a} ", 1)[1].split("}", 1)[0].lstrip("{")
        next_word = {"colour": colour, "pattern": pattern, "category": category}[following]
        text = text.replace("{a}", _article(next_word, category))
    return text.format(category=category, colour=colour, pattern=pattern)


# --------------------------------------------------------------------------
# Compositional hold-out
# --------------------------------------------------------------------------


def _make_heldout_combos() -> tuple[tuple[str, str, str], ...]:
    """20 of the 180 combinations (11%), spread evenly over the vocabulary.

    Combination k holds out category ``k % 6`` with colour ``k % 10`` (no pair
    repeats for k < 30) and pattern ``(k // 2) % 3``: every colour is held out
    twice, every category three or four times, every pattern six or eight.
    """
    combos = []
    for k in range(20):
        combos.append((CATEGORIES[k % 6], COLOURS[k % 10], PATTERNS[(k // 2) % 3]))
    return tuple(combos)


#: (category, colour, pattern) triples that only ever appear in the "heldout" split.
HELDOUT_COMBOS: tuple[tuple[str, str, str], ...] = _make_heldout_combos()


def all_combos() -> list[tuple[int, int, int]]:
    """Every (category, colour, pattern) index triple, in a fixed order."""
    return [(c, k, p) for c in range(len(CATEGORIES)) for k in range(len(COLOURS)) for p in range(len(PATTERNS))]


def _combo_index(combo: tuple[str, str, str]) -> tuple[int, int, int]:
    return CATEGORIES.index(combo[0]), COLOURS.index(combo[1]), PATTERNS.index(combo[2])


HELDOUT_INDEX: frozenset[tuple[int, int, int]] = frozenset(_combo_index(c) for c in HELDOUT_COMBOS)
SEEN_COMBOS: tuple[tuple[int, int, int], ...] = tuple(c for c in all_combos() if c not in HELDOUT_INDEX)
HELDOUT_COMBO_INDICES: tuple[tuple[int, int, int], ...] = tuple(sorted(HELDOUT_INDEX))


def _check_heldout() -> None:
    """Every single value, and every pair of values, must still be seen in training."""
    assert len(HELDOUT_INDEX) == len(HELDOUT_COMBOS), "held-out combinations repeat"
    assert 0.10 <= len(HELDOUT_INDEX) / len(all_combos()) <= 0.12
    for axis, vocab in enumerate((CATEGORIES, COLOURS, PATTERNS)):
        seen = {combo[axis] for combo in SEEN_COMBOS}
        assert seen == set(range(len(vocab))), f"some value of attribute {axis} is never seen in training"
    for a, b in ((0, 1), (0, 2), (1, 2)):
        every_pair = {(c[a], c[b]) for c in all_combos()}
        assert {(c[a], c[b]) for c in SEEN_COMBOS} == every_pair, "a pair of values is never seen in training"


_check_heldout()


def is_heldout(category: str, colour: str, pattern: str) -> bool:
    """True if this combination is kept out of train/val/test."""
    return (category, colour, pattern) in HELDOUT_COMBOS


# --------------------------------------------------------------------------
# Shape helpers. ``x`` has shape (B, 1, S) and ``y`` (B, S, 1): conditions on
# only one of them stay cheap, and broadcasting makes the (B, S, S) masks.
# --------------------------------------------------------------------------


def box(x: torch.Tensor, y: torch.Tensor, x0: float, x1: float, y0: float, y1: float) -> torch.Tensor:
    """Axis-aligned rectangle x0 <= x <= x1, y0 <= y <= y1."""
    return ((x >= x0) & (x <= x1)) & ((y >= y0) & (y <= y1))


def ellipse(x: torch.Tensor, y: torch.Tensor, cx: float, cy: float, rx: float, ry: float) -> torch.Tensor:
    """Filled ellipse centred on (cx, cy) with radii rx, ry."""
    return ((x - cx) / rx).square() + ((y - cy) / ry).square() <= 1.0


def ring(x: torch.Tensor, y: torch.Tensor, cx: float, cy: float, rx: float | torch.Tensor, ry: float | torch.Tensor,
         thickness: float | torch.Tensor) -> torch.Tensor:
    """Elliptical band of the given thickness (a handle, a collar)."""
    r2 = ((x - cx) / rx).square() + ((y - cy) / ry).square()
    inner = ((x - cx) / (rx - thickness)).square() + ((y - cy) / (ry - thickness)).square()
    return (r2 <= 1.0) & (inner > 1.0)


def trapezoid(x: torch.Tensor, y: torch.Tensor, y0: float, y1: float, half_top: float | torch.Tensor,
              half_bottom: float | torch.Tensor, cx: float = 0.0) -> torch.Tensor:
    """Shape between heights y0 < y1 whose half-width goes linearly from half_top to half_bottom."""
    slope = (half_bottom - half_top) / (y1 - y0)
    half_width = half_top + slope * (y - y0)  # (B, S, 1)
    return ((x - cx).abs() <= half_width) & ((y >= y0) & (y <= y1))


def polygon(x: torch.Tensor, y: torch.Tensor, points: Sequence[tuple[float, float]]) -> torch.Tensor:
    """Convex polygon through ``points`` (in either winding order): inside all edges."""
    area = sum(points[i][0] * points[i - 1][1] - points[i - 1][0] * points[i][1] for i in range(len(points)))
    sign = 1.0 if area < 0 else -1.0
    inside = None
    for (x0, y0), (x1, y1) in zip(points, list(points[1:]) + [points[0]]):
        # Cross product of the edge with (point - start): >= 0 on the inner side.
        side = (sign * (x1 - x0)) * (y - y0) - (sign * (y1 - y0)) * (x - x0) >= 0
        inside = side if inside is None else inside & side
    assert inside is not None, "a polygon has at least three points"
    return inside


# --------------------------------------------------------------------------
# Product shapes, in local coordinates (x right, y down, about -0.9..0.9).
# Each draw_* function gets x (B, 1, S), y (B, S, 1) and a per-item number
# v in [0, 1) of shape (B, 1, 1) for small differences between items, and
# returns the Parts of its product. Sketch a shape on squared paper first!
# --------------------------------------------------------------------------


class Parts(NamedTuple):
    """The masks that make up one product, each bool (B, S, S) or None.

    body:   takes the product colour and pattern.
    accent: plain, a darker shade of the product colour (handles, waistband).
    trim:   a fixed neutral colour (a sneaker's sole, a clasp).
    lines:  thin dark details drawn on top (seams, laces).
    """

    body: torch.Tensor
    accent: torch.Tensor | None = None
    trim: torch.Tensor | None = None
    lines: torch.Tensor | None = None


def draw_tshirt(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> Parts:
    """Torso, shoulders sloping into two short sleeves, a round neckline."""
    ax = x.abs()  # the shirt is symmetric: draw the right half, mirror for free
    torso = box(ax, y, 0.0, 0.46, -0.62, 0.86)
    shoulders = polygon(ax, y, [(0.0, -0.82), (0.2, -0.84), (0.52, -0.7), (0.46, -0.3), (0.0, -0.3)])
    sleeves = polygon(ax, y, [(0.44, -0.74), (0.93, -0.34), (0.72, -0.08), (0.44, -0.32)])
    neck = ellipse(x, y, 0.0, -0.86, 0.22, 0.16)
    body = (torso | shoulders | sleeves) & ~neck
    collar = ring(x, y, 0.0, -0.86, 0.28, 0.22, 0.06) & body
    return Parts(body=body & ~collar, accent=collar)


def draw_trousers(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> Parts:
    """A waistband, the hips, and two legs with a gap that opens below the crotch."""
    ax = x.abs()
    outer = 0.42 + 0.08 * (y + 0.76) / 1.66  # legs widen a little towards the hem
    inner = 0.03 + 0.07 * (y + 0.28)  # the gap between the legs
    shape = (ax <= outer) & ((y >= -0.76) & (y <= 0.9))
    gap = (ax < inner) & (y > -0.28)
    waistband = box(ax, y, 0.0, 0.42, -0.9, -0.74)
    fly = box(x, y, -0.015, 0.015, -0.74, -0.4)
    return Parts(body=shape & ~gap, accent=waistband, lines=fly)


def draw_dress(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> Parts:
    """Two straps, a fitted bodice and a wide flared skirt."""
    ax = x.abs()
    flare = 0.62 + 0.12 * v  # each dress flares a bit differently
    straps = box(ax, y, 0.11, 0.2, -0.92, -0.66)
    bodice = trapezoid(x, y, -0.68, -0.14, 0.3, 0.19) & ~ellipse(x, y, 0.0, -0.68, 0.13, 0.14)
    skirt = trapezoid(x, y, -0.14, 0.88, 0.19, flare)
    hem = (y <= 0.8 + 0.1 * (1.0 - (x / flare).square())) | (y < 0.78)  # gently curved hem
    waist = box(ax, y, 0.0, 0.3, -0.2, -0.12) & (bodice | skirt)
    return Parts(body=(straps | bodice | skirt & hem) & ~waist, accent=waist)


def draw_sneaker(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> Parts:
    """Side view, toe to the right: a rounded upper with laces, a rubber toe cap and sole."""
    sole = box(x, y, -0.9, 0.72, 0.26, 0.48) | ellipse(x, y, 0.72, 0.37, 0.17, 0.11)
    toe = ellipse(x, y, 0.28, 0.28, 0.6, 0.46) & (y <= 0.28)
    heel = box(x, y, -0.86, 0.0, -0.38, 0.28) | ellipse(x, y, -0.72, -0.28, 0.14, 0.14)
    ankle_opening = ellipse(x, y, -0.38, -0.46, 0.3, 0.2)
    tongue = polygon(x, y, [(-0.14, -0.5), (0.04, -0.56), (0.14, -0.1), (-0.1, -0.1)])
    upper = ((toe | heel) & ~ankle_opening) | tongue
    toe_cap = upper & ellipse(x, y, 0.86, 0.3, 0.3, 0.3)
    laces = box(x, y, -0.06, 0.42, -0.2, 0.05) & (torch.remainder(x, 0.16) < 0.05)
    sole_line = box(x, y, -0.9, 0.86, 0.34, 0.37)
    return Parts(body=upper & ~sole & ~toe_cap, trim=sole | toe_cap, lines=(laces & upper) | (sole_line & sole))


def draw_handbag(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> Parts:
    """A bag body that widens downwards, an arched handle and a clasp."""
    bag = trapezoid(x, y, -0.22, 0.78, 0.56, 0.74)
    handle = ring(x, y, 0.0, -0.22, 0.38, 0.58 + 0.08 * v, 0.11) & (y < -0.22)
    flap_edge = box(x, y, -0.7, 0.7, 0.06, 0.1) & bag
    clasp = box(x, y, -0.08, 0.08, 0.02, 0.18)
    return Parts(body=bag, accent=handle, trim=clasp, lines=flap_edge & ~clasp)


def draw_mug(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> Parts:
    """A cylinder seen from the side, an elliptical rim on top and a handle on the right."""
    cx, half = -0.14, 0.46  # centre and half-width of the cup
    cup = box(x, y, cx - half, cx + half, -0.58, 0.66) | ellipse(x, y, cx, 0.66, half, 0.1)
    top = ellipse(x, y, cx, -0.58, half, 0.12)
    inside = ellipse(x, y, cx, -0.58, half - 0.06, 0.08)
    handle = ring(x, y, cx + half, 0.04, 0.38, 0.38, 0.13) & (x > cx + half)
    return Parts(body=(cup | top) & ~inside, accent=handle | inside)


#: Category index -> drawing function; the order follows CATEGORIES.
SHAPES: tuple[Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Parts], ...] = (
    draw_tshirt,
    draw_trousers,
    draw_dress,
    draw_sneaker,
    draw_handbag,
    draw_mug,
)
#: Which way stripes run, per category: trousers get vertical pinstripes.
VERTICAL_STRIPES = (False, True, False, False, False, False)
#: Mugs (and a little, sneakers) are round: extra shading across their width.
ROUNDNESS = (0.0, 0.0, 0.0, 0.1, 0.0, 0.35)


# --------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------

#: Half-width of the picture in local units (shapes stay within about +-0.93).
FRAME = 1.1
#: Colour of "trim" parts: off-white rubber and metal.
TRIM_RGB = torch.tensor([0.9, 0.9, 0.88])


class _ItemParams(NamedTuple):
    """Per-item random numbers, each a float32 tensor of shape (N,) or (N, 3)."""

    scale: torch.Tensor
    aspect: torch.Tensor
    dx: torch.Tensor
    dy: torch.Tensor
    variant: torch.Tensor
    brightness: torch.Tensor
    colour_jitter: torch.Tensor
    light_x: torch.Tensor
    light_y: torch.Tensor
    phase_x: torch.Tensor
    phase_y: torch.Tensor
    background: torch.Tensor
    bg_gradient: torch.Tensor


def _item_params(n: int, seed: int) -> _ItemParams:
    """Draw every random number the renderer needs, from one seeded generator."""
    rng = np.random.default_rng([seed, 1])

    def u(lo: float, hi: float, shape: tuple[int, ...] = ()) -> torch.Tensor:
        return torch.from_numpy(rng.uniform(lo, hi, size=(n, *shape)).astype(np.float32))

    return _ItemParams(
        scale=u(0.8, 1.0),
        aspect=u(-0.04, 0.04),
        dx=u(-0.12, 0.12),  # up to about 2 pixels at 32x32
        dy=u(-0.12, 0.12),
        variant=u(0.0, 1.0),
        brightness=u(0.92, 1.05),
        colour_jitter=u(-0.03, 0.03, (3,)),
        light_x=u(0.02, 0.14),
        light_y=u(0.08, 0.2),
        phase_x=u(0.0, 1.0),
        phase_y=u(0.0, 1.0),
        background=torch.from_numpy(
            (rng.uniform(0.91, 0.98, size=(n, 1)) + rng.uniform(-0.02, 0.02, size=(n, 3))).astype(np.float32)
        ),
        bg_gradient=u(0.0, 0.05),
    )


def _pattern_colour(rgb: torch.Tensor) -> torch.Tensor:
    """Second colour for stripes and dots: lighter for dark colours, darker for light ones."""
    luminance = rgb @ torch.tensor([0.299, 0.587, 0.114])
    light = rgb * 0.3 + 0.7
    dark = rgb * 0.45
    return torch.where((luminance > 0.75)[:, None], dark, light)


def _pattern_mask(x: torch.Tensor, y: torch.Tensor, pattern: torch.Tensor, vertical: bool,
                  phase_x: torch.Tensor, phase_y: torch.Tensor) -> torch.Tensor:
    """Where the second colour goes: stripes, dots, or nowhere (plain)."""
    stripe_period, dot_period, dot_radius = 0.3, 0.33, 0.085
    along = x if vertical else y
    phase = phase_x if vertical else phase_y
    stripes = torch.remainder(along / stripe_period + phase, 1.0) < 0.4  # (B,1,S) or (B,S,1)
    # Dots on a grid: distance to the nearest grid point, measured in x and y separately.
    ddx = (torch.remainder(x / dot_period + phase_x, 1.0) - 0.5) * dot_period
    ddy = (torch.remainder(y / dot_period + phase_y, 1.0) - 0.5) * dot_period
    dots = ddx.square() + ddy.square() <= dot_radius**2
    is_striped = (pattern == PATTERNS.index("striped")).view(-1, 1, 1)
    is_dotted = (pattern == PATTERNS.index("dotted")).view(-1, 1, 1)
    return (stripes & is_striped) | (dots & is_dotted)


def _outline(mask: torch.Tensor) -> torch.Tensor:
    """Pixels of ``mask`` (B, S, S) that touch a pixel outside it (up, down, left or right).

    This is a one-pixel *erosion*: a pixel stays "inside" only if its four
    neighbours are inside too; the ones that don't survive form the edge.
    """
    inner = mask.clone()
    inner[:, 1:, :] &= mask[:, :-1, :]
    inner[:, :-1, :] &= mask[:, 1:, :]
    inner[:, :, 1:] &= mask[:, :, :-1]
    inner[:, :, :-1] &= mask[:, :, 1:]
    return mask & ~inner


def _render_batch(category: int, colours: torch.Tensor, patterns: torch.Tensor,
                  p: _ItemParams, size: int) -> torch.Tensor:
    """Render B items of one category; returns uint8 (B, 3, size, size)."""
    b = colours.shape[0]
    ss = 2 * size  # supersampled resolution
    # Pixel centres. The frame spans -FRAME..FRAME local units, a little more than the
    # shapes' -0.93..0.93, so that a shifted, full-size product still fits.
    grid = ((torch.arange(ss, dtype=torch.float32) + 0.5) * (2.0 / ss) - 1.0) * FRAME
    # Per-item local coordinates: undo each item's shift and scale.
    sx = (p.scale * (1 + p.aspect)).view(b, 1, 1)
    sy = (p.scale * (1 - p.aspect)).view(b, 1, 1)
    x = (grid.view(1, 1, ss) - p.dx.view(b, 1, 1)) / sx  # (B, 1, S)
    y = (grid.view(1, ss, 1) - p.dy.view(b, 1, 1)) / sy  # (B, S, 1)

    parts = SHAPES[category](x, y, p.variant.view(b, 1, 1))
    layers = [m for m in (parts.body, parts.accent, parts.trim) if m is not None]
    silhouette = layers[0]
    for m in layers[1:]:
        silhouette = silhouette | m

    # Colours: the named colour with a little per-item jitter.
    palette = torch.tensor([COLOUR_RGB[c] for c in COLOURS])
    base = (palette[colours] * p.brightness[:, None] + p.colour_jitter).clamp(0, 1)  # (B, 3)
    second = _pattern_colour(base)

    # Step 1, flat colours: one colour per pixel, later (front) layers win.
    pat = _pattern_mask(x, y, patterns, VERTICAL_STRIPES[category], p.phase_x.view(b, 1, 1), p.phase_y.view(b, 1, 1))
    img = torch.where(pat.unsqueeze(1), second.view(b, 3, 1, 1), base.view(b, 3, 1, 1))
    if parts.accent is not None:
        img = torch.where(parts.accent.unsqueeze(1), (base * 0.72).view(b, 3, 1, 1), img)
    if parts.trim is not None:
        img = torch.where(parts.trim.unsqueeze(1), TRIM_RGB.view(1, 3, 1, 1), img)
    img = torch.where(silhouette.unsqueeze(1), img, p.background.view(b, 3, 1, 1))

    # Step 2, light: one brightness factor per pixel (B, S, S), for all three channels.
    # The product is brighter towards the top-left, darker at the sides of round things.
    shade = 1.06 - p.light_x.view(b, 1, 1) * x - p.light_y.view(b, 1, 1) * y
    if ROUNDNESS[category] > 0:
        shade = shade - ROUNDNESS[category] * (x + 0.1).square()
    # The background gets slightly darker towards the bottom ...
    bg_shade = 1.0 - p.bg_gradient.view(b, 1, 1) * (grid.view(1, ss, 1) + 1.0)  # (B, S, 1)
    # ... and a faint drop shadow: the silhouette shifted down and to the right.
    d = max(1, ss // 32)
    shadow = torch.zeros_like(silhouette)
    shadow[:, 2 * d:, d:] = silhouette[:, : -2 * d, :-d]
    bg_shade = bg_shade * (1.0 - 0.14 * shadow.float())
    light = torch.where(silhouette, shade, bg_shade)
    if parts.lines is not None:  # seams and laces
        light = torch.where(parts.lines, light * 0.55, light)
    # A darker outline keeps light products (white, yellow) visible on the light background.
    light = torch.where(_outline(silhouette), light * 0.6, light)
    img = img * light.unsqueeze(1)

    # Anti-aliasing: average each 2x2 block, then 8-bit.
    return to_uint8(F.avg_pool2d(img, kernel_size=2))


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` torch CPU threads inside the ``with`` block, then restore the setting."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _check_size(size: int) -> None:
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(map(str, SIZES))} (pixels per side), got {size!r}")


def render(
    categories: Sequence[int] | np.ndarray | torch.Tensor,
    colours: Sequence[int] | np.ndarray | torch.Tensor,
    patterns: Sequence[int] | np.ndarray | torch.Tensor,
    size: int = 32,
    seed: int = 0,
    chunk: int | None = None,
    threads: int | None = 1,
) -> torch.Tensor:
    """Render products from index arrays into uint8 RGB images (N, 3, size, size).

    ``categories[i]``, ``colours[i]`` and ``patterns[i]`` index ``CATEGORIES``,
    ``COLOURS`` and ``PATTERNS``. Item i's size, position and lighting come from
    ``seed`` and i, so the same call always returns the same bytes (whatever
    ``chunk``, the number of items drawn per batch, and ``threads``). The
    default chunk keeps each batch small enough to stay in the CPU's cache.

    ``threads`` is how many CPU threads torch may use meanwhile (None: torch's
    current setting). One is the default: these medium-sized tensor operations
    gain little from more threads, and become several times slower with them
    when other programs keep the CPU busy.
    """
    _check_size(size)
    cat = torch.as_tensor(np.asarray(categories), dtype=torch.long).reshape(-1)
    col = torch.as_tensor(np.asarray(colours), dtype=torch.long).reshape(-1)
    pat = torch.as_tensor(np.asarray(patterns), dtype=torch.long).reshape(-1)
    n = cat.shape[0]
    if col.shape[0] != n or pat.shape[0] != n:
        raise ValueError(f"categories, colours and patterns differ in length: {n}, {col.shape[0]}, {pat.shape[0]}")
    for values, vocab, name in ((cat, CATEGORIES, "category"), (col, COLOURS, "colour"), (pat, PATTERNS, "pattern")):
        if n and (values.min() < 0 or values.max() >= len(vocab)):
            raise ValueError(f"{name} indices must be in 0..{len(vocab) - 1}")

    if chunk is None:
        chunk = 65536 // (size * size)  # 64 items at 32x32, 16 at 64x64
    params = _item_params(n, seed)
    out = torch.empty((n, 3, size, size), dtype=torch.uint8)
    with torch.no_grad(), _torch_threads(threads):
        # One category at a time, the whole batch of that category at once (in chunks).
        for k in range(len(CATEGORIES)):
            idx = torch.nonzero(cat == k).flatten()
            for start in range(0, idx.numel(), chunk):
                sel = idx[start:start + chunk]
                p = _ItemParams(*(t[sel] for t in params))
                out[sel] = _render_batch(k, col[sel], pat[sel], p, size)
    return out


def render_words(combos: Sequence[tuple[str, str, str]], size: int = 32, seed: int = 0) -> torch.Tensor:
    """Render (category, colour, pattern) word triples, e.g. ``[("mug", "red", "dotted")]``."""
    idx = [_combo_index(c) for c in combos]
    cat, col, pat = zip(*idx) if idx else ((), (), ())
    return render(list(cat), list(col), list(pat), size=size, seed=seed)


# --------------------------------------------------------------------------
# The catalogue: which items, which split, cached on disk
# --------------------------------------------------------------------------


def _layout(n_items: int, seed: int) -> dict[str, np.ndarray]:
    """Choose every item's attributes, split and description template."""
    rng = np.random.default_rng([seed, 0])
    seen = np.array(SEEN_COMBOS, dtype=np.int64)
    held = np.array(HELDOUT_COMBO_INDICES, dtype=np.int64)

    # Seen combinations in (shuffled) rounds, so they are all about equally common.
    rounds = -(-n_items // len(seen))
    order = np.concatenate([rng.permutation(len(seen)) for _ in range(rounds)])[:n_items]
    combos = seen[order]

    # Split the seen items 80/10/10 at random.
    n_train = int(round(0.8 * n_items))
    n_val = int(round(0.1 * n_items))
    n_test = n_items - n_train - n_val
    split = np.empty(n_items, dtype=np.int8)
    perm = rng.permutation(n_items)
    split[perm[:n_train]] = 0
    split[perm[n_train:n_train + n_val]] = 1
    split[perm[n_train + n_val:]] = 2

    # Held-out combinations, as many items as the test split, appended at the end.
    rounds = -(-n_test // len(held)) if n_test else 0
    h_order = np.concatenate([rng.permutation(len(held)) for _ in range(rounds)])[:n_test] if rounds else np.zeros(0, np.int64)
    combos = np.concatenate([combos, held[h_order].reshape(-1, 3)])
    split = np.concatenate([split, np.full(n_test, 3, dtype=np.int8)])

    template = np.array(TRAIN_TEMPLATES, dtype=np.int8)[rng.integers(len(TRAIN_TEMPLATES), size=len(split))]
    return {
        "category": combos[:, 0].astype(np.int64),
        "colour": combos[:, 1].astype(np.int64),
        "pattern": combos[:, 2].astype(np.int64),
        "split": split,
        "template": template,
    }


def cache_path(n_items: int, size: int, seed: int) -> Path:
    """Where the catalogue with these settings is cached."""
    return cache_dir() / f"catalog-{CACHE_VERSION}-{size}-{n_items}-{seed}.npz"


_ARRAYS = ("images", "category", "colour", "pattern", "split", "template")


def _read_cache(path: Path, n_total: int, size: int) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None if the file is missing, damaged or doesn't match."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in _ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    if data["images"].shape != (n_total, 3, size, size) or any(data[k].shape != (n_total,) for k in _ARRAYS[1:]):
        return None
    return data


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    """Write to a private temporary file, then rename: a crash never leaves half a file behind,
    and two processes filling the same cache never share a temporary file. A cache that cannot
    be written (full disk, read-only folder) is skipped with a note."""
    clean_stale_temps(path.parent)
    try:
        write_atomically(path, lambda fh: np.savez_compressed(fh, **data))
    except OSError as err:
        cache_write_failed(path, err)


def build_catalog(n_items: int, size: int = 32, seed: int = 0, use_cache: bool = True) -> dict[str, np.ndarray]:
    """Every split of the catalogue as numpy arrays (images plus attribute indices).

    Renders once and caches to ``cache_path(...)``; later calls read the cache.
    """
    _check_size(size)
    if n_items < 10:
        raise ValueError(f"n_items must be at least 10 (to fill train, val and test), got {n_items}")
    layout = _layout(n_items, seed)
    path = cache_path(n_items, size, seed)
    if use_cache:
        cached = _read_cache(path, len(layout["split"]), size)
        if cached is not None:
            return cached
    images = render(layout["category"], layout["colour"], layout["pattern"], size=size, seed=seed)
    data = {"images": images.numpy(), **layout}
    if use_cache:
        _write_cache(path, data)
    return data


def load_catalog(split: str = "train", n_items: int | None = None, size: int = 32, seed: int = 0) -> ProductData:
    """One split of the built-in product catalogue.

    ``split``:   "train", "val", "test" (80/10/10 of the seen combinations) or
                 "heldout" (only the combinations in ``HELDOUT_COMBOS``).
    ``n_items``: products in train+val+test together (default: the run mode's
                 ``catalog_items``); the heldout split comes on top, as large as test.
    ``size``:    32 or 64 pixels per side. ``seed`` fixes everything.
    """
    if split not in SPLIT_NAMES:
        raise ValueError(f"Unknown split {split!r}; valid splits: {', '.join(SPLIT_NAMES)}")
    _check_size(size)
    n = get_mode().catalog_items if n_items is None else int(n_items)
    data = build_catalog(n, size=size, seed=seed)
    keep = np.flatnonzero(data["split"] == SPLIT_NAMES.index(split))
    cat, col, pat = (data[k][keep] for k in ("category", "colour", "pattern"))
    descriptions = [
        describe(CATEGORIES[c], COLOURS[k], PATTERNS[p], template=int(t))
        for c, k, p, t in zip(cat.tolist(), col.tolist(), pat.tolist(), data["template"][keep].tolist())
    ]
    return ProductData(
        name="catalog",
        split=split,
        images=torch.from_numpy(np.ascontiguousarray(data["images"][keep])),
        descriptions=descriptions,
        labels=torch.from_numpy(cat.astype(np.int64)),
        class_names=list(CATEGORIES),
        attributes={
            "category": torch.from_numpy(cat.astype(np.int64)),
            "colour": torch.from_numpy(col.astype(np.int64)),
            "pattern": torch.from_numpy(pat.astype(np.int64)),
        },
        attribute_values={"category": list(CATEGORIES), "colour": list(COLOURS), "pattern": list(PATTERNS)},
    )


__all__ = [
    "CATEGORIES",
    "COLOURS",
    "COLOUR_RGB",
    "PATTERNS",
    "SIZES",
    "SPLIT_NAMES",
    "TEMPLATES",
    "TRAIN_TEMPLATES",
    "HELD_OUT_TEMPLATES",
    "HELDOUT_COMBOS",
    "describe",
    "is_heldout",
    "render",
    "render_words",
    "build_catalog",
    "cache_path",
    "load_catalog",
]
