"""Recipes for image repair (notebook 07): inpainting, description-guided repair, super-resolution.

    repair-fashion-l1    U-Net, L1 only, Fashion-MNIST holes                 (the control of notebook 07)
    repair-fashion       pix2pix (L1 + PatchGAN), Fashion-MNIST holes         -> checkpoints/fashion-repair
    repair-catalog       pix2pix + FiLM by catalog-clip's frozen text encoder -> checkpoints/catalog-repair
    repair-catalog-unguided   the same without the description               (the control)
    sr-fashion           pix2pix super-resolution 14x14 -> 28x28              -> checkpoints/fashion-sr

Training masks mix the centre box (the benchmark's hole), random boxes and
brush strokes (halves for the catalogue), so one model repairs any hole a user
draws. The guided catalogue model trains on recoloured pairs
(``pgan_lib.data.repair_pairs``: half of them with a hole whose colour or
pattern contradicts the visible part), its control on pairs that agree.
Sized for one CPU core: a few minutes each in full mode on a quiet core (600 steps of 64 images).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from .config import get_mode
from .data import load_dataset
from .data.base import ProductData
from .models.pix2pix import Pix2Pix, Pix2PixConfig
from .train import TrainConfig, Trainer, TrainResult, data_fingerprint

QUICK = TrainConfig(max_steps=30, batch_size=32, lr=3e-4, log_every=10, val_every=30, checkpoint_every=30)
FULL = TrainConfig(max_steps=600, batch_size=64, lr=4e-4, log_every=25, val_every=200, checkpoint_every=200,
                   lr_schedule="cosine")

FASHION_MASKS = "centre:2,boxes:1,strokes:1"
CATALOG_MASKS = "half:3,boxes:1,strokes:1"


@dataclass(frozen=True)
class RepairRecipe:
    name: str
    summary: str
    source: str                       # "fashion-mnist", "catalog" or "catalog-pairs"
    build: Callable[[ProductData, bool], Pix2Pix]     # (train data, full mode) -> model
    contradict: float = 0.0           # catalog-pairs: share of contradicting pairs
    full_steps: int = FULL.max_steps

    @property
    def quick(self) -> TrainConfig:
        return QUICK

    @property
    def full(self) -> TrainConfig:
        return replace(FULL, max_steps=self.full_steps)


def _fashion(adv: float, task: str = "inpaint"):
    def build(train: ProductData, full: bool) -> Pix2Pix:
        return Pix2Pix(Pix2PixConfig(channels=1, size=28, task=task, width=16, d_width=16, adv_weight=adv,
                                     masks=FASHION_MASKS if task == "inpaint" else "full",
                                     eval_masks="centre" if task == "inpaint" else "full",
                                     val_images=512 if full else 128))
    return build


def _catalog(guided: bool):
    def build(train: ProductData, full: bool) -> Pix2Pix:
        kw = dict(channels=3, size=32, width=16, d_width=16, adv_weight=1.0, masks=CATALOG_MASKS,
                  eval_masks="half-right", val_images=512 if full else 128)
        if not guided:
            return Pix2Pix(Pix2PixConfig(**kw))
        from . import pretrained
        clip = pretrained.load("catalog-clip")
        return Pix2Pix.from_text_encoder(clip.text_encoder, **kw)
    return build


RECIPES = {r.name: r for r in (
    RepairRecipe("repair-fashion-l1", "U-Net repair trained with L1 only (the blurry control), Fashion-MNIST",
                 "fashion-mnist", _fashion(0.0)),
    # adv_weight 4: pix2pix's L1 is a mean over the whole image; the kit's is a mean over the hole, a quarter
    # of the image here, so 100 x L1 + 4 x adversarial keeps pix2pix's balance of the two terms.
    RepairRecipe("repair-fashion", "pix2pix repair (U-Net + PatchGAN, L1 x 100 + hinge x 4), Fashion-MNIST",
                 "fashion-mnist", _fashion(4.0)),
    RepairRecipe("repair-catalog", "description-guided pix2pix repair (FiLM by catalog-clip's frozen text encoder), "
                 "catalogue, trained with half of the holes recoloured", "catalog-pairs", _catalog(True), contradict=0.5),
    RepairRecipe("repair-catalog-unguided", "pix2pix repair without the description (the control), catalogue",
                 "catalog-pairs", _catalog(False), contradict=0.0),
    RepairRecipe("sr-fashion", "pix2pix super-resolution 14x14 -> 28x28 (input: bicubic up-sampled), Fashion-MNIST",
                 "fashion-mnist", _fashion(1.0, "sr"), full_steps=400),
)}


def load_train_val(recipe: RepairRecipe, mode: str) -> tuple[ProductData, ProductData]:
    """The recipe's training and validation splits in ``mode``."""
    if recipe.source == "catalog-pairs":
        from .data.repair_pairs import recoloured_pairs

        n = 20000 if mode == "full" else 2000
        train = recoloured_pairs(n, size=32, seed=0, contradict=recipe.contradict)
        val = load_dataset("catalog", "val", mode="quick", size=32)
        return train, val
    return (load_dataset(recipe.source, "train", mode=mode), load_dataset(recipe.source, "val", mode=mode))


def train_repair(name: str, mode: str | None = None, out: str | Path | None = None, resume: bool = False,
                 overrides: dict | None = None) -> tuple[Pix2Pix, TrainResult]:
    """Train repair recipe ``name``; checkpoints go to ``out`` (default runs/<name>-<mode>)."""
    recipe = RECIPES[name]
    m = get_mode(mode).name
    cfg = recipe.full if m == "full" else recipe.quick
    if overrides:
        cfg = replace(cfg, **overrides)
    train, val = load_train_val(recipe, m)
    print(f"recipe {name} ({m} mode): {recipe.summary}")
    print(f"  data: {len(train)} train / {len(val)} val images from {recipe.source}")
    torch.manual_seed(cfg.seed)
    model = recipe.build(train, m == "full")
    out = Path(out) if out is not None else Path("runs") / f"{name}-{m}"
    trainer = Trainer(cfg, out, device="cpu", data_fingerprint=data_fingerprint(train), recipe=name)
    result = trainer.fit(model, train, val, resume=resume)
    print(f"  finished at step {result.steps} in {result.seconds:.1f} s; checkpoints in {out}")
    return model, result
