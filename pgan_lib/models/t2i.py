"""A text-conditioned GAN: "a red striped mug" -> a picture of one.

The pieces, from words to pixels:

    description --frozen CLIP text encoder--> e (N, 64), unit length      (pgan_lib.models.clip)
    e --conditioning augmentation--> c = mu(e) + sigma(e) * eps            (StackGAN, Zhang et al. 2017)
    s = [z, c]                                                             the "style" of every block
    G: linear(s) -> (N, 4w, 4, 4), FiLM(s), ReLU -> 2 x [up-convolution, FiLM(s), ReLU]
       -> up-convolution, tanh -> (N, 3, 32, 32)
       FiLM(h, s) = BN(h) * (1 + gamma(s)) + beta(s), one gamma and beta per channel and block
       (the affine modulation of DF-GAN, Tao et al. 2022, after a batch normalisation)

Conditioning augmentation draws c around mu(e) instead of using e itself; a KL
term keeps N(mu, sigma^2) close to N(0, I):

    KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)

so nearby descriptions give overlapping conditions and G sees a smooth
condition space rather than a few hundred isolated points.

The discriminator is *matching-aware* (Reed et al. 2016): it scores an image
together with a description, through a projection head,

    D(x, e) = w . phi(x) + b + (P e) . phi(x)

and learns three things: a real image with its own description is good; a real
image with a *mismatched* description (another product's) is bad; a generated
image is bad. With the hinge loss:

    L_D = relu(1 - D(x, e)) + 1/2 [ relu(1 + D(G(z, e), e)) + relu(1 + D(x, e_mis)) ]
    L_G = -D(G(z, e), e) + lambda_KL * KL + lambda_ms * L_ms + lambda_match * L_match

A conditional generator easily learns one picture per description and ignores
z (D judges one image at a time, and a typical boot passes). The mode-seeking
term of MSGAN (Mao et al. 2019) works against that: the batch's second half
repeats the first half's descriptions with other noise, and G is asked to make
the two images of a pair differ in proportion to their noise,

    L_ms = mean over pairs of  mean|z_1 - z_2| / (mean|A G(z_1, e) - A G(z_2, e)| + 1e-5)

where A averages 4x4 blocks of pixels: the pair must differ in shape and shade,
not in pixel noise (the cheapest way to differ at full resolution).

L_match asks the frozen CLIP to find each generated image's own description
among the batch's descriptions (image -> text InfoNCE, with the same soft
targets as in pre-training); it is the DAMSM loss of AttnGAN (Xu et al. 2018)
with the kit's mini CLIP. It is off in the kit's recipes: with a CLIP this
small, G learns to fool it with faint pixel patterns sooner than to draw better
products (and R-precision, measured with the same CLIP, then says more about
the fooling than about the pictures).

Samples come from an exponential moving average of G's weights (EMA), as in
``pgan_lib.models.gan``, whose discriminator body, generator blocks, losses and
DiffAugment are reused here.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..data.base import ProductData
from ..data.batches import Batch
from ..text import TextCondition
from .augment import diff_augment, parse_policy
from .base import GeneratorModel, TrainingContext, config_from_dict
from .clip import CLIP, CLIPConfig, attribute_keys, mismatched_index, rephrasings, retrieval_recall, soft_targets
from .ema import ema_copy, ema_decay_at, ema_update
from .gan import ConditionalBatchNorm2d, Discriminator, GANConfig, UpBlock, g_loss
from .layers import channel_plan, down_steps
from .optim import adam
from .vae import kl_divergence


@dataclass
class T2IConfig:
    channels: int = 3
    size: int = 32
    latent_dim: int = 64            # noise z
    cond_dim: int = 64              # c, after conditioning augmentation
    g_width: int = 32               # G's channels in its last block; doubled per block towards the start
    d_width: int = 64               # D's channels after its first step; doubled per step
    kl_weight: float = 0.02         # lambda_KL of the conditioning augmentation (on the KL summed over cond_dim)
    match_weight: float = 0.0       # lambda_match of the CLIP matching loss (0 = off; see the module docstring)
    mismatch: bool = True           # the matching-aware D term (real image, wrong description)
    diversity_weight: float = 0.05  # lambda_ms of the mode-seeking term (0 = off)
    diffaug: str = ""               # DiffAugment policy; never "color": colour and shade are what the text asks for
    beta1: float = 0.0
    beta2: float = 0.999
    lr_d_scale: float = 1.0         # D's learning rate = lr * lr_d_scale
    ema_decay: float = 0.999
    clip: dict = field(default_factory=dict)   # the frozen CLIP's CLIPConfig, as a dict
    truncation: float = 1.0         # psi: samples use psi * z (psi < 1: more typical, a little less varied)
    val_samples: int = 500          # generated images per validation
    generator_only: bool = False    # a shipped sampler: CLIP + EMA generator only (cannot be trained)

    def __post_init__(self) -> None:
        down_steps(self.size)
        parse_policy(self.diffaug)
        if not self.clip:
            raise ValueError("a text-to-image GAN needs its CLIP: T2IConfig(clip=asdict(clip_model.config))")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")

    def clip_config(self) -> CLIPConfig:
        return config_from_dict(CLIPConfig, self.clip)


# -- generator ------------------------------------------------------------------------------------


class ConditioningAugmentation(nn.Module):
    """e (N, embed_dim) -> c = mu + sigma * eps (N, cond_dim), with mu and log sigma^2 linear in e.

    Returns (c, mu, logvar); with ``sample=False`` c = mu (no noise), as when drawing samples.

    Initialisation matters here: e has unit length, so a default linear layer
    gives |mu_j| ~ 0.1 next to sigma_j ~ 1, and G would hear mostly noise. So
    mu starts as a random rotation of e scaled to unit variance per dimension
    (||mu|| ~ sqrt(cond_dim), like a draw from N(0, I)) and sigma starts at 0.1;
    the KL term then decides how much noise the condition can take.
    """

    def __init__(self, embed_dim: int, cond_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(embed_dim, 2 * cond_dim)
        with torch.no_grad():
            nn.init.orthogonal_(self.fc.weight[:cond_dim], gain=cond_dim ** 0.5)
            nn.init.zeros_(self.fc.weight[cond_dim:])
            self.fc.bias[:cond_dim].zero_()
            self.fc.bias[cond_dim:].fill_(2 * math.log(0.1))

    def forward(self, e: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.fc(e).chunk(2, dim=1)                      # (N, cond_dim) each
        logvar = logvar.clamp(-10, 4)
        c = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        return c, mu, logvar


class TextGenerator(nn.Module):
    """(z, sentence embedding e) -> images in [-1, 1]. For 32x32 and g_width w = 32:

        c = CA(e), s = [z, c]                         (N, 64 + 64)
        linear(s)                                     -> (N, 128, 4, 4), FiLM(s), ReLU
        4x4 transposed conv, stride 2, FiLM(s), ReLU  -> (N, 64, 8, 8)
        4x4 transposed conv, stride 2, FiLM(s), ReLU  -> (N, 32, 16, 16)
        4x4 transposed conv, stride 2, tanh           -> (N, 3, 32, 32)

    FiLM(h, s) = BN(h) * (1 + gamma(s)) + beta(s), one gamma and beta per channel, linear in s:
    the affine modulation of DF-GAN after a batch normalisation (``ConditionalBatchNorm2d`` of
    ``pgan_lib.models.gan``, whose ``UpBlock`` is reused here). As in DF-GAN, the modulation
    reads the noise too: with c alone, every block would be told only *what* to draw, and G
    soon draws one picture per description whatever z says. 28x28 starts at 7x7 with one
    block less.
    """

    def __init__(self, c: T2IConfig, embed_dim: int) -> None:
        super().__init__()
        steps, side = down_steps(c.size)
        chans = list(reversed(channel_plan(c.g_width, steps)))                      # e.g. 32x32: [128, 64, 32]
        self.side, self.top = side, chans[0]
        self.ca = ConditioningAugmentation(embed_dim, c.cond_dim)
        style = c.latent_dim + c.cond_dim
        # (N, latent + cond) -> (N, top * side * side), reshaped to (N, top, side, side)
        self.project = nn.Linear(style, self.top * side * side, bias=False)
        self.norm0 = ConditionalBatchNorm2d(self.top, style)
        # each block doubles the side and halves the channels
        self.ups = nn.ModuleList(UpBlock(a, b, style) for a, b in zip(chans[:-1], chans[1:]))
        self.to_image = nn.ConvTranspose2d(chans[-1], c.channels, 4, 2, 1)          # (N, C, size, size)
        for name, m in self.named_modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Linear)) and not name.endswith("affine") and not name.startswith("ca"):
                nn.init.normal_(m.weight, 0.0, 0.02)                                # DCGAN initialisation

    def forward(self, z: torch.Tensor, e: torch.Tensor, sample_c: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (N, C, H, W) in [-1, 1], and mu, logvar of the conditioning augmentation."""
        c, mu, logvar = self.ca(e, sample=sample_c)                                  # (N, cond_dim)
        s = torch.cat([z, c], dim=1)                                                 # (N, latent + cond)
        h = self.project(s).view(-1, self.top, self.side, self.side)
        h = F.relu(self.norm0(h, s))                                                 # (N, top, side, side)
        for up in self.ups:
            h = up(h, s)                                                             # side doubles
        return torch.tanh(self.to_image(h)), mu, logvar


class MatchingDiscriminator(nn.Module):
    """D(x, e) = w . phi(x) + b + (P e) . phi(x): the kit's DCGAN discriminator body with a text projection.

    phi is ``pgan_lib.models.gan.Discriminator`` (spectral-norm convolutions,
    unconditional); P (embed_dim -> feature_dim) projects the sentence embedding.
    """

    def __init__(self, c: T2IConfig, embed_dim: int) -> None:
        super().__init__()
        self.body = Discriminator(GANConfig(channels=c.channels, size=c.size, d_width=c.d_width, d_norm="spectral",
                                            cond="none"))
        self.project = spectral_norm(nn.Linear(embed_dim, self.body.feature_dim, bias=False))

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        """Image features (N, feature_dim)."""
        return self.body.phi(x)

    def score(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Scores (N,) of image features h with sentence embeddings e."""
        return self.body.out(h).squeeze(1) + (self.project(e) * h).sum(1)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.score(self.phi(x), e)


# -- the model -----------------------------------------------------------------------------------


class TextToImageGAN(GeneratorModel):
    """Frozen CLIP + text-conditioned generator (and EMA copy) + matching-aware discriminator."""

    arch = "t2i"
    Config = T2IConfig
    obsolete_keys = ("fixed_noise",)                  # older checkpoints stored preview noise this model never used
    #: What a generator-only (shipped sampler) checkpoint keeps: ``pgan_lib.pretrained.export_sampler``.
    sampler_keys: ClassVar[tuple[str, ...]] = ("clip.", "g_ema.")

    def __init__(self, config: T2IConfig, clip: CLIP | None = None) -> None:
        super().__init__(config)
        c = config
        self.clip = CLIP(c.clip_config())
        if clip is not None:
            self.clip.load_state_dict(clip.state_dict())
        self.clip.requires_grad_(False).eval()
        embed = self.clip.config.embed_dim
        self.augment = parse_policy(c.diffaug)
        if not c.generator_only:
            self.generator = TextGenerator(c, embed)
            self.discriminator = MatchingDiscriminator(c, embed)
            self.g_ema = ema_copy(self.generator)
        else:
            self.g_ema = TextGenerator(c, embed).requires_grad_(False).eval()

    @classmethod
    def from_clip(cls, clip: CLIP, **overrides: Any) -> "TextToImageGAN":
        """A new text-to-image GAN on top of a pre-trained CLIP (copied and frozen)."""
        cfg = T2IConfig(channels=clip.config.channels, size=clip.config.size, clip=asdict(clip.config), **overrides)
        return cls(cfg, clip=clip)

    def train(self, mode: bool = True) -> "TextToImageGAN":
        super().train(mode)
        self.clip.eval()      # frozen: BatchNorm keeps its pre-trained statistics
        self.g_ema.eval()
        return self

    # -- conditions ---------------------------------------------------------------------------------
    @property
    def condition(self) -> TextCondition:
        """The frozen text encoder behind the kit's condition interface (``condition.tokenizer`` reads text)."""
        return TextCondition(self.clip.text_encoder)

    @property
    def tokenizer(self):
        return self.clip.tokenizer

    def embed_prompts(self, prompts: list[str]) -> torch.Tensor:
        """Descriptions -> sentence embeddings e (N, embed_dim); awkward text is refused or warned about here."""
        return self.condition(self.condition.inputs_from_prompts(list(prompts)))

    # -- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor, e: torch.Tensor, ema: bool = True, truncation: float | None = None
                 ) -> torch.Tensor:
        """Images in [0, 1] (N, C, H, W) for noise z (N, latent_dim) and sentence embeddings e (N, embed_dim).

        The generator gets psi * z, psi = ``truncation`` (default: the config's). Noise
        near the centre of N(0, I) gives the most typical images; psi < 1 trades a
        little variety for fidelity (the truncation trick of BigGAN, as a scaling).
        """
        g = self.g_ema if ema or self.config.generator_only else self.generator
        psi = self.config.truncation if truncation is None else truncation
        x, _, _ = g(psi * z.to(self.device), e.to(self.device), sample_c=False)
        return ((x.float() + 1) / 2).clamp(0, 1)

    def decode_latents(self, z: torch.Tensor, cond_inputs: torch.Tensor | None) -> torch.Tensor:
        """The sampling contract's hook (``GeneratorModel.sample``): tokens -> sentence embeddings -> EMA images."""
        return self.generate(z, self.condition(cond_inputs))

    def preview(self, n: int = 16) -> torch.Tensor | None:
        return None

    # -- training ---------------------------------------------------------------------------------
    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        if self.config.generator_only:
            raise RuntimeError("this model holds only its EMA generator (a shipped sampler); it cannot be trained")
        betas = (self.config.beta1, self.config.beta2)
        return {"d": adam(self.discriminator.parameters(), lr=lr * self.config.lr_d_scale, betas=betas),
                "g": adam(self.generator.parameters(), lr=lr, betas=betas)}

    @torch.no_grad()
    def embed_tokens(self, tokens: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Frozen sentence embeddings of token ids (..., L) -> (..., embed_dim), computed in batches."""
        flat = tokens.reshape(-1, tokens.shape[-1])
        rows, inverse = torch.unique(flat, dim=0, return_inverse=True)     # each distinct phrasing once
        out = torch.cat([self.condition(rows[i:i + batch_size]).cpu() for i in range(0, len(rows), batch_size)])
        return out[inverse].view(*tokens.shape[:-1], -1)

    def batch_extra(self, data: ProductData) -> dict[str, torch.Tensor]:
        """Sentence embeddings of every training phrasing of every item (N, T, embed_dim), and the attribute keys.

        The text encoder is frozen, so its embeddings are computed once here, not at every step.
        """
        texts = rephrasings(data) or [data.descriptions]
        tokens = torch.stack([self.tokenizer.encode(t, check=False) for t in texts], dim=1)    # (N, T, L)
        return {"sent": self.embed_tokens(tokens), "keys": attribute_keys(data)}

    def d_view(self, x: torch.Tensor) -> torch.Tensor:
        """What D sees: images after the DiffAugment transforms (if any)."""
        return diff_augment(x, self.augment) if self.augment else x

    def training_step(self, batch: Batch, ctx: TrainingContext) -> dict[str, torch.Tensor]:
        """One D step (real / mismatched / fake), then one G step (adversarial + KL + CLIP matching)."""
        c = self.config
        real = batch.x * 2 - 1                                                # (N, C, H, W) in [-1, 1]
        n = len(real)
        sent, keys = batch.extra["sent"], batch.extra["keys"]                 # (N, T, E), (N,)
        e = sent[torch.arange(n, device=sent.device), torch.randint(0, sent.shape[1], (n,), device=sent.device)]
        z = torch.randn(n, c.latent_dim, device=real.device)
        half = n // 2
        pair = torch.arange(n, device=real.device)
        if c.diversity_weight > 0:                                            # fakes i and i + N/2 share a text
            pair[half:2 * half] = pair[:half]
        e_fake = e[pair]
        fake, mu, logvar = self.generator(z, e_fake)                          # graph kept for the G step

        # D step: real + own text high, fake low, real + another product's text low.
        self.discriminator.requires_grad_(True)
        h = self.discriminator.phi(self.d_view(torch.cat([real, fake.detach()])))
        h_real, h_fake = h[:n], h[n:]
        d_real = self.discriminator.score(h_real, e)
        d_fake = self.discriminator.score(h_fake, e_fake)
        loss_d = F.relu(1 - d_real).mean()
        if c.mismatch:
            e_mis = e[mismatched_index(keys)]
            d_mis = self.discriminator.score(h_real, e_mis)
            loss_d = loss_d + 0.5 * (F.relu(1 + d_fake).mean() + F.relu(1 + d_mis).mean())
        else:
            loss_d = loss_d + F.relu(1 + d_fake).mean()
        ctx.step("d", loss_d)

        # G step: fool D, keep the condition distribution near N(0, I), be recognisable to CLIP.
        self.discriminator.requires_grad_(False)
        adv = g_loss("hinge", self.discriminator(self.d_view(fake), e_fake))
        kl = kl_divergence(mu.float(), logvar.float()).mean()
        loss_g = adv + c.kl_weight * kl
        logs = {}
        if c.diversity_weight > 0 and half > 0:                               # mode seeking: pairs must differ
            dz = (z[:half] - z[half:2 * half]).abs().mean(1)
            small = F.avg_pool2d(fake, 4)                                     # (N, C, H/4, W/4)
            dx = (small[:half] - small[half:2 * half]).abs().flatten(1).mean(1)
            ms = (dz / (dx + 1e-5)).mean()
            loss_g = loss_g + c.diversity_weight * ms
            logs["ms"] = ms.detach()
        if c.match_weight > 0:
            # CLIP sees a randomly shifted copy: a small CNN is easily fooled by a fixed pixel grid
            u = self.clip.encode_images((diff_augment(fake, ("translation",)) + 1) / 2)   # (N, E) unit
            sim = self.clip.scale * u @ e_fake.t()                            # (N, N) fake images x texts
            match = -(soft_targets(keys[pair], n, sim.device) * sim.log_softmax(dim=1)).sum(1).mean()
            loss_g = loss_g + c.match_weight * match
            logs["match"] = match.detach()
        ctx.step("g", loss_g)
        self.discriminator.requires_grad_(True)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": d_real.detach().mean(),
                "d_fake": d_fake.detach().mean(), "kl": kl.detach(), **logs}

    def after_step(self, step: int) -> None:
        ema_update(self.g_ema, self.generator, ema_decay_at(step, self.config.ema_decay))

    # -- validation -------------------------------------------------------------------------------
    @torch.no_grad()
    def r_precision(self, data, n: int | None = None, seed: int = 0, n_candidates: int = 100) -> float:
        """R-precision: how often a generated image's own description is the CLIP's first choice among
        ``n_candidates`` (the rest describe other attribute combinations). Uses the first n items of ``data``."""
        n = min(len(data), n or len(data))
        part = data.subset(slice(0, n))
        tokens = self.tokenizer.encode(part.descriptions, check=False)
        e = self.embed_tokens(tokens)
        z = self.latents(n, seed)
        u = torch.cat([self.clip.encode_images(self.generate(z[i:i + 500], e[i:i + 500])).cpu()
                       for i in range(0, n, 500)])
        v = F.normalize(e, dim=-1)
        return retrieval_recall(u, v, attribute_keys(part), n_candidates, ks=(1,), seed=seed)["R@1"]

    def validation_metrics(self, data: ProductData) -> dict[str, float]:
        """``val_rprec``: R-precision of ``val_samples`` EMA samples for the validation descriptions."""
        return {"val_rprec": self.r_precision(data, self.config.val_samples)}

