"""Recipes for the VAE family (notebooks 01-02)."""
from __future__ import annotations

from ..config import ModeSettings
from ..data.base import ProductData
from ..models.vae import VAE, VAEConfig
from ..train import TrainConfig
from . import Recipe, register, vocabulary

VAE_QUICK = TrainConfig(max_steps=300, batch_size=128, lr=1e-3, log_every=20, val_every=100, checkpoint_every=100,
                     early_stop_metric="val_neg_elbo", patience=3)
VAE_FULL = TrainConfig(max_steps=4000, batch_size=128, lr=1e-3, log_every=100, val_every=500, checkpoint_every=500,
                    early_stop_metric="val_neg_elbo", patience=4, lr_schedule="plateau")


def _vae(channels: int, size: int, cond: str = "none"):
    def build(train: ProductData, mode: ModeSettings) -> VAE:
        return VAE(VAEConfig(channels=channels, size=size, latent_dim=16, cond=cond,
                             num_classes=train.num_classes,
                             vocab=vocabulary(train) if cond == "description" else ()))
    return build


register(Recipe("vae-fashion", "convolutional VAE (Bernoulli likelihood, 16-d latent) on Fashion-MNIST",
                "fashion-mnist", _vae(1, 28), VAE_QUICK, VAE_FULL))
register(Recipe("cvae-fashion", "VAE conditioned on the product description, Fashion-MNIST",
                "fashion-mnist", _vae(1, 28, "description"), VAE_QUICK, VAE_FULL))
register(Recipe("vae-catalog", "convolutional VAE on the 32x32 colour product catalogue",
                "catalog", _vae(3, 32), VAE_QUICK, VAE_FULL, size=32))
register(Recipe("cvae-catalog", "VAE conditioned on the product description, colour catalogue",
                "catalog", _vae(3, 32, "description"), VAE_QUICK, VAE_FULL, size=32))
