"""Shopper words: prompts written with words no training description contains, and what a model makes of them.

Three prompt sets over the same attribute combinations (``shopper_prompts``):

    "train"     training words:  "a charcoal skinny jumper"
    "held-out"  held-out words (``pgan_lib.data.lexicon.HELD_OUT_WORDS``): "a blackish tight hoodie"
    "typo"      training words with the product word one edit away: "a charcoal skinny jumpr"

The images drawn for each set are judged as in ``evaluate_prompts`` (the kit's
classifier for class / category / colour / pattern, the pixel rules for shade),
so the held-out numbers can be set beside the training-word ones. ``refusals``
counts the prompts a model refuses to read at all; ``one_edit_typos`` lists
every one-edit misspelling of a word, for the exhaustive version of that count.
"""
from __future__ import annotations

import re
import string
import warnings
from typing import Any, Sequence

import torch

from ..data.attributes import TEMPLATES, describe_fashion
from ..data.catalog import CATEGORIES, COLOURS, PATTERNS, SEEN_COMBOS, TRAIN_TEMPLATES, describe
from ..data.lexicon import FASHION_FIT_LEXICON, FASHION_PRODUCT_WORDS, FASHION_SHADE_LEXICON, HELD_OUT_WORDS, training_words
from ..models.base import draw_samples
from ..text import TextTokenizer, TextWarning, normalise, singular
from ..text.subword import FUNCTION_WORDS
from .attributes import attribute_hits, hit_shares, observed_attributes

WORD_SETS = ("train", "held-out", "typo")


def one_edit_typos(word: str) -> list[str]:
    """Every string one edit from ``word`` (a letter deleted, replaced or inserted, two neighbours swapped),
    sorted, without the word itself."""
    letters = string.ascii_lowercase
    out = set()
    for i in range(len(word) + 1):
        if i < len(word):
            out.add(word[:i] + word[i + 1:])                                   # delete
            out.update(word[:i] + c + word[i + 1:] for c in letters)           # replace
        if i < len(word) - 1:
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2:])           # swap neighbours
        out.update(word[:i] + c + word[i:] for c in letters)                   # insert
    out.discard(word)
    return sorted(out)


def typo_of(phrase: str, gen: torch.Generator, avoid: set[str]) -> str:
    """``phrase`` with its last word misspelt by one random edit, never into a word of ``avoid``
    (training words, function words): a typo that spells another real word is a word, not a typo."""
    *head, last = phrase.split()
    options = [t for t in one_edit_typos(last) if t not in avoid and singular(t) not in avoid and len(t) >= 3]
    pick = options[int(torch.randint(len(options), (1,), generator=gen))]
    return " ".join(head + [pick])


def _pick(words: Sequence[str], gen: torch.Generator) -> str:
    return words[int(torch.randint(len(words), (1,), generator=gen))]


def shopper_prompts(dataset: str, words: str = "held-out", per: int = 10, seed: int = 0
                    ) -> tuple[list[str], dict[str, torch.Tensor]]:
    """``per`` prompts for every attribute combination, written with ``words`` ("train", "held-out" or "typo").

    Fashion-MNIST: all 90 (class, shade, fit) combinations; the catalogue: its 160 seen combinations.
    Phrasings cycle through the training templates, so only the words differ between the sets.
    With "held-out" every attribute is named by a held-out word where the lexicon has one for it
    (the catalogue's held-out words: ``HELD_OUT_WORDS["catalog"]``). Returns (prompts, requested indices).
    """
    if words not in WORD_SETS:
        raise ValueError(f"words must be one of {', '.join(WORD_SETS)}, got {words!r}")
    gen = torch.Generator().manual_seed(seed)
    avoid = set(FUNCTION_WORDS) | {w for t in ("fashion-mnist", "catalog") for w in training_words(t)}
    if dataset == "fashion-mnist":
        held = HELD_OUT_WORDS["fashion-mnist"]
        table = [(c, s, f) for c in range(len(FASHION_PRODUCT_WORDS)) for s in range(3) for f in range(3)]
        rows, prompts = [], []
        for i, (c, s, f) in enumerate(table):
            for j in range(per):
                if words == "held-out":
                    cls, shade, fit = (_pick(held["label"][c], gen), _pick(held["shade"][s], gen),
                                       _pick(held["fit"][f], gen))
                else:
                    cls, shade, fit = (_pick(FASHION_PRODUCT_WORDS[c], gen), _pick(FASHION_SHADE_LEXICON[s], gen),
                                       _pick(FASHION_FIT_LEXICON[f], gen))
                    if words == "typo":
                        cls = typo_of(cls, gen, avoid)
                prompts.append(describe_fashion(cls, shade, fit, (i * per + j) % len(TEMPLATES)))
                rows.append((c, s, f))
        names = ("label", "shade", "fit")
    elif dataset == "catalog":
        held = HELD_OUT_WORDS["catalog"]
        rows, prompts = [], []
        for i, (c, k, p) in enumerate(SEEN_COMBOS):
            for j in range(per):
                text = describe(CATEGORIES[c], COLOURS[k], PATTERNS[p],
                                template=TRAIN_TEMPLATES[(i * per + j) % len(TRAIN_TEMPLATES)])
                if words == "held-out":
                    for attr, value, word in (("category", c, CATEGORIES[c]), ("colour", k, COLOURS[k]),
                                              ("pattern", p, PATTERNS[p])):
                        if held[attr].get(value):
                            text = text.replace(word, _pick(held[attr][value], gen), 1)
                elif words == "typo":
                    text = text.replace(CATEGORIES[c], typo_of(CATEGORIES[c], gen, avoid), 1)
                prompts.append(text)
                rows.append((c, k, p))
        names = ("category", "colour", "pattern")
    else:
        raise ValueError(f"no shopper prompts for dataset {dataset!r}; use 'catalog' or 'fashion-mnist'")
    requested = {name: torch.tensor([r[i] for r in rows], dtype=torch.long) for i, name in enumerate(names)}
    return prompts, requested


def how_read(word: str, tokenizer: TextTokenizer) -> tuple[str, str]:
    """(the word a model reads, how it got there) for a ``word`` it may never have seen in training.

    How: "known" (in the vocabulary), "synonym table", "one edit" or "sub-words" (``subword``);
    ("-", "left out") when the model cannot read it.
    """
    known, how = tokenizer.reading(normalise(word)[-1])
    return known or "-", how


def by_held_out_word(dataset: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Split a "held-out" ``evaluate_shopper_words`` result by the held-out word in each prompt.

    One row per held-out word of ``HELD_OUT_WORDS[dataset]``: {"attribute", "value", "word", "n",
    "accuracy": {attribute: share of those prompts' images showing it}}. A word that no prompt
    contains gets n = 0 and no accuracy.
    """
    rows = []
    for attr, table in HELD_OUT_WORDS[dataset].items():
        for value, words in table.items():
            for word in words:
                pattern = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])")
                has = torch.tensor([bool(pattern.search(p)) for p in result["prompts"]])
                acc = {a: right[has].float().mean().item() for a, right in result["right"].items()} if has.any() else {}
                rows.append({"attribute": attr, "value": value, "word": word, "n": int(has.sum()), "accuracy": acc})
    return rows


def refusals(model, prompts: Sequence[str]) -> list[tuple[str, str]]:
    """(prompt, reason) for every prompt the model refuses to read (its ``cond_inputs`` raises ValueError)."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TextWarning)
        for p in dict.fromkeys(prompts):
            try:
                model.cond_inputs(prompts=[p], n=1)
            except ValueError as err:
                out.append((p, str(err)))
    return out


def evaluate_shopper_words(model, dataset: str, words: str, per: int = 10, seed: int = 0,
                           classifier=None) -> dict[str, Any]:
    """Draw ``per`` images for every combination of ``shopper_prompts(dataset, words)`` and judge them.

    Returns {"n", "accuracy": {attribute: share, "all": share}, "refused": prompts refused, "prompts",
    "right": {attribute: (n,) bool, one per drawn prompt}}. Refused prompts are left out of the drawing
    (and counted).
    """
    prompts, requested = shopper_prompts(dataset, words, per, seed)
    refused = {p for p, _ in refusals(model, prompts)}
    keep = torch.tensor([p not in refused for p in prompts])
    prompts = [p for p in prompts if p not in refused]
    requested = {k: v[keep] for k, v in requested.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TextWarning)
        images = draw_samples(model, len(prompts), prompts=prompts, seed=seed)
    observed = observed_attributes(images, dataset, requested, extractor=classifier)
    right = attribute_hits(observed, requested)
    return {"n": len(prompts), "accuracy": hit_shares(right), "refused": len(refused),
            "prompts": prompts, "right": right}


__all__ = ["WORD_SETS", "one_edit_typos", "typo_of", "shopper_prompts", "how_read", "by_held_out_word", "refusals",
           "evaluate_shopper_words"]
