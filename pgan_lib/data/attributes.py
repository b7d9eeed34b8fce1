"""Attributes read off the pixels of a Fashion-MNIST image, and descriptions built from them.

The same functions label the real photos and check generated ones, so a
description is always true of its image and "did the generator draw the *dark*
boot it was asked for?" is answered by the rule that wrote the word "dark".

shade  mean ink of the product's pixels (values >= 1/8 of full scale), in [0, 1].
       Fashion-MNIST stores negated photos, so more ink is a darker product:
       dark  if mean >= 0.72,  light if mean < 0.57,  medium in between
       (the thresholds are the terciles of the training set, rounded).
fit    silhouette width: the mean, over rows that hold product pixels, of the
       span from the leftmost to the rightmost product pixel, divided by 28.
       slim / regular / wide by that class's own training-set terciles, since a
       wide sandal is narrower than a slim coat.
"""
from __future__ import annotations

import torch

from .lexicon import fashion_word_choices

SHADE_WORDS = ("dark", "medium", "light")
FIT_WORDS = ("slim", "regular", "wide")

INK_THRESHOLD = 0.125
SHADE_DARK_AT = 0.72
SHADE_LIGHT_BELOW = 0.57
# Per class (Fashion-MNIST order): (slim below, wide at or above), training-set terciles.
FIT_THRESHOLDS = (
    (0.53, 0.57), (0.34, 0.37), (0.65, 0.70), (0.37, 0.44), (0.59, 0.65),
    (0.54, 0.61), (0.59, 0.66), (0.62, 0.69), (0.66, 0.83), (0.59, 0.63),
)

TEMPLATES = (
    "a {shade} {fit} {cls}",
    "{cls}, {shade}, {fit} fit",
    "{a_fit} {cls} in a {shade} tone",
    "{shade} {cls} with {a_fit} cut",
    "product photo of {a_shade} {fit} {cls}",
)
# Phrasings never used for training descriptions: for testing robustness to new wording.
HELD_OUT_TEMPLATES = (
    "looking for {a_cls} that is {shade} and {fit}",
    "{fit}-fit {cls}, colour: {shade}",
)


def article(word: str) -> str:
    """'a' or 'an' before ``word``."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def shade_value(images: torch.Tensor) -> torch.Tensor:
    """Mean ink of the product pixels, (N,) in [0, 1]; images uint8 or float in [0, 1], (N,1,H,W)."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    x = x.flatten(1)
    ink = x >= INK_THRESHOLD
    return (x * ink).sum(1) / ink.sum(1).clamp(min=1)


def width_value(images: torch.Tensor) -> torch.Tensor:
    """Silhouette width as a fraction of the image width, (N,)."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    ink = x[:, 0] >= INK_THRESHOLD  # (N, H, W)
    w = ink.shape[-1]
    cols = torch.arange(w, device=ink.device)
    left = torch.where(ink, cols, w).amin(-1)
    right = torch.where(ink, cols, -1).amax(-1)
    has_ink = ink.any(-1)
    span = torch.where(has_ink, right - left + 1, 0).float()
    return span.sum(-1) / has_ink.sum(-1).clamp(min=1) / w


def shade_of(images: torch.Tensor) -> torch.Tensor:
    """Shade index into SHADE_WORDS (0 dark, 1 medium, 2 light), (N,)."""
    v = shade_value(images)
    out = torch.ones_like(v, dtype=torch.long)
    out[v >= SHADE_DARK_AT] = 0
    out[v < SHADE_LIGHT_BELOW] = 2
    return out


def fit_of(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fit index into FIT_WORDS (0 slim, 1 regular, 2 wide), judged against each image's class."""
    v = width_value(images)
    table = torch.tensor(FIT_THRESHOLDS, device=v.device)[labels.to(v.device)]
    out = torch.ones_like(v, dtype=torch.long)
    out[v < table[:, 0]] = 0
    out[v >= table[:, 1]] = 2
    return out


def fashion_attributes(images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Both attributes of a batch of Fashion-MNIST-like images: {"shade": (N,), "fit": (N,)}."""
    return {"shade": shade_of(images), "fit": fit_of(images, labels)}


def describe_fashion(cls: str, shade: str, fit: str, template: int = 0, held_out: bool = False) -> str:
    """One description from words, e.g. ('ankle boot', 'dark', 'slim') -> 'a dark slim ankle boot'."""
    pool = HELD_OUT_TEMPLATES if held_out else TEMPLATES
    return pool[template % len(pool)].format(
        cls=cls, shade=shade, fit=fit, a_fit=f"{article(fit)} {fit}", a_shade=f"{article(shade)} {shade}",
        a_cls=f"{article(cls)} {cls}",
    )


def fashion_descriptions(labels: torch.Tensor, attrs: dict[str, torch.Tensor], class_names: list[str] | None = None,
                         seed: int = 0, lexicon: bool = True) -> list[str]:
    """A description for every image, each phrased with a template picked at random (reproducibly).

    With ``lexicon`` (the default) the class, shade and fit are each named by a word drawn from
    ``pgan_lib.data.lexicon`` ("a charcoal skinny jumper"); without it by the kit's own words
    (``class_names``, ``SHADE_WORDS``, ``FIT_WORDS``: "a dark slim pullover").
    """
    gen = torch.Generator().manual_seed(seed)
    which = torch.randint(len(TEMPLATES), (len(labels),), generator=gen).tolist()
    if lexicon:
        cls, shade, fit = fashion_word_choices(labels, attrs["shade"], attrs["fit"], seed=seed + 10_000)
    else:
        if class_names is None:
            raise ValueError("fashion_descriptions(lexicon=False) needs the class names")
        cls = [class_names[c] for c in labels.tolist()]
        shade = [SHADE_WORDS[s] for s in attrs["shade"].tolist()]
        fit = [FIT_WORDS[f] for f in attrs["fit"].tolist()]
    return [describe_fashion(c, s, f, t) for c, s, f, t in zip(cls, shade, fit, which)]
