"""Recipes for text-to-image (notebook 05): contrastive pre-training, then the text-conditioned GAN.

    clip-catalog / clip-fashion   mini CLIP on (image, description) pairs   -> checkpoints/catalog-clip, fashion-clip
    t2i-catalog  / t2i-fashion    text-conditioned GAN on the frozen CLIP   -> checkpoints/catalog-t2i, fashion-t2i
    cvae-fashion-clip             conditional VAE on the same frozen text encoder -> checkpoints/cvae-fashion-clip

A t2i recipe needs its pre-trained CLIP: the shipped one when it is present,
verified and knows every word of the training descriptions, else the ``best``
checkpoint of ``runs/clip-<data>-<mode>``, else it trains the CLIP recipe first
(in the same mode).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .. import pretrained
from ..config import ModeSettings
from ..data.base import ProductData
from ..models.base import KitModel, load_model
from ..models.clip import CLIP, CLIPConfig
from ..models.t2i import TextToImageGAN
from ..models.vae import VAE
from ..text import TextTokenizer, normalise
from ..train import TrainConfig
from . import Recipe, register, run_recipe
from .vae import VAE_FULL, VAE_QUICK

#: data source -> (shipped CLIP name, CLIP recipe)
CLIPS = {"catalog": ("catalog-clip", "clip-catalog"), "fashion-mnist": ("fashion-clip", "clip-fashion")}

_CLIP_QUICK = TrainConfig(max_steps=20, batch_size=128, lr=2e-3, log_every=10, val_every=20, checkpoint_every=20,
                          early_stop_metric="val_t2i_R@1", early_stop_mode="max", lr_schedule="cosine")
_CLIP_FULL = TrainConfig(max_steps=600, batch_size=256, lr=2e-3, log_every=25, val_every=100, checkpoint_every=100,
                         early_stop_metric="val_t2i_R@1", early_stop_mode="max", patience=100, lr_schedule="cosine")


def _clip(train: ProductData, mode: ModeSettings) -> CLIP:
    vocab = TextTokenizer.build(train.descriptions).vocab
    return CLIP(CLIPConfig(channels=train.channels, size=train.size, image_width=16, embed_dim=64, vocab=vocab,
                           max_len=16, d_model=64, n_layers=2, n_heads=4, subword_buckets=2048))


register(Recipe("clip-catalog", "mini CLIP (CNN + 2-layer Transformer, symmetric InfoNCE) on catalogue descriptions",
                "catalog", _clip, _CLIP_QUICK, _CLIP_FULL, size=32))
register(Recipe("clip-fashion", "mini CLIP (CNN + 2-layer Transformer, symmetric InfoNCE) on Fashion-MNIST descriptions",
                "fashion-mnist", _clip, _CLIP_QUICK, _CLIP_FULL))


def _reads(clip: KitModel, train: ProductData | None) -> bool:
    """Can ``clip`` read what the recipe's own CLIP reads? It must know every word of the training
    descriptions (the first 5000) and have learned sub-word vectors (``subword_buckets``). A CLIP
    trained before the shopper lexicon reads new words as <unk>; one trained before sub-words reads
    typos and derived words ("greenish") only by raw n-gram overlap."""
    if train is None or not isinstance(clip, CLIP):
        return True
    tok = clip.tokenizer
    return clip.config.subword_buckets > 0 and all(
        w in tok.index or w in tok.synonym_of for d in train.descriptions[:5000] for w in normalise(d))


def pretrained_clip(source: str, mode: ModeSettings, train: ProductData | None = None) -> CLIP:
    """The pre-trained CLIP for ``source``: shipped, else a finished run, else trained now.

    With ``train``, a CLIP that does not know the training descriptions' words is passed over."""
    name, recipe = CLIPS[source]
    run = Path("runs") / f"{recipe}-{mode.name}" / "best.json"
    shipped = pretrained.load(name) if pretrained.available(name) else None
    if shipped is not None and not _reads(shipped, train):
        print(f"{name}: the shipped CLIP predates the training descriptions' words or sub-words; "
              "using a run of its recipe instead.")
        shipped = None
    if shipped is not None:
        model = shipped
    elif run.exists() and _reads(load_model(run.with_suffix("")), train):
        print(f"{name}: not shipped (or older); using {run.with_suffix('')}")
        model = load_model(run)
    else:
        print(f"{name}: not shipped and no finished run that fits; training recipe {recipe} first.")
        model, _ = run_recipe(recipe, mode=mode.name, resume=True)   # a run killed earlier is continued
    assert isinstance(model, CLIP), f"{name} is a {model.arch}, not a CLIP"
    return model


# Validation = R-precision of T2IConfig.val_samples EMA samples for the validation descriptions,
# measured by the frozen CLIP; the "best" checkpoint keeps the highest (no early stop).
_T2I_QUICK = TrainConfig(max_steps=12, batch_size=32, lr=2e-4, log_every=4, val_every=12, checkpoint_every=12,
                         early_stop_metric="val_rprec", early_stop_mode="max", patience=100)
_T2I_FULL = TrainConfig(max_steps=3000, batch_size=64, lr=2e-4, log_every=50, val_every=250, checkpoint_every=250,
                        early_stop_metric="val_rprec", early_stop_mode="max", patience=100)
# The catalogue's patterns (stripes, dots) take longest: its accuracy was still rising at 3000 steps. On the CLIP
# with sub-words, the run at 4,500 steps drew the requested pattern for training words in 0.887 of the images
# (`benchmarks/shopper_words.py`), below the model before it (0.965) while validation R-precision still rose
# (0.995); continued to 6,000 steps: 0.942, validation R-precision 0.997.
_T2I_FULL_CATALOG = replace(_T2I_FULL, max_steps=6000)


def _t2i(source: str, g_width: int):
    def build(train: ProductData, mode: ModeSettings) -> TextToImageGAN:
        full = mode.name == "full"
        clip = pretrained_clip(source, mode, train)
        return TextToImageGAN.from_clip(clip, latent_dim=64, cond_dim=64, g_width=g_width, d_width=64,
                                        kl_weight=0.02, diversity_weight=0.05, match_weight=0.0, diffaug="",
                                        beta1=0.0, beta2=0.999, lr_d_scale=1.0, ema_decay=0.999,
                                        val_samples=1000 if full else 100)
    return build


def _cvae_clip(train: ProductData, mode: ModeSettings) -> VAE:
    """The conditional VAE of notebook 02 with the CLIP's frozen Transformer in place of its bag of words."""
    clip = pretrained_clip("fashion-mnist", mode, train)
    return VAE.from_text_encoder(clip.text_encoder, channels=train.channels, size=train.size, latent_dim=16)


register(Recipe("t2i-catalog", "text-conditioned GAN (CLIP text embedding, conditioning augmentation, FiLM blocks, "
                "matching-aware D) on the colour catalogue", "catalog", _t2i("catalog", 48), _T2I_QUICK, _T2I_FULL_CATALOG,
                size=32))
register(Recipe("t2i-fashion", "text-conditioned GAN (CLIP text embedding, conditioning augmentation, FiLM blocks, "
                "matching-aware D) on Fashion-MNIST", "fashion-mnist", _t2i("fashion-mnist", 64), _T2I_QUICK, _T2I_FULL))
register(Recipe("cvae-fashion-clip", "VAE conditioned on the description through fashion-clip's frozen Transformer "
                "text encoder, Fashion-MNIST", "fashion-mnist", _cvae_clip, VAE_QUICK, VAE_FULL))


def export_t2i(checkpoint: str | Path, name: str, console_log: str | Path | None = None,
               truncation: float | None = None, notes: tuple[str, ...] = ()) -> tuple[Path, str]:
    """Ship a finished text-to-image run as ``checkpoints/<name>``: frozen CLIP + EMA generator in half
    precision (``pretrained.export_sampler``, with the sampling ``truncation`` if given), and ``<name>.log``
    with the validation history, ``notes`` and the console lines. Returns the stem and the weights' sha256."""
    psi = truncation if truncation is not None else load_model(checkpoint).config.truncation
    return pretrained.export_sampler(checkpoint, name, truncation=truncation, console_log=console_log,
                                     notes=(f"# sampling: truncation psi = {psi} (samples use psi * z)", *notes))
