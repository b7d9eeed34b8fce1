"""Named training recipes: data + model + training settings for quick and full mode.

``pgan train vae-fashion --mode full`` runs exactly what ``run_recipe("vae-fashion", "full")``
runs; the shipped checkpoints under ``checkpoints/`` were made this way. One module per
model family registers its recipes (``FAMILIES``); a recipe's ``build(train, mode)`` gets
the training split and the run mode, and returns the model, with any validation judges
(``pgan_lib.eval.judges``) attached.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from .. import pretrained
from ..config import ModeSettings, get_mode
from ..data import load_dataset
from ..data.base import ProductData
from ..models.base import KitModel
from ..text import TextTokenizer
from ..train import TrainConfig, Trainer, TrainResult, data_fingerprint

#: The modules that register recipes, one per model family.
FAMILIES = ("vae", "classifier", "gan", "t2i", "robust", "repair", "progan")


@dataclass(frozen=True)
class Recipe:
    """A named way to train a model: what data, what model, how long in each mode."""

    name: str
    summary: str
    source: str
    build: Callable[[ProductData, ModeSettings], KitModel]
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
    all_recipes()
    if name not in RECIPES:
        raise KeyError(f"Unknown recipe {name!r}. Known recipes: {', '.join(sorted(RECIPES))}.")
    return RECIPES[name]


def all_recipes() -> dict[str, Recipe]:
    """Every registered recipe, by name (importing the family modules registers them)."""
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
    return RECIPES


def vocabulary(data: ProductData) -> tuple[str, ...]:
    """The words of a split's descriptions, most common first (the description encoder's vocabulary)."""
    return TextTokenizer.build(data.descriptions).vocab


def run_recipe(name: str, mode: str | None = None, out: str | Path | None = None, resume: bool = False,
               device: str | torch.device | None = None, overrides: dict | None = None,
               force: bool = False) -> tuple[KitModel, TrainResult]:
    """Load the recipe's data, build its model and train it; returns the trained model and the result.

    A run folder that already holds a run is continued with ``resume``, replaced with
    ``force``, and otherwise refused (see ``Trainer.fit``).
    """
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
    model = recipe.build(train, settings)
    out = Path(out) if out is not None else Path("runs") / f"{name}-{settings.name}"
    trainer = Trainer(cfg, out, device=device, data_fingerprint=data_fingerprint(train), recipe=name)
    result = trainer.fit(model, train, val, resume=resume, force=force)
    print(f"  finished at step {result.steps} in {result.seconds:.1f} s; checkpoints in {out}")
    return model, result


def load_or_train(name: str, recipe: str | None = None, mode: str | None = None,
                  device: str | torch.device | None = None, overrides: dict | None = None) -> KitModel:
    """The shipped model ``name`` if it is present and verifies, else train ``recipe`` now (quick mode on a laptop).

    ``overrides`` change the fallback run's TrainConfig, e.g. ``{"progress": False}``. A
    fallback run left in its folder by an earlier call is continued (or, when finished, reused).
    """
    if pretrained.available(name):
        return pretrained.load(name, device=device or "cpu")
    recipe = recipe or pretrained.SHIPPED[name].recipe
    if not recipe:
        raise KeyError(f"{name}: no verified shipped checkpoint, and no recipe makes it; "
                       f"re-create it with `{pretrained.SHIPPED[name].remake_command()}`")
    print(f"{name}: no verified shipped checkpoint; training recipe {recipe} instead.")
    model, _ = run_recipe(recipe, mode=mode, device=device, overrides=overrides, resume=True)
    return model
