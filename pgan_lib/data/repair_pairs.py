"""Training pairs for description-guided repair: the same product drawn in two colourings.

A repair model that only ever sees a hole in a picture of *one* product can
learn to copy the visible half and ignore the description. To make it read the
description, some training items come in two colourings of one geometry:

    source  A = render(category, colour a, pattern a, geometry g)
    target  B = render(category, colour b, pattern b, geometry g)        (same size, place, light)
    training image = (1 - m) * A + m * B,   description = describe(B)

so the hole must be filled with what the description asks for, even when the
visible part says otherwise. ``contradict`` is the share of items with b != a;
the rest have a = b (ordinary repair). ``change`` says what a contradicting item
changes: ``"any"`` the colour, the pattern or both (a random other seen
combination: about two in three change the pattern), ``"both"`` always the colour
and the pattern, which is how the repair benchmark contradicts a description.
The catalogue renderer draws an item's geometry from (seed, index) only, which
is what makes two colourings of one geometry possible.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import ProductData
from .catalog import CATEGORIES, COLOURS, PATTERNS, SEEN_COMBOS, TRAIN_TEMPLATES, describe, render


@dataclass
class PairedProductData(ProductData):
    """A split whose ``images`` are the targets B and ``sources`` (uint8, like images) the visible A."""

    sources: torch.Tensor | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sources is not None and self.sources.shape != self.images.shape:
            raise ValueError(f"sources {tuple(self.sources.shape)} must match images {tuple(self.images.shape)}")

    def subset(self, index: torch.Tensor | slice | list[int]) -> "PairedProductData":
        """The items at ``index``, sources included (``take`` goes through here too)."""
        part = super().subset(index)
        idx = torch.arange(len(self))[index] if isinstance(index, slice) else torch.as_tensor(index, dtype=torch.long)
        sources = None if self.sources is None else self.sources[idx]
        return PairedProductData(**{f: getattr(part, f) for f in part.__dataclass_fields__ if f != "sources"},
                                 sources=sources)


CHANGES = ("any", "both")


def pair_attributes(n: int, rng: np.random.Generator, contradict: float = 0.5,
                    change: str = "any") -> tuple[np.ndarray, np.ndarray]:
    """(target, source) attributes, each (n, 3) category, colour, pattern: targets drawn from the seen
    combinations; a ``contradict`` share of sources gets another colour and/or pattern of the same category
    (``change``: "any" or "both"), also a seen combination; the other sources equal their targets."""
    if change not in CHANGES:
        raise ValueError(f"change must be one of {CHANGES}, got {change!r}")
    seen = np.array(SEEN_COMBOS, dtype=np.int64)
    tgt = seen[rng.integers(len(seen), size=n)]                          # (n, 3) category, colour, pattern
    src = tgt.copy()
    flip = rng.random(n) < contradict
    seen_set = {tuple(c) for c in SEEN_COMBOS}
    for i in np.flatnonzero(flip):
        while True:    # another colour and/or pattern of the same category, also a seen combination
            col = int(rng.integers(len(COLOURS)))
            pat = int(rng.integers(len(PATTERNS)))
            differs = (col != tgt[i, 1] and pat != tgt[i, 2]) if change == "both" else (col, pat) != (tgt[i, 1], tgt[i, 2])
            if differs and (int(tgt[i, 0]), col, pat) in seen_set:
                src[i, 1], src[i, 2] = col, pat
                break
    return tgt, src


def recoloured_pairs(n: int, size: int = 32, seed: int = 0, contradict: float = 0.5,
                     split: str = "train", change: str = "any") -> PairedProductData:
    """``n`` (source, target) pairs of catalogue products over the seen combinations (see module docstring).

    Targets keep to the seen (category, colour, pattern) combinations, so the held-out
    split stays unseen. A contradicting item changes the colour, the pattern or both (``change="any"``),
    or always both (``change="both"``).
    """
    if not 0.0 <= contradict <= 1.0:
        raise ValueError(f"contradict must be in [0, 1], got {contradict}")
    rng = np.random.default_rng([seed, 14])
    tgt, src = pair_attributes(n, rng, contradict, change)
    render_seed = seed * 7919 + 1401
    images = render(tgt[:, 0], tgt[:, 1], tgt[:, 2], size=size, seed=render_seed)
    sources = render(src[:, 0], src[:, 1], src[:, 2], size=size, seed=render_seed)
    templates = rng.integers(len(TRAIN_TEMPLATES), size=n)
    descriptions = [describe(CATEGORIES[c], COLOURS[k], PATTERNS[p], template=TRAIN_TEMPLATES[int(t)])
                    for (c, k, p), t in zip(tgt.tolist(), templates)]
    return PairedProductData(
        name="catalog-pairs", split=split, images=images, descriptions=descriptions,
        labels=torch.from_numpy(tgt[:, 0].copy()), class_names=list(CATEGORIES),
        attributes={k: torch.from_numpy(tgt[:, j].copy()) for j, k in enumerate(("category", "colour", "pattern"))},
        attribute_values={"category": list(CATEGORIES), "colour": list(COLOURS), "pattern": list(PATTERNS)},
        sources=sources,
    )
