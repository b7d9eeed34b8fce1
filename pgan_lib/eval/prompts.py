"""Measuring a text-to-image model: prompt sets over attribute combinations, attribute accuracy, R-precision.

``evaluate_prompts`` draws ``per`` images for every (category, colour, pattern)
combination of the catalogue (seen or held out) or every (class, shade, fit)
combination of Fashion-MNIST, phrased with training or held-out templates, and
reports how often the images show what was asked for, attribute by attribute,
and how often the model's own CLIP picks the right prompt (R-precision).
"""
from __future__ import annotations

import warnings
from typing import Any

import torch

from ..data.attributes import FIT_WORDS, SHADE_WORDS, describe_fashion
from ..data.attributes import HELD_OUT_TEMPLATES as FASHION_HELD_OUT_TEMPLATES
from ..data.attributes import TEMPLATES as FASHION_TEMPLATES
from ..data.catalog import (
    CATEGORIES,
    COLOURS,
    HELD_OUT_TEMPLATES,
    HELDOUT_COMBO_INDICES,
    PATTERNS,
    SEEN_COMBOS,
    TRAIN_TEMPLATES,
    describe,
)
from ..data.fashion_mnist import CLASS_NAMES
from ..models.base import draw_samples
from ..models.clip import CLIP, retrieval_recall
from ..text import TextWarning
from .attributes import attribute_accuracy, observed_attributes

ATTRIBUTES = {"catalog": ("category", "colour", "pattern"), "fashion-mnist": ("label", "shade", "fit")}


def prompt_set(dataset: str, combos: str = "seen", phrasing: str = "train", per: int = 10
               ) -> tuple[list[str], dict[str, torch.Tensor]]:
    """Prompts for every attribute combination, ``per`` of each, and the attribute indices they ask for.

    dataset:  "catalog" or "fashion-mnist".
    combos:   catalogue only: "seen" (combinations in the training data) or "heldout" (never seen).
              Fashion-MNIST asks for all 10 x 3 x 3 (class, shade, fit) combinations.
    phrasing: "train" cycles through the training templates, "paraphrase" through the held-out
              templates (never used in training), or a template index.
    Returns (prompts (M,), {attribute: (M,) value indices}).
    """
    if dataset == "catalog":
        if combos not in ("seen", "heldout"):
            raise ValueError(f"combos must be 'seen' or 'heldout', got {combos!r}")
        table = SEEN_COMBOS if combos == "seen" else HELDOUT_COMBO_INDICES
        templates = {"train": TRAIN_TEMPLATES, "paraphrase": HELD_OUT_TEMPLATES}.get(phrasing, (phrasing,))
        rows = [(c, k, p, templates[(i * per + j) % len(templates)]) for i, (c, k, p) in enumerate(table) for j in range(per)]
        prompts = [describe(CATEGORIES[c], COLOURS[k], PATTERNS[p], template=int(t)) for c, k, p, t in rows]
    elif dataset == "fashion-mnist":
        held = phrasing == "paraphrase"
        n_t = len(FASHION_HELD_OUT_TEMPLATES) if held else len(FASHION_TEMPLATES)
        table = tuple((c, s, f) for c in range(len(CLASS_NAMES)) for s in range(3) for f in range(3))
        rows = [(c, s, f, phrasing if isinstance(phrasing, int) else (i * per + j) % n_t)
                for i, (c, s, f) in enumerate(table) for j in range(per)]
        prompts = [describe_fashion(CLASS_NAMES[c], SHADE_WORDS[s], FIT_WORDS[f], int(t), held_out=held)
                   for c, s, f, t in rows]
    else:
        raise ValueError(f"no prompt set for dataset {dataset!r}; use 'catalog' or 'fashion-mnist'")
    names = ATTRIBUTES[dataset]
    requested = {name: torch.tensor([r[i] for r in rows], dtype=torch.long) for i, name in enumerate(names)}
    return prompts, requested


def combo_keys(requested: dict[str, torch.Tensor], sizes: dict[str, int] | None = None) -> torch.Tensor:
    """One integer per item, equal for the same requested attribute values (N,)."""
    key = torch.zeros_like(next(iter(requested.values())))
    for name in sorted(requested):
        key = key * (sizes or {}).get(name, 16) + requested[name]
    return key


@torch.no_grad()
def r_precision_of(images: torch.Tensor, prompts: list[str], keys: torch.Tensor, clip: CLIP,
                   n_candidates: int = 100, seed: int = 0) -> float:
    """R-precision: share of images whose own prompt is the CLIP's first choice among ``n_candidates``
    prompts (the others ask for other attribute combinations)."""
    u = torch.cat([clip.encode_images(images[i:i + 500]).cpu() for i in range(0, len(images), 500)])
    with warnings.catch_warnings():                     # prompts read as the generator read them
        warnings.simplefilter("ignore", TextWarning)
        v = torch.cat([clip.encode_texts(prompts[i:i + 500]).cpu() for i in range(0, len(prompts), 500)])
    return retrieval_recall(u, v, keys, n_candidates, ks=(1,), seed=seed)["R@1"]


def evaluate_prompts(model, dataset: str, combos: str = "seen", phrasing: str = "train", per: int = 10,
                     seed: int = 0, classifier=None, clip: CLIP | None = None) -> dict[str, Any]:
    """Generate ``per`` images for every combination of a prompt set and measure them.

    Returns {"n", "accuracy": {attribute: share, "all": share}, "r_precision", "images", "prompts",
    "requested", "observed"}. R-precision uses ``clip`` (default: the model's own frozen CLIP).
    """
    prompts, requested = prompt_set(dataset, combos, phrasing, per)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TextWarning)     # held-out phrasings contain words never seen
        images = draw_samples(model, len(prompts), prompts=prompts, seed=seed)
    observed = observed_attributes(images, dataset, requested, extractor=classifier)
    out: dict[str, Any] = {"n": len(prompts), "accuracy": attribute_accuracy(observed, requested)}
    clip = clip if clip is not None else getattr(model, "clip", None)
    if clip is not None:
        out["r_precision"] = r_precision_of(images, prompts, combo_keys(requested), clip, seed=seed)
    out.update(images=images, prompts=prompts, requested=requested, observed=observed)
    return out
