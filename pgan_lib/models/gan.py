"""Generative adversarial networks: DCGAN and the class-conditional GAN.

Two networks play a game. The generator G turns noise z ~ N(0, I) (and a
condition c: a class label or a description) into an image; the
discriminator D scores images, high for real ones and low for G's. Training
alternates one D step and one G step on every batch:

    D step:  minimise L_D = loss_d( D(x, c), D(G(z, c), c) )     x real, G fixed
    G step:  minimise L_G = loss_g( D(G(z, c), c) )               D fixed

The losses (``LOSSES``; f is D's raw output, a logit or score):

    ns       (non-saturating)  L_D = BCE(f_real, 1) + BCE(f_fake, 0)
                                   = softplus(-f_real) + softplus(f_fake)
                               L_G = BCE(f_fake, 1) = softplus(-f_fake)
    minimax  (saturating, the original game; only for demonstrations)
                               L_D as ns,  L_G = log(1 - sigmoid(f_fake)) = -softplus(f_fake)
    hinge                      L_D = relu(1 - f_real) + relu(1 + f_fake)
                               L_G = -f_fake
    wgan-gp  (Wasserstein)     L_D = f_fake - f_real + lambda * (||grad_x^ D(x^)||_2 - 1)^2
                               L_G = -f_fake
             with x^ = e x + (1 - e) G(z), e ~ U(0, 1) per image (Gulrajani et al., 2017)

each averaged over the batch.

The networks (DCGAN, Radford et al. 2016), for a 28x28 grey image and width 64:

    G: [z, c] (N, 64 + 64) -> linear -> (N, 128, 7, 7) -> CBN, ReLU
       -> 4x4 transposed conv, stride 2 -> (N, 64, 14, 14) -> CBN, ReLU
       -> 4x4 transposed conv, stride 2 -> (N, 1, 28, 28) -> tanh
    D: x (N, 1, 28, 28) -> 4x4 conv, stride 2 -> (N, 64, 14, 14) -> LeakyReLU
       -> 4x4 conv, stride 2 -> (N, 128, 7, 7) -> LeakyReLU -> flatten
       -> linear -> phi(x) (N, 128) -> LeakyReLU
       D(x, c) = w . phi(x) + b  +  e(c) . phi(x)          (projection, Miyato & Koyama 2018)

With ``aux_weight`` > 0 (label GANs), D also has a class head a(x) = A phi(x)
and both players add an auxiliary classification loss (AC-GAN, Odena et al.
2017), here on real images for D and on generated ones for G:

    L_D += aux_weight * CE(a(x), y)          L_G += aux_weight * CE(a(G(z, y)), y)

so G is pushed towards images that D can tell the class of.

32x32 and 64x64 colour images add one or two more stride-2 steps (from 4x4).
CBN is conditional batch normalisation: the scale and shift after the
normalisation are computed from the condition vector, so one generator draws
every class. Conditioning uses ``pgan_lib.text`` (condition.py) exactly as the
conditional VAE does: ``cond="label"`` or ``cond="description"`` picks the
encoder, and a description encoder can replace the label embedding.

Samples come from an exponential moving average (EMA) of G's weights, which is
smoother than G itself (``pgan_lib.models.ema``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..data.base import ProductData
from ..data.batches import Batch
from ..text import make_condition
from .augment import diff_augment, parse_policy
from .base import GeneratorModel, TrainingContext, batch_noise
from .ema import ema_copy, ema_decay_at, ema_update
from .layers import channel_plan, down_steps
from .optim import adam

LOSSES = ("ns", "minimax", "hinge", "wgan-gp")
D_NORMS = ("spectral", "batch", "none")


@dataclass
class GANConfig:
    channels: int = 1
    size: int = 28
    latent_dim: int = 64
    g_width: int = 64               # G's channels at the last step before the image; doubled per step down
    d_width: int = 64               # D's channels after its first step; doubled per step
    loss: str = "hinge"             # one of LOSSES
    d_norm: str = "spectral"        # "spectral" (spectral norm), "batch" (BatchNorm, classic DCGAN) or "none"
    gp_weight: float = 10.0         # lambda of the WGAN-GP gradient penalty
    drift: float = 0.0              # eps_drift * E[D(x)^2] added to D's loss (Karras et al. 2017 use 0.001 with WGAN-GP)
    d_steps: int = 1                # D steps per G step; the batch is split into this many D minibatches
    beta1: float = 0.0              # Adam betas of both optimisers
    beta2: float = 0.999
    lr_d_scale: float = 1.0         # D's learning rate = lr * lr_d_scale (two time-scale update rule if != 1)
    ema_decay: float = 0.999        # 0 turns the EMA off (the EMA copy then equals G)
    truncation: float = 1.0         # samples use z * truncation (< 1: more typical, less varied products)
    diffaug: str = ""               # DiffAugment policy, e.g. "color,translation,cutout"; "" for none
    aux_weight: float = 0.0         # weight of D's auxiliary class loss (label GANs only; 0 = pure projection D)
    cond: str = "none"              # "none", "label" or "description"
    num_classes: int = 10
    cond_dim: int = 64
    vocab: tuple[str, ...] = ()
    feature_model: str = ""         # shipped classifier for the validation FID, e.g. "fashion-classifier"
    val_samples: int = 2000         # generated images per validation
    generator_only: bool = False    # a shipped sampler: only the EMA generator, no D (cannot be trained)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss {self.loss!r}: use one of {LOSSES}")
        if self.d_norm not in D_NORMS:
            raise ValueError(f"d_norm {self.d_norm!r}: use one of {D_NORMS}")
        if self.loss == "wgan-gp" and self.d_norm == "batch":
            raise ValueError("WGAN-GP penalises each image's own gradient, which BatchNorm mixes across the batch: "
                             "use d_norm='none' or 'spectral' with loss='wgan-gp'.")
        if self.d_steps < 1:
            raise ValueError(f"d_steps must be at least 1, got {self.d_steps}")
        if not 0.0 < self.truncation <= 1.0:
            raise ValueError(f"truncation must be in (0, 1], got {self.truncation}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.aux_weight and self.cond != "label":
            raise ValueError("aux_weight needs class labels: set cond='label' or aux_weight=0")
        parse_policy(self.diffaug)
        down_steps(self.size)


# -- losses --------------------------------------------------------------------------------------


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss (without the gradient penalty) from its outputs on real and fake images.

    ns / minimax: BCE(f_real, 1) + BCE(f_fake, 0), i.e. -log sigmoid(f_real) - log(1 - sigmoid(f_fake))
    hinge:        mean relu(1 - f_real) + mean relu(1 + f_fake)
    wgan-gp:      mean f_fake - mean f_real
    """
    real, fake = real.float(), fake.float()
    if kind in ("ns", "minimax"):
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {kind!r}; use one of {LOSSES}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss from D's outputs on its images.

    ns:       BCE(f_fake, 1) = -log sigmoid(f_fake)   (strong gradient while D wins)
    minimax:  log(1 - sigmoid(f_fake)) = -softplus(f_fake)   (its gradient vanishes while D wins)
    hinge, wgan-gp: -mean f_fake
    """
    fake = fake.float()
    if kind == "ns":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "minimax":
        return -F.softplus(fake).mean()
    if kind in ("hinge", "wgan-gp"):
        return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}; use one of {LOSSES}")


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's penalty: E[(||grad_x^ critic(x^)||_2 - 1)^2], x^ = e * real + (1 - e) * fake, e ~ U(0, 1).

    ``critic`` maps images (N, C, H, W) to scores (N,); the penalty keeps its
    gradient norm near 1 on the lines between real and generated images (a
    soft version of the 1-Lipschitz constraint the Wasserstein distance needs).
    """
    e = torch.rand(real.shape[0], 1, 1, 1, generator=generator).to(real.device, real.dtype)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.float().sum(), x_hat, create_graph=True)
    norm = grad.float().flatten(1).norm(2, dim=1)                  # (N,)
    return (norm - 1.0).pow(2).mean()


# -- building blocks ---------------------------------------------------------------------------


class ConditionalBatchNorm2d(nn.Module):
    """Batch normalisation whose scale and shift come from a condition vector c.

        y = (1 + gamma(c)) * (x - mean) / sqrt(var + eps) + beta(c),   gamma, beta linear in c

    with the mean and variance taken per channel over the batch (running
    averages in eval mode). With ``cond_dim == 0`` it is ordinary BatchNorm.
    Starting gamma and beta at zero makes it plain BatchNorm at initialisation.
    """

    def __init__(self, channels: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=cond_dim == 0)
        self.cond_dim = cond_dim
        if cond_dim:
            self.affine = nn.Linear(cond_dim, 2 * channels)
            nn.init.zeros_(self.affine.weight)
            nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.bn(x)                                               # (N, C, H, W)
        if not self.cond_dim:
            return h
        gamma, beta = self.affine(c).chunk(2, dim=1)                 # (N, C) each
        return h * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


class UpBlock(nn.Module):
    """(N, c_in, H, W) -> (N, c_out, 2H, 2W): 4x4 transposed conv, stride 2, conditional BatchNorm, ReLU."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
        self.norm = ConditionalBatchNorm2d(c_out, cond_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x), c))


class Generator(nn.Module):
    """DCGAN generator with conditional BatchNorm: (z, condition inputs) -> images in [-1, 1]."""

    def __init__(self, c: GANConfig) -> None:
        super().__init__()
        steps, side = down_steps(c.size)
        chans = list(reversed(channel_plan(c.g_width, steps)))       # e.g. 28x28: [128, 64]
        self.side, self.top = side, chans[0]
        self.condition = make_condition(c.cond, c.cond_dim, c.num_classes, c.vocab)
        cdim = c.cond_dim if self.condition is not None else 0
        # (N, latent + cond) -> (N, top * side * side), reshaped to (N, top, side, side), e.g. (N, 128, 7, 7)
        self.project = nn.Linear(c.latent_dim + cdim, self.top * side * side, bias=False)
        self.norm0 = ConditionalBatchNorm2d(self.top, cdim)
        # e.g. 28x28: (N, 128, 7, 7) -> (N, 64, 14, 14)
        self.ups = nn.ModuleList(UpBlock(a, b, cdim) for a, b in zip(chans[:-1], chans[1:]))
        # e.g. 28x28: (N, 64, 14, 14) -> (N, 1, 28, 28), then tanh
        self.to_image = nn.ConvTranspose2d(chans[-1], c.channels, 4, 2, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        """DCGAN initialisation: N(0, 0.02) weights, zero biases."""
        for name, m in self.named_modules():
            if name.endswith("affine"):
                continue  # conditional BatchNorm starts as plain BatchNorm (zero gamma/beta)
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, cond_inputs: torch.Tensor | None = None) -> torch.Tensor:
        c = None
        if self.condition is not None:
            if cond_inputs is None:
                raise ValueError("this generator is conditional: give labels or descriptions")
            c = self.condition(cond_inputs)                          # (N, cond_dim)
            z = torch.cat([z, c], dim=1)                             # (N, latent + cond_dim)
        h = self.project(z).view(-1, self.top, self.side, self.side)  # (N, top, side, side)
        h = F.relu(self.norm0(h, c))
        for up in self.ups:
            h = up(h, c)                                             # side doubles, channels halve
        return torch.tanh(self.to_image(h))                          # (N, C, size, size) in [-1, 1]


class Discriminator(nn.Module):
    """DCGAN discriminator with a projection head: (images in [-1, 1], condition inputs) -> scores (N,).

        D(x, c) = w . phi(x) + b + e(c) . phi(x)

    The projection term e(c) . phi(x) is the inner product of the image's
    features with a learned vector of its class (or description); it is what
    makes D judge "a real *sneaker*" rather than just "a real image".
    """

    def __init__(self, c: GANConfig) -> None:
        super().__init__()
        steps, side = down_steps(c.size)
        chans = channel_plan(c.d_width, steps)                      # e.g. 28x28: [64, 128]
        sn = spectral_norm if c.d_norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = []
        c_in = c.channels
        for i, c_out in enumerate(chans):
            # (N, c_in, H, W) -> (N, c_out, H/2, W/2); no normalisation on the first layer (DCGAN)
            layers.append(sn(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not (c.d_norm == "batch" and i > 0))))
            if c.d_norm == "batch" and i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.Flatten())       # (N, top * side * side), e.g. (N, 6272)
        self.feature_dim = chans[-1]
        # (N, top * side * side) -> phi(x) (N, feature_dim)
        self.embed = nn.Sequential(sn(nn.Linear(c_in * side * side, self.feature_dim)), nn.LeakyReLU(0.2))
        self.out = sn(nn.Linear(self.feature_dim, 1))                # (N, feature_dim) -> (N, 1)
        # e(c): the class (or description) vector of the projection term, (N, feature_dim)
        self.condition = make_condition(c.cond, self.feature_dim, c.num_classes, c.vocab)
        # a(x): class logits (N, num_classes) for the auxiliary loss, when it is on
        self.classify = sn(nn.Linear(self.feature_dim, c.num_classes)) if c.aux_weight else None
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and not hasattr(m, "parametrizations"):
                nn.init.normal_(m.weight, 0.0, 0.02)
        if self.condition is not None:
            for p in self.condition.parameters():
                if p.ndim > 1:
                    nn.init.normal_(p, 0.0, 0.02)

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        """Image features (N, feature_dim) that both heads read."""
        return self.embed(self.features(x))

    def forward(self, x: torch.Tensor, cond_inputs: torch.Tensor | None = None, with_classes: bool = False,
                split: int | None = None):
        """Scores (N,); with ``with_classes`` the pair (scores, class logits or None) of ``score_and_classes``.

        ``split``: images ``[:split]`` and ``[split:]`` go through D in two passes (each
        with its own BatchNorm statistics, DCGAN's way for a BatchNorm D) in this one call,
        so a data-parallel wrapper sees one forward per backward.
        """
        if split is None:
            score, logits = self.score_and_classes(x, cond_inputs)
        else:
            parts = [self.score_and_classes(x[s], None if cond_inputs is None else cond_inputs[s])
                     for s in (slice(0, split), slice(split, None))]
            score = torch.cat([parts[0][0], parts[1][0]])
            logits_a, logits_b = parts[0][1], parts[1][1]
            logits = None if logits_a is None or logits_b is None else torch.cat([logits_a, logits_b])
        return (score, logits) if with_classes else score

    def score_and_classes(self, x: torch.Tensor, cond_inputs: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scores (N,) and, with the auxiliary head, class logits (N, num_classes) (else None)."""
        h = self.phi(x)                                              # (N, feature_dim)
        score = self.out(h).squeeze(1)                               # (N,)
        if self.condition is not None:
            if cond_inputs is None:
                raise ValueError("this discriminator is conditional: give labels or descriptions")
            score = score + (self.condition(cond_inputs) * h).sum(1)  # projection: e(c) . phi(x)
        return score, (self.classify(h) if self.classify is not None else None)


# -- the model -----------------------------------------------------------------------------------


class GAN(GeneratorModel):
    """DCGAN / class-conditional GAN with spectral norm, DiffAugment and an EMA generator.

    ``generator`` and ``discriminator`` are trained; ``g_ema`` is the moving
    average of the generator that ``sample`` and ``preview`` draw from.
    """

    arch = "gan"
    Config = GANConfig

    def __init__(self, config: GANConfig) -> None:
        super().__init__(config)
        c = config
        self.augment = parse_policy(c.diffaug)
        if not c.generator_only:
            self.generator = Generator(c)
            self.discriminator = Discriminator(c)
            self.g_ema = ema_copy(self.generator)
        else:
            self.g_ema = Generator(c).requires_grad_(False).eval()
        self.register_buffer("fixed_noise", torch.randn(64, c.latent_dim, generator=torch.Generator().manual_seed(1234)))

    @property
    def condition(self):
        """The condition encoder samples are drawn with (the EMA generator's), or None."""
        return self.g_ema.condition

    def train(self, mode: bool = True) -> "GAN":
        super().train(mode)
        self.g_ema.eval()  # the EMA generator always uses its running BatchNorm statistics
        return self

    # -- conditions ---------------------------------------------------------------------------------
    # -- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor, cond_inputs: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        """Images in [0, 1] (N, C, H, W) for latents z (N, latent_dim), from the EMA generator by default.

        With ``config.truncation`` t < 1 the generator sees t * z: latents nearer the
        centre of N(0, I), where it was trained most, give more typical products
        (the "truncation trick" of BigGAN, in its simplest form).
        """
        g = self.g_ema if ema or self.config.generator_only else self.generator
        was_training = g.training
        if g is not self.g_ema:
            g.eval()
        z = z.to(self.device) * self.config.truncation
        out = (g(z, cond_inputs).float() + 1) / 2
        g.train(was_training and g is not self.g_ema)
        return out.clamp(0, 1)

    def decode_latents(self, z: torch.Tensor, cond_inputs: torch.Tensor | None) -> torch.Tensor:
        """The sampling contract's hook (``GeneratorModel.sample``): the EMA generator's images."""
        return self.generate(z, cond_inputs)

    # -- training ---------------------------------------------------------------------------------
    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """Adam for each network; D's rate is scaled by ``lr_d_scale``."""
        if self.config.generator_only:
            raise RuntimeError("this GAN holds only its EMA generator (a shipped sampler); it cannot be trained")
        betas = (self.config.beta1, self.config.beta2)
        return {   # fused (one kernel for all of a network's parameters) where the device has it, else foreach
            "d": adam(self.discriminator.parameters(), lr=lr * self.config.lr_d_scale, betas=betas),
            "g": adam(self.generator.parameters(), lr=lr, betas=betas),
        }

    def d_scores(self, x: torch.Tensor, cond_inputs: torch.Tensor | None) -> torch.Tensor:
        """D's scores (N,) for images in [-1, 1], after the DiffAugment transforms (if any)."""
        return self.d_outputs(x, cond_inputs)[0]

    def d_outputs(self, x: torch.Tensor, cond_inputs: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's scores (N,) and auxiliary class logits (or None), after the DiffAugment transforms (if any)."""
        if self.augment:
            x = diff_augment(x, self.augment)
        return self.discriminator.score_and_classes(x, cond_inputs)

    def _d_pair(self, real: torch.Tensor, fake: torch.Tensor, cond):
        """D on real and fake images in one call: one pass over both, or two when D has BatchNorm (DCGAN's way).

        D is called through ``net`` (its data-parallel wrapper when there is one: its
        gradients are averaged across processes). Returns the scores of real and fake
        images and the class logits of the real ones (or None).
        """
        n = len(real)
        if self.augment and self.config.d_norm == "batch":   # each half augmented on its own, as two calls would
            both = torch.cat([diff_augment(real, self.augment), diff_augment(fake, self.augment)])
        else:
            both = torch.cat([real, fake])
            if self.augment:
                both = diff_augment(both, self.augment)
        scores, logits = self.net("discriminator")(both, None if cond is None else torch.cat([cond, cond]),
                                                   with_classes=True, split=n if self.config.d_norm == "batch" else None)
        return scores[:n], scores[n:], (None if logits is None else logits[:n])

    def training_step(self, batch: Batch, ctx: TrainingContext) -> dict[str, torch.Tensor]:
        """One G step after ``d_steps`` D steps; logs both losses and D's mean output on real and fake."""
        c = self.config
        real = batch.x * 2 - 1                                        # (N, C, H, W) in [-1, 1]
        cond = self.batch_cond(batch)                                 # the batch's own labels / descriptions
        z = batch_noise(ctx, len(real), c.latent_dim, real.device)     # (N, latent_dim)
        fake = self.net("generator")(z, cond)                         # (N, C, H, W); graph kept for the G step

        # D steps: the batch is split into d_steps minibatches; G's images are constants here.
        self.discriminator.requires_grad_(True)
        conds = [None] * c.d_steps if cond is None else cond.chunk(c.d_steps)
        for real_k, fake_k, cond_k in zip(real.chunk(c.d_steps), fake.detach().chunk(c.d_steps), conds):
            f_real, f_fake, class_logits = self._d_pair(real_k, fake_k, cond_k)
            loss_d = d_loss(c.loss, f_real, f_fake)
            if c.drift:                                               # keeps D's raw scores near 0
                loss_d = loss_d + c.drift * f_real.float().pow(2).mean()
            logs = {}
            if class_logits is not None:                              # auxiliary class loss on real images
                assert cond_k is not None                              # the auxiliary loss needs labels
                aux_d = F.cross_entropy(class_logits.float(), cond_k)
                logs["aux_d"] = aux_d.detach()
                loss_d = loss_d + c.aux_weight * aux_d
            if c.loss == "wgan-gp":
                gp = gradient_penalty(lambda x, cond_k=cond_k: self.d_scores(x, cond_k), real_k, fake_k)
                logs["gp"] = gp.detach()
                loss_d = loss_d + c.gp_weight * gp
            ctx.step("d", loss_d)

        # G step: D's weights are frozen (no gradient computed for them), its input gradient flows into G;
        # D is called directly (not through its data-parallel wrapper: there is nothing of D's to average).
        self.discriminator.requires_grad_(False)
        f_gen, gen_logits = self.d_outputs(fake, cond)
        loss_g = g_loss(c.loss, f_gen)
        if gen_logits is not None:                                    # "make images D sees as class y"
            assert cond is not None
            aux_g = F.cross_entropy(gen_logits.float(), cond)
            logs["aux_g"] = aux_g.detach()
            loss_g = loss_g + c.aux_weight * aux_g
        ctx.step("g", loss_g)
        self.discriminator.requires_grad_(True)

        out = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
               "d_real": f_real.detach().float().mean(), "d_fake": f_fake.detach().float().mean()}
        if c.loss in ("ns", "minimax"):  # D(x) and D(G(z)) as probabilities, as in the DCGAN paper
            out["p_real"] = torch.sigmoid(f_real.detach().float()).mean()
            out["p_fake"] = torch.sigmoid(f_fake.detach().float()).mean()
        return {**out, **logs}

    def distributed_networks(self) -> tuple[str, ...]:
        """Both players are trained: data-parallel training averages the gradients of each."""
        return () if self.config.generator_only else ("generator", "discriminator")

    def update_ema(self, decay: float) -> None:
        """theta_ema <- decay * theta_ema + (1 - decay) * theta for every weight and BatchNorm statistic of G."""
        ema_update(self.g_ema, self.generator, decay)

    def after_step(self, step: int) -> None:
        self.update_ema(ema_decay_at(step, self.config.ema_decay))

    # -- validation ---------------------------------------------------------------------------------
    def validation_metrics(self, data: ProductData) -> dict[str, float]:
        """D's mean score on real and fake validation images (the samples' FID comes from the recipe's judge,
        ``pgan_lib.eval.judges.SampleQuality``)."""
        c = self.config
        gen = torch.Generator().manual_seed(0)
        n = min(len(data), 512)
        x = data.float_images(slice(0, n)).to(self.device) * 2 - 1
        cond = self.cond_inputs_for(data, slice(0, n))
        z = torch.randn(n, c.latent_dim, generator=gen).to(self.device)
        fake = self.generate(z, cond) * 2 - 1
        f_real = self.discriminator(x, cond).float()
        f_fake = self.discriminator(fake, cond).float()
        return {"val_d_real": f_real.mean().item(), "val_d_fake": f_fake.mean().item()}

    #: What a generator-only (shipped sampler) checkpoint keeps: ``pgan_lib.pretrained.export_sampler``.
    sampler_keys: ClassVar[tuple[str, ...]] = ("g_ema.", "fixed_noise")
