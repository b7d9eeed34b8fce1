"""The words the kit's training descriptions are written with, and the words kept out of them.

A shopper does not write "a dark slim pullover": they write "a black skinny
jumper". Fashion-MNIST photos are grey, so a colour word can only say how dark
the product is; the lexicon below maps everyday words onto the three shades,
the three fits and the ten classes that the pixel rules and the labels decide:

    shade  dark    <- dark, black, charcoal, navy
           medium  <- medium, grey, stone, taupe
           light   <- light, white, ivory, cream, pastel
    fit    slim    <- slim, skinny, fitted
           regular <- regular, classic, straight
           wide    <- wide, baggy, oversized, relaxed
    class  e.g. pullover <- pullover, jumper, sweater;  sneaker <- sneakers, trainers

Each training description draws one word of each list at random (reproducibly),
so the text encoder *learns* that "charcoal" and "dark" describe the same
pictures; nothing at inference looks these words up.

``HELD_OUT_WORDS`` is the one place that lists words never written into any
training description. They are for evaluation only (``benchmarks/shopper_words.py``,
notebook 05): other synonyms, colour words such as "whitish", and (built there)
typos one edit away from a product word. ``check_lexicon`` asserts that no held-out
word slipped into a training list.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .catalog import CATEGORIES, COLOURS, PATTERNS
from .catalog import TEMPLATES as CATALOG_TEMPLATES
from .catalog import TRAIN_TEMPLATES as CATALOG_TRAIN_TEMPLATES

#: Fashion-MNIST class index -> everyday names used in training descriptions (the kit's class name first).
FASHION_PRODUCT_WORDS: tuple[tuple[str, ...], ...] = (
    ("t-shirt", "tee", "top"),
    ("trouser", "jeans", "pants"),
    ("pullover", "jumper", "sweater"),
    ("dress", "maxi dress", "midi dress"),
    ("coat", "jacket", "parka"),
    ("sandal", "sliders", "strappy sandals"),
    ("shirt", "button-down shirt", "oxford shirt"),
    ("sneaker", "trainers", "sneakers"),
    ("bag", "handbag", "purse"),
    ("ankle boot", "booties", "boots"),
)
#: Shade index (SHADE_WORDS order: dark, medium, light) -> training words.
FASHION_SHADE_LEXICON: tuple[tuple[str, ...], ...] = (
    ("dark", "black", "charcoal", "navy"),
    ("medium", "grey", "stone", "taupe"),
    ("light", "white", "ivory", "cream", "pastel"),
)
#: Fit index (FIT_WORDS order: slim, regular, wide) -> training words.
FASHION_FIT_LEXICON: tuple[tuple[str, ...], ...] = (
    ("slim", "skinny", "fitted"),
    ("regular", "classic", "straight"),
    ("wide", "baggy", "oversized", "relaxed"),
)

#: Every phrase that names a product in a training description, both data sets (the tokeniser's
#: "does this description name a product?" test, ``pgan_lib.text.tokenizer``).
PRODUCT_PHRASES: tuple[str, ...] = tuple(p for group in FASHION_PRODUCT_WORDS for p in group) + tuple(CATEGORIES)

#: Words never used in a training description, per dataset and attribute: value index -> words.
#: How the models can read them: synonyms through the tokeniser's small ``SYNONYMS`` table,
#: derived forms ("whitish", "overcoat") through sub-word vectors (``pgan_lib.text.subword``).
HELD_OUT_WORDS: dict[str, dict[str, dict[int, tuple[str, ...]]]] = {
    "fashion-mnist": {
        "label": {0: ("teeshirt",), 1: ("slacks", "chinos"), 2: ("hoodie", "sweatshirt"), 3: ("gown", "frock"),
                  4: ("overcoat",), 5: ("flip-flops",), 6: ("blouse",), 7: ("runners",), 8: ("tote",),
                  9: ("bootees",)},
        "shade": {0: ("blackish",), 1: ("gray", "greyish"), 2: ("pale", "whitish", "creamy")},
        "fit": {0: ("tight", "narrow"), 1: ("standard", "normal"), 2: ("loose", "broad")},
    },
    # The catalogue's descriptions use its own words (CATEGORIES, COLOURS, PATTERNS of pgan_lib.data.catalog).
    "catalog": {
        "category": {0: ("tee", "teeshirt"), 1: ("jeans", "slacks"), 2: ("gown", "frock"), 3: ("trainers", "runners"),
                     4: ("purse", "tote"), 5: ("cup",)},
        "colour": {0: ("reddish",), 1: ("orangey",), 2: ("yellowish",), 3: ("greenish",), 4: ("bluish",),
                   5: ("purplish",), 6: ("pinkish",), 7: ("brownish",), 8: ("blackish",), 9: ("whitish",)},
        "pattern": {0: ("solid",), 1: ("stripy", "pinstriped"), 2: ("spotted", "polka-dot")},
    },
}


def fashion_word_choices(labels: torch.Tensor, shades: torch.Tensor, fits: torch.Tensor, seed: int
                         ) -> tuple[list[str], list[str], list[str]]:
    """One training word per item for its class, shade and fit, drawn uniformly and reproducibly (by ``seed``)."""
    gen = torch.Generator().manual_seed(seed)
    n = len(labels)
    draws = torch.randint(0, 2 ** 30, (3, n), generator=gen).tolist()

    def pick(table: Sequence[tuple[str, ...]], values: list[int], r: list[int]) -> list[str]:
        return [table[v][k % len(table[v])] for v, k in zip(values, r)]

    return (pick(FASHION_PRODUCT_WORDS, labels.tolist(), draws[0]),
            pick(FASHION_SHADE_LEXICON, shades.tolist(), draws[1]),
            pick(FASHION_FIT_LEXICON, fits.tolist(), draws[2]))


def training_words(dataset: str = "fashion-mnist") -> set[str]:
    """Every word (split on spaces and hyphens, lower case) that a training description can contain."""
    from .attributes import TEMPLATES  # here, not at the top: attributes imports this module

    if dataset == "fashion-mnist":
        tables: tuple = (FASHION_PRODUCT_WORDS, FASHION_SHADE_LEXICON, FASHION_FIT_LEXICON)
        templates = list(TEMPLATES)
    elif dataset == "catalog":
        tables = (tuple((w,) for w in CATEGORIES + COLOURS + PATTERNS),)
        templates = [CATALOG_TEMPLATES[i] for i in CATALOG_TRAIN_TEMPLATES] + ["a pair of an"]
    else:
        raise ValueError(f"no lexicon for {dataset!r}; use 'fashion-mnist' or 'catalog'")
    words: set[str] = set()
    for table in tables:
        for group in table:
            for phrase in group:
                words.update(phrase.replace("-", " ").split())
    for template in templates:
        words.update(w.strip(",:()") for w in template.replace("-", " ").split() if "{" not in w)
    return words


def check_lexicon() -> None:
    """Raise if a held-out word is also a training word (the hold-out would be void)."""
    for dataset, attrs in HELD_OUT_WORDS.items():
        train = training_words(dataset)
        for attr, table in attrs.items():
            for words in table.values():
                for phrase in words:
                    new = [w for w in phrase.replace("-", " ").split() if w not in train]
                    if not new:
                        raise AssertionError(f"held-out {attr} phrase {phrase!r} ({dataset}) has no word kept out "
                                             "of training")


__all__ = ["FASHION_PRODUCT_WORDS", "PRODUCT_PHRASES", "FASHION_SHADE_LEXICON", "FASHION_FIT_LEXICON", "HELD_OUT_WORDS",
           "fashion_word_choices", "training_words", "check_lexicon"]
