"""Variational autoencoders: plain and conditioned on a label or a description.

The encoder maps an image x to a Gaussian q(z|x) = N(mu, diag(sigma^2)); the
decoder maps a latent z to the parameters of p(x|z). Training maximises the
evidence lower bound (ELBO) on log p(x), i.e. minimises

    loss(x) = E_q[-log p(x|z)]  +  beta * KL(q(z|x) || N(0, I))
            = reconstruction     +  beta * 0.5 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)

with the reparameterisation trick z = mu + sigma * eps, eps ~ N(0, I), so the
sampling step has a gradient. With beta = 1 the loss is the negative ELBO, an
upper bound on -log p(x) in nats per image.

The likelihood p(x|z) decides what "reconstruct well" means:
    bernoulli  -log p = BCE(x, x_hat) summed over pixels  (the usual choice for [0,1] images)
    gaussian   -log p = sum (x - x_hat)^2 / (2 s^2) + const, s = 0.1
    l1 (Laplace) -log p = sum |x - x_hat| / b + const,      b = 0.1

A conditional VAE adds a condition vector c to the encoder's features and to
z before decoding: q(z|x, c) and p(x|z, c). c comes from a label embedding, a
bag-of-words description encoder trained with the VAE (``cond="description"``),
or a pre-trained, frozen Transformer text encoder, the one the text-to-image
GAN uses (``cond="text"``, built with ``VAE.from_text_encoder``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.base import ProductData
from ..data.batches import Batch, BatchIterator
from ..text import ConditionEncoder, TextCondition, TextEncoder, TextEncoderConfig, make_condition
from .base import GeneratorModel, TrainingContext, config_from_dict
from .layers import channel_plan, down_block, down_steps, up_block

LIKELIHOODS = ("bernoulli", "gaussian", "l1")
GAUSS_SIGMA = 0.1
LAPLACE_B = 0.1


@dataclass
class VAEConfig:
    channels: int = 1
    size: int = 28
    latent_dim: int = 16
    hidden: int = 32
    beta: float = 1.0
    likelihood: str = "bernoulli"
    cond: str = "none"              # "none", "label", "description" or "text"
    num_classes: int = 10
    cond_dim: int = 32
    vocab: tuple[str, ...] = ()
    text_encoder: dict = field(default_factory=dict)   # cond="text": the frozen encoder's TextEncoderConfig, as a dict

    def __post_init__(self) -> None:
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood {self.likelihood!r}: use one of {LIKELIHOODS}")
        if self.cond == "text" and not self.text_encoder:
            raise ValueError("cond='text' needs the text encoder's config: build the model with VAE.from_text_encoder(encoder)")
        down_steps(self.size)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per item, summed over latent dimensions: (N, D) -> (N,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): a sample whose gradient flows into mu and sigma."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def reconstruction_nll(x: torch.Tensor, logits: torch.Tensor, likelihood: str) -> torch.Tensor:
    """-log p(x|z) per item in nats, summed over pixels: (N, C, H, W) -> (N,)."""
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    mean = torch.sigmoid(logits)
    d = x[0].numel()
    if likelihood == "gaussian":
        sq = (x - mean).pow(2).flatten(1).sum(1)
        return sq / (2 * GAUSS_SIGMA ** 2) + d * math.log(GAUSS_SIGMA * math.sqrt(2 * math.pi))
    ab = (x - mean).abs().flatten(1).sum(1)
    return ab / LAPLACE_B + d * math.log(2 * LAPLACE_B)


class VAE(GeneratorModel):
    """Convolutional VAE for 28x28 grey or 32/64 colour images, optionally conditional."""

    arch = "vae"
    Config = VAEConfig

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        c = config
        steps, side = down_steps(c.size)
        chans = channel_plan(c.hidden, steps)
        self.side, self.top = side, chans[-1]
        if c.cond == "text":        # a pre-trained Transformer, frozen: only the VAE learns
            encoder = TextEncoder(config_from_dict(TextEncoderConfig, c.text_encoder)).requires_grad_(False)
            self.condition: ConditionEncoder | None = TextCondition(encoder)
        else:
            self.condition = make_condition(c.cond, c.cond_dim, c.num_classes, c.vocab)
        cdim = self.condition.dim if self.condition is not None else 0
        # Encoder: e.g. 28x28: (N, 1, 28, 28) -> (N, 32, 14, 14) -> (N, 64, 7, 7) -> (N, 3136)
        blocks, c_in = [], c.channels
        for i, c_out in enumerate(chans):
            blocks.append(down_block(c_in, c_out, norm=i > 0))
            c_in = c_out
        self.encoder = nn.Sequential(*blocks, nn.Flatten())
        flat = self.top * side * side
        self.to_stats = nn.Sequential(nn.Linear(flat + cdim, 256), nn.LeakyReLU(0.2), nn.Linear(256, 2 * c.latent_dim))
        # Decoder: (N, latent + cond) -> (N, 64, 7, 7) -> (N, 32, 14, 14) -> (N, 1, 28, 28) logits
        self.from_latent = nn.Sequential(nn.Linear(c.latent_dim + cdim, flat), nn.ReLU())
        ups: list[nn.Module] = []
        rev = list(reversed(chans))
        for c_a, c_b in zip(rev[:-1], rev[1:]):
            ups.append(up_block(c_a, c_b))
        ups.append(nn.ConvTranspose2d(rev[-1], c.channels, 4, 2, 1))
        self.decoder = nn.Sequential(*ups)
        self.register_buffer("fixed_noise", torch.randn(64, c.latent_dim, generator=torch.Generator().manual_seed(1234)))

    @classmethod
    def from_text_encoder(cls, encoder: TextEncoder, **overrides: Any) -> "VAE":
        """A conditional VAE reading descriptions with a pre-trained text encoder (copied and frozen),
        e.g. ``VAE.from_text_encoder(clip.text_encoder, channels=1, size=28)``."""
        cfg = VAEConfig(cond="text", cond_dim=encoder.config.embed_dim, text_encoder=asdict(encoder.config), **overrides)
        model = cls(cfg)
        assert isinstance(model.condition, TextCondition)
        model.condition.encoder.load_state_dict(encoder.state_dict())
        return model

    # -- the model ------------------------------------------------------------------
    def cond_vector(self, cond_inputs: torch.Tensor | None) -> torch.Tensor | None:
        if self.condition is None:
            return None
        if cond_inputs is None:
            raise ValueError("this VAE is conditional: give labels or prompts")
        return self.condition(cond_inputs.to(self.device))

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (N, C, H, W) in [0,1] -> (mu, logvar), each (N, latent_dim)."""
        h = self.encoder(x * 2 - 1)
        if c is not None:
            h = torch.cat([h, c], 1)
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode_logits(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Latents (N, latent_dim) -> pixel logits (N, C, H, W)."""
        if c is not None:
            z = torch.cat([z, c], 1)
        h = self.from_latent(z).view(-1, self.top, self.side, self.side)
        return self.decoder(h)

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Latents -> images in [0, 1] (the mean of p(x|z))."""
        return torch.sigmoid(self.decode_logits(z, c).float())

    def losses(self, x: torch.Tensor, cond_inputs: torch.Tensor | None = None,
               beta: float | None = None) -> dict[str, torch.Tensor]:
        """Per-item reconstruction NLL, KL and the beta-weighted loss, each (N,)."""
        c = self.cond_vector(cond_inputs)
        mu, logvar = self.encode(x, c)
        z = reparameterise(mu, logvar)
        rec = reconstruction_nll(x, self.decode_logits(z, c).float(), self.config.likelihood)
        kl = kl_divergence(mu.float(), logvar.float())
        b = self.config.beta if beta is None else beta
        return {"rec": rec, "kl": kl, "loss": rec + b * kl, "neg_elbo": rec + kl}

    def forward(self, x: torch.Tensor, cond_inputs: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction of x through the posterior mean (no sampling)."""
        c = self.cond_vector(cond_inputs)
        mu, _ = self.encode(x, c)
        return self.decode(mu, c)

    # -- trainer interface -----------------------------------------------------------
    def training_step(self, batch: Batch, ctx: TrainingContext) -> dict[str, torch.Tensor]:
        out = self.losses(batch.x, self.batch_cond(batch))
        loss = out["loss"].mean()
        ctx.step("main", loss)
        return {"loss": loss.detach(), "rec": out["rec"].mean().detach(), "kl": out["kl"].mean().detach()}

    @torch.no_grad()
    def evaluate(self, data, batch_size: int = 512) -> dict[str, float]:
        """Mean negative ELBO (nats/image), reconstruction NLL, KL and pixel MSE over a split."""
        totals = {"neg_elbo": 0.0, "rec": 0.0, "kl": 0.0, "mse": 0.0}
        n = 0
        it = BatchIterator(data, batch_size, self.device, shuffle=False, drop_last=False, extra=self.batch_extra(data))
        gen_state = torch.get_rng_state()
        torch.manual_seed(0)  # the same posterior samples every time: comparable numbers
        for batch in it:
            cond = self.batch_cond(batch)
            out = self.losses(batch.x, cond)
            recon = self.forward(batch.x, cond)
            totals["neg_elbo"] += out["neg_elbo"].sum().item()
            totals["rec"] += out["rec"].sum().item()
            totals["kl"] += out["kl"].sum().item()
            totals["mse"] += (recon - batch.x).pow(2).flatten(1).mean(1).sum().item()
            n += len(batch)
        torch.set_rng_state(gen_state)
        return {k: v / max(n, 1) for k, v in totals.items()}

    def validation_metrics(self, data: ProductData) -> dict[str, float]:
        m = self.evaluate(data)
        return {"val_neg_elbo": m["neg_elbo"], "val_rec": m["rec"], "val_kl": m["kl"], "val_mse": m["mse"]}

    def decode_latents(self, z: torch.Tensor, cond_inputs: torch.Tensor | None) -> torch.Tensor:
        """The sampling contract's hook (``GeneratorModel.sample``): decode z ~ N(0, I) under the condition."""
        return self.decode(z, self.cond_vector(cond_inputs))
