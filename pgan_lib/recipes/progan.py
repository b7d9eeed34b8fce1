"""Recipes for 64x64 product images (notebook 10): progressive growing against a fixed-resolution GAN.

``progan-catalog64`` grows a category-conditioned GAN 4 -> 8 -> 16 -> 32 -> 64 on the
64x64 colour catalogue (``models/progan.py``); ``progan-catalog64-no-mbstd`` is the same
run without the minibatch standard deviation feature (the variation ablation), and
``progan-catalog64-uncond[-no-mbstd]`` the same pair with no category given;
``cgan-catalog64`` is the control: the kit's DCGAN family (``models/gan.py``) built
directly at 64x64, with the same loss (WGAN-GP + drift), the same batch size and the
same yardstick (``catalog64-classifier``), so a run of it can be stopped at the same
number of images shown or at the same wall-clock time.

Sizes. Every phase of the growing schedule (the 4x4 stabilisation, and a fade and a
stabilisation per new resolution: 9 phases) shows ``PHASE_IMAGES[mode]`` images. The
full schedule was sized from step times measured on the 2-core CPU with one thread,
batch 32, at a load average of about 2: 0.04 s at 4x4, 0.1 s at 8x8, 0.24 s at 16x16,
0.58 s at 32x32 and 0.9 s at 64x64 per step, i.e. 3.7 s per 32 images of every phase,
so 60,000 images per phase take about 1.9 hours there (plus eight validations of 2,000
samples); the same steps measured at a load average of 4 took 8.4 s, i.e. over four
hours. Measured: the full recipe and its no-mbstd ablation, run side by side on the two
cores with one thread each, took 5,609 s and 5,566 s (about 94 minutes, validations
included). Minutes on a GPU. The control's full run shows the same 540,000 images.
"""
from __future__ import annotations

from dataclasses import replace

from .. import pretrained
from ..config import ModeSettings
from ..data.base import ProductData
from ..eval.judges import SampleQuality
from ..models.gan import GAN, GANConfig
from ..models.progan import ProGAN, ProGANConfig
from ..train import TrainConfig
from . import Recipe, register

FEATURE_MODEL = "catalog64-classifier"
#: images shown in each of the 9 phases of the growing schedule
PHASE_IMAGES = {"quick": 64, "full": 60000}
BATCH = 32
QUICK_BATCH = 16

#: The paper's stabilisers and loss at CPU-sized widths: 8 channels at 64x64, doubling per halving, at most 64.
BASE = ProGANConfig(channels=3, latent_dim=128, width=8, max_width=64, final_res=64, equalized_lr=True,
                    pixel_norm=True, minibatch_stddev=True, mbstd_group=4, loss="wgan-gp", gp_weight=10.0,
                    drift=0.001, beta1=0.0, beta2=0.99, ema_decay=0.999, cond="label", cond_dim=32)
#: The control: the kit's GAN at 64x64 (4x4 -> 64x64 by four transposed convs), same loss and Adam betas.
CONTROL = GANConfig(channels=3, size=64, latent_dim=128, g_width=16, d_width=16, loss="wgan-gp", d_norm="none",
                    gp_weight=10.0, drift=0.001, beta1=0.0, beta2=0.99, ema_decay=0.999, cond="label", cond_dim=32)
PROGAN_LR, CONTROL_LR = 1e-3, 2e-4     # the paper's rate (equalised LR needs it) / the kit's DCGAN rate


def progan_config(num_classes: int, phase_images: int, batch: int = BATCH, minibatch_stddev: bool = True,
                  cond: str = "label") -> ProGANConfig:
    """The recipe's ProGAN config for a schedule of ``phase_images`` images per phase at batch ``batch``."""
    return replace(BASE, num_classes=num_classes, fade_images=phase_images, stable_images=phase_images,
                   batch_sizes=(batch,) * 5, minibatch_stddev=minibatch_stddev, cond=cond)


def _judge(model, mode: ModeSettings) -> None:
    """Validation FID / class accuracy in the 64x64 classifier's features, when that classifier is shipped."""
    if pretrained.available(FEATURE_MODEL):
        model.judges.append(SampleQuality(FEATURE_MODEL, 2000 if mode.name == "full" else 200))


def _progan(minibatch_stddev: bool, cond: str = "label"):
    def build(train: ProductData, mode: ModeSettings) -> ProGAN:
        batch = BATCH if mode.name == "full" else QUICK_BATCH
        model = ProGAN(progan_config(train.num_classes, PHASE_IMAGES[mode.name], batch, minibatch_stddev, cond))
        _judge(model, mode)
        return model
    return build


def _control(train: ProductData, mode: ModeSettings) -> GAN:
    model = GAN(replace(CONTROL, num_classes=train.num_classes))
    _judge(model, mode)
    return model


def _train_config(mode: str, lr: float, steps: int, batch: int) -> TrainConfig:
    every = max(1, steps // 8)
    return TrainConfig(max_steps=steps, batch_size=batch, lr=lr, log_every=max(1, min(50, steps // 4)),
                       val_every=every, checkpoint_every=every)


def _progan_steps(mode: str) -> int:
    batch = BATCH if mode == "full" else QUICK_BATCH
    return progan_config(6, PHASE_IMAGES[mode], batch).schedule.steps_total()


register(Recipe("progan-catalog64", "progressive growing 4->64 (equalised LR, pixel norm, minibatch stddev, WGAN-GP + "
                "drift), per category, on the 64x64 colour catalogue", "catalog", _progan(True),
                _train_config("quick", PROGAN_LR, _progan_steps("quick"), QUICK_BATCH),
                _train_config("full", PROGAN_LR, _progan_steps("full"), BATCH), size=64))
# The variation ablations: minibatch stddev off, with the category given and with none (the paper
# measured the feature on unconditional image sets, where a generator may drop whole kinds of product).
for _cond, _mbstd in (("label", False), ("none", True), ("none", False)):
    _name = "progan-catalog64" + ("-uncond" if _cond == "none" else "")
    register(Recipe(_name + ("" if _mbstd else "-no-mbstd"),
                    f"{_name} without the minibatch standard deviation feature (the variation ablation)" if not _mbstd
                    else "progan-catalog64 with no category given (unconditional, the paper's setting)",
                    "catalog", _progan(_mbstd, _cond),
                    _train_config("quick", PROGAN_LR, _progan_steps("quick"), QUICK_BATCH),
                    _train_config("full", PROGAN_LR, _progan_steps("full"), BATCH), size=64))
register(Recipe("cgan-catalog64", "fixed-resolution control: the kit's class-conditional DCGAN built at 64x64, "
                "WGAN-GP + drift, as many images as progan-catalog64", "catalog", _control,
                _train_config("quick", CONTROL_LR, 9 * PHASE_IMAGES["quick"] // QUICK_BATCH, QUICK_BATCH),
                _train_config("full", CONTROL_LR, 9 * PHASE_IMAGES["full"] // BATCH, BATCH), size=64))
