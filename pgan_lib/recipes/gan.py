"""Recipes for the GAN family (notebooks 03-04).

``cgan-fashion`` (full mode) made the shipped ``checkpoints/fashion-cgan``: 16,000
steps, about an hour on one CPU core. Validation every 250 steps measures the FID
of 2,000 EMA samples on the kit classifier's features (fewer samples than a final
evaluation, so the numbers read higher); the ``best`` checkpoint is the one with
the lowest validation FID. ``cgan-fashion-short`` is the recipe's earlier,
4,000-step form, which stops early when that FID has not improved for
``patience`` validations; it and its control without spectral norm
(``cgan-fashion-no-sn``) are the pair notebook 04 compares.

Quick mode (the default) trains for a few dozen steps on a few thousand
images: enough to see the machinery work, not to get good products.
"""
from __future__ import annotations

from dataclasses import replace

from .. import pretrained
from ..config import ModeSettings
from ..data.base import ProductData
from ..eval.judges import SampleQuality
from ..models.gan import GAN, GANConfig
from ..train import TrainConfig
from . import Recipe, register, vocabulary

_QUICK = TrainConfig(max_steps=30, batch_size=64, lr=2e-4, log_every=10, val_every=15, checkpoint_every=15,
                     early_stop_metric="val_fid", early_stop_mode="min", patience=3)
_FULL = TrainConfig(max_steps=4000, batch_size=64, lr=2e-4, log_every=50, val_every=250, checkpoint_every=250,
                    early_stop_metric="val_fid", early_stop_mode="min", patience=4)
# The catalogue runs log a validation FID when the catalogue classifier is shipped, but do not stop on it.
_QUICK_CATALOG = replace(_QUICK, max_steps=20, val_every=20, checkpoint_every=20, early_stop_metric=None)
_FULL_CATALOG = replace(_FULL, max_steps=6000, val_every=500, checkpoint_every=500, early_stop_metric=None)

# The kit's GAN: hinge loss, spectral norm on D, Adam(beta1 = 0), EMA generator.
BASE = GANConfig(latent_dim=64, g_width=64, d_width=64, loss="hinge", d_norm="spectral",
                 beta1=0.0, beta2=0.999, ema_decay=0.999, cond_dim=64)


def _gan(channels: int, size: int, cond: str = "none", feature_model: str = "", diffaug: str = "",
         aux_weight: float = 0.0, quick_width: int | None = None, d_norm: str = BASE.d_norm):
    def build(train: ProductData, mode: ModeSettings) -> GAN:
        full = mode.name == "full"
        width = BASE.g_width if full or quick_width is None else quick_width
        feats = feature_model if feature_model != "catalog-classifier" or pretrained.available(feature_model) else ""
        model = GAN(replace(
            BASE, channels=channels, size=size, g_width=width, d_width=width, diffaug=diffaug, aux_weight=aux_weight,
            d_norm=d_norm,
            cond=cond, num_classes=train.num_classes, vocab=vocabulary(train) if cond == "description" else (),
            feature_model=feats, val_samples=2000 if full else 500,
        ))
        if feats:  # validation FID (and class accuracy) of EMA samples in the kit classifier's features
            pretrained.verify(feats)  # fail now rather than at the first validation
            model.judges.append(SampleQuality(feats, model.config.val_samples))
        return model
    return build


register(Recipe("dcgan-fashion", "unconditional DCGAN (hinge loss, spectral-norm D, EMA G) on Fashion-MNIST",
                "fashion-mnist", _gan(1, 28, "none", "fashion-classifier"), _QUICK, _FULL))
# cgan-fashion trains at lr 4e-4: on a quiet 2-core CPU it reaches validation FID 10 after 147 s of training
# instead of about 6 minutes at 2e-4, and ends at least as good (validation FID 4.71 at step 4,000 vs 5.69,
# class accuracy 0.921 vs 0.895; `python benchmarks/train_speed.py --mode full --skip-plain --curve --lr 4e-4`).
# Its length: at 4,000 steps the generator covered too little of the real variety (test recall 0.39 without
# truncation). Run four times as long, validation FID kept falling (4.4 at 4,000 steps, 3.1 at 12,000, 2.1 at
# 15,500, the best), so the recipe runs 16,000 steps and keeps the best validation checkpoint without stopping
# early (patience off: the FID flattens for thousands of steps before it falls again).
CGAN_FULL = replace(_FULL, lr=4e-4, max_steps=16_000, patience=10**6)
register(Recipe("cgan-fashion", "class-conditional GAN (conditional BatchNorm G, projection D) on Fashion-MNIST",
                "fashion-mnist", _gan(1, 28, "label", "fashion-classifier"), _QUICK, CGAN_FULL))
register(Recipe("cgan-fashion-short", "cgan-fashion's earlier form: 4,000 steps at lr 2e-4, early stopping "
                "(the spectral-norm half of notebook 04's comparison)", "fashion-mnist",
                _gan(1, 28, "label", "fashion-classifier"), _QUICK, _FULL))
register(Recipe("cgan-fashion-no-sn", "cgan-fashion-short with a plain discriminator (no spectral norm): the control "
                "run that shows what spectral normalisation buys", "fashion-mnist",
                _gan(1, 28, "label", "fashion-classifier", d_norm="none"), _QUICK, _FULL))
register(Recipe("dcgan-catalog", "unconditional DCGAN with DiffAugment on the 32x32 colour catalogue",
                "catalog", _gan(3, 32, "none", "catalog-classifier", "color,translation,cutout", quick_width=32),
                _QUICK_CATALOG, _FULL_CATALOG, size=32))
register(Recipe("cgan-catalog", "class-conditional GAN with DiffAugment on the 32x32 colour catalogue",
                "catalog", _gan(3, 32, "label", "catalog-classifier", "color,translation,cutout", quick_width=32),
                _QUICK_CATALOG, _FULL_CATALOG, size=32))
