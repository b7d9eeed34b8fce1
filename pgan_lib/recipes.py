"""Named training recipes: data + model + training settings for quick and full mode.

``pgan train vae-fashion --mode full`` runs exactly what ``run_recipe("vae-fashion", "full")``
runs; the shipped checkpoints under ``checkpoints/`` were made this way.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from .conditioning import Tokenizer
from .config import get_mode
from .data import load_dataset
from .data.base import ProductData
from .models.base import KitModel
from .train import TrainConfig, Trainer, TrainResult, data_fingerprint


@dataclass(frozen=True)
class Recipe:
    """A named way to train a model: what data, what model, how long in each mode."""

    name: str
    summary: str
    source: str
    build: Callable[[ProductData], KitModel]
    quick: TrainConfig
    full: TrainConfig
    size: int | None = None

    def train_config(self, mode: str | None = None) -> TrainConfig:
        return self.quick if get_mode(mode).name == "quick" else self.full


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    _load_all()
    if name not in RECIPES:
        raise KeyError(f"Unknown recipe {name!r}. Known recipes: {', '.join(sorted(RECIPES))}.")
    return RECIPES[name]


def _load_all() -> None:
    """Import the modules that register recipes (each model family registers its own)."""
    import importlib

    for mod in ("pgan_lib.recipes_vae", "pgan_lib.recipes_classifier", "pgan_lib.recipes_gan", "pgan_lib.recipes_t2i",
                "pgan_lib.recipes_robust"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise


def vocabulary(data: ProductData) -> tuple[str, ...]:
    """The words of a split's descriptions, most common first (the description encoder's vocabulary)."""
    return Tokenizer.build(data.descriptions).vocab


def run_recipe(name: str, mode: str | None = None, out: str | Path | None = None, resume: bool = False,
               device: str | None = None, overrides: dict | None = None) -> tuple[KitModel, TrainResult]:
    """Load the recipe's data, build its model and train it; returns the trained model and the result."""
    recipe = get_recipe(name)
    settings = get_mode(mode)
    cfg = recipe.train_config(settings.name)
    if overrides:
        cfg = replace(cfg, **overrides)
    train = load_dataset(recipe.source, "train", mode=settings.name, size=recipe.size)
    val = load_dataset(recipe.source, "val", mode=settings.name, size=recipe.size)
    print(f"recipe {name} ({settings.name} mode): {recipe.summary}")
    print(f"  data: {len(train)} train / {len(val)} val images from {recipe.source}")
    torch.manual_seed(cfg.seed)  # the same initial weights for the same seed
    model = recipe.build(train)
    out = Path(out) if out is not None else Path("runs") / f"{name}-{settings.name}"
    trainer = Trainer(cfg, out, device=device, data_fingerprint=data_fingerprint(train), recipe=name)
    result = trainer.fit(model, train, val, resume=resume)
    print(f"  finished at step {result.steps} in {result.seconds:.1f} s; checkpoints in {out}")
    return model, result
