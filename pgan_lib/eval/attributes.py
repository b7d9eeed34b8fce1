"""What a prompt asks for, and what an image shows: attribute by attribute.

``requested_attributes`` reads the class and attribute words of a prompt ("a dark
slim ankle boot" -> label 9, shade 0, fit 0); ``observed_attributes`` says what
generated images show, with the kit classifier's heads and, for Fashion-MNIST's
shade and fit, the same pixel rules that wrote the training descriptions.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..data.attributes import FIT_WORDS, SHADE_WORDS, fit_of, shade_of
from ..data.catalog import CATEGORIES, COLOURS, PATTERNS
from ..data.fashion_mnist import CLASS_NAMES
from ..data.lexicon import FASHION_FIT_LEXICON, FASHION_PRODUCT_WORDS, FASHION_SHADE_LEXICON
from ..text import split_words
from .features import EXTRACTORS, Extracted, FeatureExtractor, shipped_extractor


def _vocabulary(dataset: str) -> dict[str, list[tuple[str, ...]]]:
    """Phrases a prompt may use, per attribute, in the order of the attribute's value indices
    (Fashion-MNIST: the kit's word and the training lexicon's, e.g. dark, black, charcoal, navy)."""
    if dataset == "fashion-mnist":
        return {"label": [(c, *w) for c, w in zip(CLASS_NAMES, FASHION_PRODUCT_WORDS)],
                "shade": [(s, *w) for s, w in zip(SHADE_WORDS, FASHION_SHADE_LEXICON)],
                "fit": [(f, *w) for f, w in zip(FIT_WORDS, FASHION_FIT_LEXICON)]}
    if dataset == "catalog":
        return {"category": [(w,) for w in CATEGORIES], "colour": [(w,) for w in COLOURS],
                "pattern": [(w,) for w in PATTERNS]}
    raise ValueError(f"no prompt vocabulary for dataset {dataset!r}")


def vocabulary(dataset: str) -> dict[str, list[str]]:
    """The kit's name of every value of every attribute of ``dataset`` (value index order), e.g. the categories."""
    return {attr: [phrases[0] for phrases in values] for attr, values in _vocabulary(dataset).items()}


def _find(words: list[str], phrase: str) -> bool:
    """Does the word sequence contain ``phrase`` (one or more words), allowing a plural/singular 's'?"""
    target = phrase.split()
    variants = {tuple(target), tuple(target[:-1] + [target[-1] + "s"])}
    if target[-1].endswith("s"):
        variants.add(tuple(target[:-1] + [target[-1][:-1]]))
    n = len(target)
    return any(tuple(words[i:i + n]) in variants for i in range(len(words) - n + 1))


def requested_attributes(prompts: Sequence[str], dataset: str = "fashion-mnist") -> dict[str, torch.Tensor]:
    """What each prompt asks for: {attribute: value index (N,)}, -1 where the prompt names none (or two).

    e.g. "a dark slim ankle boot" -> label 9 ("ankle boot"), shade 0 ("dark"), fit 0 ("slim");
    "a charcoal skinny jumper" -> label 2, shade 0, fit 0 (words of ``pgan_lib.data.lexicon``).
    """
    vocab = _vocabulary(dataset)
    out = {name: torch.full((len(prompts),), -1, dtype=torch.long) for name in vocab}
    for i, prompt in enumerate(prompts):
        words = split_words(str(prompt))
        for name, values in vocab.items():
            hits = [j for j, phrases in enumerate(values) if any(_find(words, v) for v in phrases)]
            if len(hits) == 1:
                out[name][i] = hits[0]
    return out


def observed_attributes(images: torch.Tensor, dataset: str, requested: dict[str, torch.Tensor],
                        extractor: FeatureExtractor | None = None, extracted: Extracted | None = None
                        ) -> dict[str, torch.Tensor]:
    """What images (N, C, H, W) in [0, 1] show, per attribute: (N,) value indices.

    catalog:       the catalogue classifier's category, colour and pattern heads.
    fashion-mnist: the Fashion-MNIST classifier's class; shade and fit (when requested) from the
                   pixel rules that wrote the descriptions. Fit is judged against the class
                   (a wide sandal is narrower than a slim coat): the requested class where one was
                   asked for, else the class the classifier sees.
    ``extractor`` defaults to the shipped classifier of ``dataset``; pass ``extracted`` when the
    classifier already measured these images.
    """
    if extracted is None:
        extracted = (extractor or shipped_extractor(EXTRACTORS[dataset]))(images)
    seen = {h: extracted.predicted(h) for h in extracted.logits}
    if dataset == "fashion-mnist":
        if "shade" in requested:
            seen["shade"] = shade_of(images)
        if "fit" in requested:
            asked = requested.get("label")
            cls = torch.where(asked >= 0, asked, seen["label"]) if asked is not None else seen["label"]
            seen["fit"] = fit_of(images, cls)
    return seen


def attribute_hits(observed: dict[str, torch.Tensor], requested: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per attribute, (N,) bool: does each image show the requested value?"""
    return {name: observed[name].cpu() == want.cpu() for name, want in requested.items()}


def hit_shares(hits: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per attribute, the share of images that show it (``attribute_hits``), and ``all`` (every attribute at once)."""
    out = {name: v.float().mean().item() for name, v in hits.items()}
    out["all"] = torch.stack(list(hits.values())).all(0).float().mean().item()
    return out


def attribute_accuracy(observed: dict[str, torch.Tensor], requested: dict[str, torch.Tensor]) -> dict[str, float]:
    """Share of images showing each requested attribute value, and ``all`` (every attribute at once)."""
    return hit_shares(attribute_hits(observed, requested))
