"""Recipes for the kit's product classifiers (the feature extractors of notebook 09).

``classifier-fashion`` made ``checkpoints/fashion-classifier``;
``classifier-catalog`` made ``checkpoints/catalog-classifier``;
``classifier-catalog64`` made ``checkpoints/catalog64-classifier`` (the yardstick of the 64x64 generators).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config import ModeSettings
from ..data import load_dataset
from ..data.base import ProductData
from ..models.base import load_model
from ..models.classifier import Classifier, ClassifierConfig
from ..pretrained import export
from ..train import TrainConfig
from . import Recipe, get_recipe, register

FASHION_WIDTHS = (16, 32, 64)
CATALOG_HEADS = ("category", "colour", "pattern")

_QUICK = TrainConfig(max_steps=100, batch_size=128, lr=3e-3, log_every=20, val_every=50, checkpoint_every=100,
                     early_stop_metric="val_acc", early_stop_mode="max", patience=3, lr_schedule="cosine")
_FULL_FASHION = TrainConfig(max_steps=5000, batch_size=128, lr=3e-3, log_every=50, val_every=250, checkpoint_every=250,
                            early_stop_metric="val_acc", early_stop_mode="max", patience=100, lr_schedule="cosine")
# The rendered catalogue is easy: every head reaches 100% validation accuracy within a few hundred steps.
_FULL_CATALOG = TrainConfig(max_steps=1500, batch_size=128, lr=3e-3, log_every=50, val_every=250, checkpoint_every=250,
                            early_stop_metric="val_acc", early_stop_mode="max", patience=2, lr_schedule="cosine")
# At 64x64 the first block is narrower and one more conv block (and pooling step) keeps the flattened features at
# 64 * 8 * 8, so a step costs about what a 32x32 one does at the same batch; the catalogue is easy at any resolution,
# so a short run suffices.
_FULL_CATALOG64 = TrainConfig(max_steps=400, batch_size=32, lr=3e-3, log_every=25, val_every=100, checkpoint_every=100,
                              early_stop_metric="val_acc", early_stop_mode="max", patience=2, lr_schedule="cosine")
CATALOG64_WIDTHS = (8, 16, 32, 64)


def _fashion(train: ProductData, mode: ModeSettings) -> Classifier:
    return Classifier(ClassifierConfig(channels=1, size=28, widths=FASHION_WIDTHS, feature_dim=128,
                                       heads=("label",), head_sizes=(train.num_classes,),
                                       value_names=tuple(train.class_names)))


def _catalog(train: ProductData, mode: ModeSettings) -> Classifier:
    sizes = tuple(len(train.attribute_values[h]) for h in CATALOG_HEADS)
    names = tuple(v for h in CATALOG_HEADS for v in train.attribute_values[h])
    # No flips: the catalogue always draws a product facing the same way (mug handles, sneaker toes).
    widths = CATALOG64_WIDTHS if train.size == 64 else (16, 32, 64)
    return Classifier(ClassifierConfig(channels=3, size=train.size, widths=widths, feature_dim=128,
                                       heads=CATALOG_HEADS, head_sizes=sizes, value_names=names, flip=False))


register(Recipe("classifier-fashion", "small CNN classifier on Fashion-MNIST (the kit's feature extractor for FID/KID)",
                "fashion-mnist", _fashion, _QUICK, _FULL_FASHION))
register(Recipe("classifier-catalog", "small CNN with category/colour/pattern heads on the colour catalogue",
                "catalog", _catalog, _QUICK, _FULL_CATALOG, size=32))
register(Recipe("classifier-catalog64", "small CNN with category/colour/pattern heads on the 64x64 colour catalogue "
                "(the yardstick of the 64x64 generators)", "catalog", _catalog, _QUICK, _FULL_CATALOG64, size=64))


def export_classifier(run_dir: str | Path, name: str, console_log: str | Path | None = None,
                      note: str | None = None) -> tuple[Path, str]:
    """Ship a finished run's ``best`` checkpoint as ``checkpoints/<name>``, with its test accuracy.

    ``pretrained.export`` writes the weights-only checkpoint and its ``.log``;
    then the classifier is measured on the whole test split, and the result is
    added to the JSON sidecar (``test_accuracy``, ``test_metrics``) and to the
    log, with the validations the run made after its best step and ``note``.
    Returns the stem and the weights' sha256 (publish with ``pretrained.add_to_manifest``).
    """
    stem, digest = export(Path(run_dir) / "best", name, console_log=console_log)
    model = load_model(stem)
    assert isinstance(model, Classifier), f"{stem} is a {model.arch}, not a classifier"
    sidecar = stem.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    recipe = get_recipe(meta["recipe"])
    test = load_dataset(recipe.source, "test", mode="full", limit=False, size=recipe.size)
    metrics = model.evaluate(test)
    meta.update(test_split=f"{recipe.source}:test ({len(test)} images)", test_accuracy=metrics["acc"], test_metrics=metrics)
    sidecar.write_text(json.dumps(meta, indent=1))
    last = Path(run_dir) / "last.json"
    later = [h for h in json.loads(last.read_text()).get("history", []) if h["step"] > meta["step"]] if last.exists() else []
    with open(stem.with_suffix(".log"), "a") as log:
        if later:
            log.write("# validations after the best step (from the run's last checkpoint):\n")
            for h in later:
                log.write("  " + "  ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in h.items()) + "\n")
        if note:
            log.write(f"# note: {note}\n")
        log.write(f"# test ({len(test)} images of {recipe.source}): "
                  + "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()) + "\n")
        log.write(f"# sha256 of {name}.safetensors: {digest}\n")
    return stem, digest
