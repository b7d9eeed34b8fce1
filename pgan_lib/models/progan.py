"""Progressive growing of GANs (Karras et al. 2017): train at 4x4, then grow both networks to 64x64.

A GAN that starts at full resolution must learn coarse shape and fine texture at
once, and its discriminator wins easily by looking at pixels the generator has not
learned to draw yet. Progressive growing trains a 4x4 GAN first, then adds an
8x8 block to both networks, then 16x16, ... up to ``final_res``. Each new block
is *faded in*: for a while the output is a blend of the new block and the old,
upsampled, output,

    G_r(z) = alpha * rgb_r(B_r(h)) + (1 - alpha) * up(rgb_{r/2}(h)),     h = the r/2 block's features
    D_r(x) = D_{r/2}( alpha * B'_r(from_rgb_r(x)) + (1 - alpha) * from_rgb_{r/2}(down(x)) )

with alpha rising linearly from 0 to 1 over ``fade_images`` images shown, then a
stabilisation phase at alpha = 1 (``GrowSchedule``). The real images are shown
at the current resolution, area-averaged from 64x64, and blended across a fade
the same way as G's output, so that D never sees a difference in kind between
real and fake: x_r = alpha * down_r(x) + (1 - alpha) * up(down_{r/2}(x)).

At alpha = 0 the grown network computes exactly what the smaller one did (on
down-sampled inputs); at alpha = 1 it is a network of the new resolution whose
old RGB head no longer matters. The phase and alpha are a pure function of the
number of images shown (a buffer saved in every checkpoint), so resuming in the
middle of a fade gives the same alpha and the same losses.

The paper's stabilisers, each switchable in ``ProGANConfig``:

- equalised learning rate: weights are stored as w ~ N(0, 1) and used as
  w * sqrt(2 / fan_in) at *run time*, so Adam's per-weight step (about lr in
  size, whatever the gradient's scale) is the same relative change for every
  layer (``EqualizedConv2d``, ``EqualizedLinear``);
- pixel-wise feature normalisation in G: every pixel's feature vector is scaled
  to unit mean square, b = a / sqrt(mean_c a_c^2 + 1e-8), which keeps G's
  signal magnitudes from spiralling with D (``pixel_norm``);
- minibatch standard deviation in D: one extra feature map holding the average
  standard deviation of the features over a small group of images, so D can
  see that a batch lacks variety and G is pushed towards variation
  (``minibatch_stddev``).

The loss is WGAN-GP with the paper's drift term (the default), or the kit's hinge loss:

    L_D = E[D(G(z))] - E[D(x)] + lambda * E[(||grad D(x^)|| - 1)^2] + eps_drift * E[D(x)^2]
    L_G = -E[D(G(z))]

WGAN-GP because D here has no normalisation layer (spectral norm would fight the
equalised learning rate, BatchNorm would mix the minibatch-stddev groups), so the
gradient penalty is what keeps D Lipschitz; the drift term keeps D's raw scores
from wandering off (a Wasserstein critic is defined only up to a constant).
Conditioning on the category follows ``models/gan.py``: the label vector is
concatenated to the (normalised) latent in G, and D adds a projection term
e(c) . phi(x) to its score.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batches import Batch
from ..text import make_condition
from .base import GeneratorModel, TrainingContext
from .ema import ema_copy, ema_decay_at, ema_update
from .gan import gradient_penalty

PROGAN_LOSSES = ("wgan-gp", "hinge")
RESOLUTIONS = (4, 8, 16, 32, 64)


# -- the schedule ----------------------------------------------------------------------------------


@dataclass
class GrowSchedule:
    """How long each phase lasts, in images shown, and the batch size at each resolution.

    Phases: stabilise at 4x4; then for every next resolution a fade (alpha 0 -> 1)
    and a stabilisation (alpha = 1). The last stabilisation lasts for ever.
    """

    final_res: int = 64               # 8, 16, 32 or 64
    fade_images: int = 6000           # images shown while one new block fades in
    stable_images: int = 6000         # images shown in each stabilisation phase (also the first, at 4x4)
    batch_sizes: tuple[int, ...] = (32, 32, 32, 32, 32)   # one per resolution 4, 8, ..., final_res

    def __post_init__(self) -> None:
        self.batch_sizes = tuple(self.batch_sizes)
        if self.final_res not in RESOLUTIONS[1:]:
            raise ValueError(f"final_res must be one of {RESOLUTIONS[1:]}, got {self.final_res!r}")
        if self.fade_images < 1 or self.stable_images < 1:
            raise ValueError(f"fade_images and stable_images must be at least 1, got {self.fade_images}, {self.stable_images}")
        if len(self.batch_sizes) != self.levels + 1 or min(self.batch_sizes) < 1:
            raise ValueError(f"batch_sizes needs one positive size per resolution {RESOLUTIONS[:self.levels + 1]}, "
                             f"got {self.batch_sizes}")

    @property
    def levels(self) -> int:
        """How many times the networks grow: 4 for 4 -> 64."""
        return int(math.log2(self.final_res // 4))

    def phases(self) -> list[tuple[int, bool, int]]:
        """(level, fading, images) of every phase, in order: level 0 is 4x4, level k is 4 * 2^k."""
        out = [(0, False, self.stable_images)]
        for level in range(1, self.levels + 1):
            out += [(level, True, self.fade_images), (level, False, self.stable_images)]
        return out

    def total_images(self) -> int:
        """Images shown until the last stabilisation phase is done."""
        return sum(n for *_, n in self.phases())

    def batch_at(self, level: int) -> int:
        return self.batch_sizes[level]

    def steps_total(self) -> int:
        """Training steps to show ``total_images`` (each step shows one batch of the phase's resolution)."""
        steps, shown = 0, 0
        while shown < self.total_images():
            shown += self.batch_at(phase_at(self, shown).level)
            steps += 1
        return steps


@dataclass(frozen=True)
class Phase:
    """Where training is after ``images_shown`` images: resolution level, fading or not, and alpha."""

    index: int          # 0, 1, 2, ... in the order of GrowSchedule.phases()
    level: int          # 0 = 4x4, 1 = 8x8, ...
    fading: bool
    alpha: float        # the new block's weight: rises 0 -> 1 in a fade, 1 otherwise

    @property
    def resolution(self) -> int:
        return 4 * 2 ** self.level


def phase_at(schedule: GrowSchedule, images_shown: int) -> Phase:
    """The phase after ``images_shown`` images: a pure function, so a resumed run is in the same place.

        alpha = (images_shown - fade_start) / fade_images     inside a fade (0 at its first image)
        alpha = 1                                             in a stabilisation phase
    """
    if images_shown < 0:
        raise ValueError(f"images_shown must be >= 0, got {images_shown}")
    start = 0
    phases = schedule.phases()
    for index, (level, fading, n) in enumerate(phases):
        if images_shown < start + n:
            alpha = (images_shown - start) / n if fading else 1.0
            return Phase(index, level, fading, alpha)
        start += n
    level, _, _ = phases[-1]
    return Phase(len(phases) - 1, level, False, 1.0)


# -- the stabilisers -----------------------------------------------------------------------------


class EqualizedLinear(nn.Module):
    """y = x (c W)^T + b with W ~ N(0, 1) stored and c = gain / sqrt(fan_in) applied at run time.

    With ``equalized=False`` the scale is folded into the stored weights at
    initialisation instead (He initialisation: same function at step 0, but
    Adam then moves small-fan-in layers relatively faster).
    """

    def __init__(self, d_in: int, d_out: int, gain: float = math.sqrt(2), equalized: bool = True) -> None:
        super().__init__()
        scale = gain / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.randn(d_out, d_in) * (1.0 if equalized else scale))
        self.bias = nn.Parameter(torch.zeros(d_out))
        self.scale = scale if equalized else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)      # (N, d_in) -> (N, d_out)


class EqualizedConv2d(nn.Module):
    """A k x k convolution (stride 1, 'same' padding) with weights scaled at run time by gain / sqrt(c_in k^2)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2), equalized: bool = True) -> None:
        super().__init__()
        scale = gain / math.sqrt(c_in * kernel * kernel)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel) * (1.0 if equalized else scale))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = scale if equalized else 1.0
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)  # (N, c_in, H, W) -> (N, c_out, H, W)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """b_xy = a_xy / sqrt(mean_c a_xy,c^2 + eps): every pixel's feature vector to unit mean square. (N, C, ...) -> same."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append the minibatch standard deviation feature: (N, C, H, W) -> (N, C + 1, H, W).

    The batch is cut into groups of ``g`` consecutive images (g = the largest
    divisor of N that is at most ``group_size``). In each group,

        s = mean over (c, h, w) of sqrt( Var_group(x[:, c, h, w]) + 1e-8 )

    (the population variance over the g images), and s fills one extra feature
    map of every image of the group. A group of near-identical images gives s near 0.
    """
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.reshape(n // g, g, c, h, w).float()                        # (N/g, g, C, H, W)
    std = (y.var(dim=1, unbiased=False) + 1e-8).sqrt()               # (N/g, C, H, W)
    s = std.mean(dim=(1, 2, 3))                                      # (N/g,)
    feat = s.repeat_interleave(g).view(n, 1, 1, 1).expand(n, 1, h, w).to(x.dtype)  # (N, 1, H, W)
    return torch.cat([x, feat], dim=1)


def downsample_to(x: torch.Tensor, res: int) -> torch.Tensor:
    """Area-average images (N, C, S, S) to (N, C, res, res) (S a multiple of res)."""
    return x if x.shape[-1] == res else F.avg_pool2d(x, x.shape[-1] // res)


def fade(new: torch.Tensor, old: torch.Tensor, alpha: float) -> torch.Tensor:
    """The fade-in blend: alpha * new + (1 - alpha) * old (both (N, C, H, W) at the same resolution)."""
    return old + alpha * (new - old) if 0.0 < alpha < 1.0 else (new if alpha >= 1.0 else old)


def real_at(x: torch.Tensor, res: int, alpha: float) -> torch.Tensor:
    """Real images shown at resolution ``res``, blended across a fade like G's output:

        x_res = alpha * down_res(x) + (1 - alpha) * up2(down_{res/2}(x))      (up2: nearest neighbour)
    """
    new = downsample_to(x, res)                                      # (N, C, res, res)
    if alpha >= 1.0 or res == 4:
        return new
    old = F.interpolate(downsample_to(x, res // 2), scale_factor=2, mode="nearest")
    return fade(new, old, alpha)


# -- config ---------------------------------------------------------------------------------------


@dataclass
class ProGANConfig:
    channels: int = 3
    latent_dim: int = 128
    width: int = 16                 # channels at 64x64; doubled per halving of the resolution, at most max_width
    max_width: int = 128
    # the growing schedule (``GrowSchedule``; kept as flat fields so that the JSON sidecar reads like every config)
    final_res: int = 64
    fade_images: int = 6000
    stable_images: int = 6000
    batch_sizes: tuple[int, ...] = (32, 32, 32, 32, 32)
    equalized_lr: bool = True       # the stabilisers, each switchable
    pixel_norm: bool = True
    minibatch_stddev: bool = True
    mbstd_group: int = 4
    loss: str = "wgan-gp"           # "wgan-gp" (with drift, the paper's) or "hinge"
    gp_weight: float = 10.0         # lambda of the gradient penalty
    drift: float = 0.001            # eps_drift: penalty on D's squared scores on real images
    beta1: float = 0.0              # Adam betas (the paper: 0, 0.99)
    beta2: float = 0.99
    ema_decay: float = 0.999        # EMA of G's weights; 0 turns it off
    cond: str = "none"              # "none" or "label" (the product category)
    num_classes: int = 6
    cond_dim: int = 32
    generator_only: bool = False    # a shipped sampler: only the EMA generator (cannot be trained)

    def __post_init__(self) -> None:
        self.batch_sizes = tuple(self.batch_sizes)
        self.schedule  # noqa: B018  (validates the schedule's fields)
        if self.loss not in PROGAN_LOSSES:
            raise ValueError(f"loss {self.loss!r}: use one of {PROGAN_LOSSES}")
        if self.cond not in ("none", "label"):
            raise ValueError(f"cond {self.cond!r}: progressive GANs here are unconditional ('none') or per category ('label')")
        if self.width < 1 or self.max_width < self.width:
            raise ValueError(f"width must be >= 1 and at most max_width, got width={self.width}, max_width={self.max_width}")
        if self.mbstd_group < 1:
            raise ValueError(f"mbstd_group must be at least 1, got {self.mbstd_group}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")

    @property
    def schedule(self) -> GrowSchedule:
        """The growing schedule these fields describe."""
        return GrowSchedule(self.final_res, self.fade_images, self.stable_images, self.batch_sizes)

    @property
    def size(self) -> int:
        """The final image side (what samples have once training is done)."""
        return self.schedule.final_res

    def width_at(self, res: int) -> int:
        """Channels of the block at resolution ``res``: width * final_res / res, at most max_width."""
        return min(self.max_width, self.width * self.schedule.final_res // res)


# -- the networks --------------------------------------------------------------------------------


class _Act(nn.Module):
    """LeakyReLU(0.2), then pixel norm when on (G's activations)."""

    def __init__(self, pixnorm: bool) -> None:
        super().__init__()
        self.pixnorm = pixnorm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(x, 0.2)
        return pixel_norm(x) if self.pixnorm else x


class GBlock(nn.Module):
    """(N, c_in, H, W) -> (N, c_out, 2H, 2W): nearest 2x upsampling, two 3x3 convs, each LeakyReLU + pixel norm."""

    def __init__(self, c_in: int, c_out: int, c: ProGANConfig) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(c_in, c_out, 3, equalized=c.equalized_lr)
        self.conv2 = EqualizedConv2d(c_out, c_out, 3, equalized=c.equalized_lr)
        self.act = _Act(c.pixel_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")       # (N, c_in, 2H, 2W)
        return self.act(self.conv2(self.act(self.conv1(x))))        # (N, c_out, 2H, 2W)


class ProGenerator(nn.Module):
    """G: (z, labels) -> images (N, C, r, r) at the resolution of ``level`` (r = 4 * 2^level), blended by ``alpha``.

        4x4:  [pn(z), c] (N, latent + cond) -> linear -> (N, w4, 4, 4) -> act -> 3x3 conv -> act
        block k: (N, w_{r/2}, r/2, r/2) -> up 2x -> 3x3 conv -> act -> 3x3 conv -> act -> (N, w_r, r, r)
        rgb_k:   (N, w_r, r, r) -> 1x1 conv (linear) -> (N, C, r, r)

    with act = LeakyReLU(0.2) then pixel norm. Output values are not squashed (as in
    the paper); samples are clamped to [-1, 1].
    """

    def __init__(self, c: ProGANConfig) -> None:
        super().__init__()
        self.c = c
        eq = c.equalized_lr
        res = [4 * 2 ** k for k in range(c.schedule.levels + 1)]     # e.g. [4, 8, 16, 32, 64]
        self.condition = make_condition(c.cond, c.cond_dim, c.num_classes)
        cdim = c.cond_dim if self.condition is not None else 0
        w4 = c.width_at(4)
        # (N, latent + cond) -> (N, w4 * 16); gain sqrt(2)/4 as in the paper's dense 4x4 layer
        self.project = EqualizedLinear(c.latent_dim + cdim, w4 * 16, gain=math.sqrt(2) / 4, equalized=eq)
        self.conv4 = EqualizedConv2d(w4, w4, 3, equalized=eq)      # (N, w4, 4, 4) -> (N, w4, 4, 4)
        self.act = _Act(c.pixel_norm)
        # blocks[k - 1]: (N, w_{r/2}, r/2, r/2) -> (N, w_r, r, r) for r = res[k]
        self.blocks = nn.ModuleList(GBlock(c.width_at(a), c.width_at(b), c) for a, b in zip(res[:-1], res[1:]))
        # to_rgb[k]: (N, w_r, r, r) -> (N, C, r, r), 1x1, gain 1 (a linear output)
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c.width_at(r), c.channels, 1, gain=1.0, equalized=eq) for r in res)

    def features(self, z: torch.Tensor, cond_inputs: torch.Tensor | None, level: int) -> list[torch.Tensor]:
        """The feature maps of levels 0..level: [(N, w4, 4, 4), (N, w8, 8, 8), ...]."""
        if self.condition is not None:
            if cond_inputs is None:
                raise ValueError("this generator is conditional: give labels")
            z = torch.cat([pixel_norm(z), self.condition(cond_inputs)], dim=1)   # (N, latent + cond_dim)
        elif self.c.pixel_norm:
            z = pixel_norm(z)                                         # the latent on the sphere of radius sqrt(dim)
        h = self.act(self.project(z).view(len(z), -1, 4, 4))         # (N, w4, 4, 4)
        h = self.act(self.conv4(h))                                  # (N, w4, 4, 4)
        feats = [h]
        for block in self.blocks[:level]:
            feats.append(block(feats[-1]))                           # resolution doubles
        return feats

    def forward(self, z: torch.Tensor, cond_inputs: torch.Tensor | None = None, level: int | None = None,
                alpha: float = 1.0) -> torch.Tensor:
        """Images (N, C, r, r), r = 4 * 2^level: alpha * rgb_k(h_k) + (1 - alpha) * up2(rgb_{k-1}(h_{k-1}))."""
        level = self.c.schedule.levels if level is None else level
        feats = self.features(z, cond_inputs, level)
        new = self.to_rgb[level](feats[level])                       # (N, C, r, r)
        if level == 0 or alpha >= 1.0:
            return new
        old = F.interpolate(self.to_rgb[level - 1](feats[level - 1]), scale_factor=2, mode="nearest")  # (N, C, r, r)
        return fade(new, old, alpha)


class DBlock(nn.Module):
    """(N, c_in, H, W) -> (N, c_out, H/2, W/2): two 3x3 convs with LeakyReLU, then 2x2 average pooling."""

    def __init__(self, c_in: int, c_out: int, c: ProGANConfig) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(c_in, c_in, 3, equalized=c.equalized_lr)
        self.conv2 = EqualizedConv2d(c_in, c_out, 3, equalized=c.equalized_lr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(x), 0.2)                         # (N, c_in, H, W)
        x = F.leaky_relu(self.conv2(x), 0.2)                         # (N, c_out, H, W)
        return F.avg_pool2d(x, 2)                                    # (N, c_out, H/2, W/2)


class ProDiscriminator(nn.Module):
    """D: images (N, C, r, r) at the resolution of ``level`` -> scores (N,), the mirror of G.

        from_rgb_k: (N, C, r, r) -> 1x1 conv -> LeakyReLU -> (N, w_r, r, r)
        block k:    (N, w_r, r, r) -> (N, w_{r/2}, r/2, r/2)
        4x4 head:   [h, mbstd] (N, w4 + 1, 4, 4) -> 3x3 conv -> flatten -> linear -> phi (N, w4)
        D(x, c) = w . phi(x) + b + e(c) . phi(x)                      (projection, as in models/gan.py)

    During a fade the input of block k-1 is alpha * block_k(from_rgb_k(x)) + (1 - alpha) * from_rgb_{k-1}(down2(x)).
    """

    def __init__(self, c: ProGANConfig) -> None:
        super().__init__()
        self.c = c
        eq = c.equalized_lr
        res = [4 * 2 ** k for k in range(c.schedule.levels + 1)]
        self.from_rgb = nn.ModuleList(EqualizedConv2d(c.channels, c.width_at(r), 1, equalized=eq) for r in res)
        # blocks[k - 1]: (N, w_r, r, r) -> (N, w_{r/2}, r/2, r/2) for r = res[k]
        self.blocks = nn.ModuleList(DBlock(c.width_at(b), c.width_at(a), c) for a, b in zip(res[:-1], res[1:]))
        w4 = c.width_at(4)
        extra = 1 if c.minibatch_stddev else 0
        self.conv4 = EqualizedConv2d(w4 + extra, w4, 3, equalized=eq)   # (N, w4 + 1, 4, 4) -> (N, w4, 4, 4)
        self.dense = EqualizedLinear(w4 * 16, w4, equalized=eq)          # (N, w4 * 16) -> phi (N, w4)
        self.out = EqualizedLinear(w4, 1, gain=1.0, equalized=eq)        # (N, w4) -> (N, 1)
        self.feature_dim = w4
        self.condition = make_condition(c.cond, w4, c.num_classes)

    def phi(self, x: torch.Tensor, level: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        """Image features (N, w4) of images (N, C, r, r) at ``level``."""
        level = self.c.schedule.levels if level is None else level
        if x.shape[-1] != 4 * 2 ** level:
            raise ValueError(f"D at level {level} takes {4 * 2 ** level}x{4 * 2 ** level} images, got {tuple(x.shape)}")
        h = F.leaky_relu(self.from_rgb[level](x), 0.2)               # (N, w_r, r, r)
        if level > 0:
            h = self.blocks[level - 1](h)                            # (N, w_{r/2}, r/2, r/2)
            if alpha < 1.0:
                old = F.leaky_relu(self.from_rgb[level - 1](F.avg_pool2d(x, 2)), 0.2)
                h = fade(h, old, alpha)
            for block in reversed(self.blocks[:level - 1]):
                h = block(h)                                         # down to (N, w4, 4, 4)
        if self.c.minibatch_stddev:
            h = minibatch_stddev(h, self.c.mbstd_group)              # (N, w4 + 1, 4, 4)
        h = F.leaky_relu(self.conv4(h), 0.2)                         # (N, w4, 4, 4)
        return F.leaky_relu(self.dense(h.flatten(1)), 0.2)           # (N, w4)

    def forward(self, x: torch.Tensor, cond_inputs: torch.Tensor | None = None, level: int | None = None,
                alpha: float = 1.0) -> torch.Tensor:
        h = self.phi(x, level, alpha)                                # (N, w4)
        score = self.out(h).squeeze(1)                               # (N,)
        if self.condition is not None:
            if cond_inputs is None:
                raise ValueError("this discriminator is conditional: give labels")
            score = score + (self.condition(cond_inputs) * h).sum(1)  # e(c) . phi(x)
        return score


# -- the model -----------------------------------------------------------------------------------


class ProGAN(GeneratorModel):
    """A progressively grown GAN in the kit's trainer: ``training_step`` reads the phase from ``images_shown``.

    Buffers saved with the weights: ``images_shown`` (the clock of the schedule),
    ``phase_index``, ``level`` and ``alpha`` (the phase it implies, for readers of
    the checkpoint), ``fixed_noise`` (previews).
    """

    arch = "progan"
    Config = ProGANConfig
    images_shown: torch.Tensor
    phase_index: torch.Tensor
    level: torch.Tensor
    alpha: torch.Tensor

    def __init__(self, config: ProGANConfig) -> None:
        super().__init__(config)
        c = config
        if not c.generator_only:
            self.generator = ProGenerator(c)
            self.discriminator = ProDiscriminator(c)
            self.g_ema = ema_copy(self.generator)
        else:
            self.g_ema = ProGenerator(c).requires_grad_(False).eval()
        self.register_buffer("images_shown", torch.zeros((), dtype=torch.long))
        self.register_buffer("phase_index", torch.zeros((), dtype=torch.long))
        self.register_buffer("level", torch.zeros((), dtype=torch.long))
        self.register_buffer("alpha", torch.zeros(()))
        self.register_buffer("fixed_noise", torch.randn(64, c.latent_dim, generator=torch.Generator().manual_seed(1234)))
        self._record(phase_at(c.schedule, 0))

    def config_dict(self) -> dict:
        return asdict(self.config)

    @property
    def condition(self):
        """The condition encoder samples are drawn with (the EMA generator's), or None."""
        return self.g_ema.condition

    @property
    def phase(self) -> Phase:
        """The current phase: a function of ``images_shown`` alone."""
        return phase_at(self.config.schedule, int(self.images_shown))

    def _record(self, ph: Phase) -> None:
        self.phase_index.fill_(ph.index)
        self.level.fill_(ph.level)
        self.alpha.fill_(ph.alpha)

    # -- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor, cond_inputs: torch.Tensor | None = None, resolution: int | None = None,
                 ema: bool = True) -> torch.Tensor:
        """Images in [0, 1] (N, C, r, r) from the EMA generator: at the current phase (its alpha),
        or at a lower ``resolution`` r through that level's RGB head (alpha = 1)."""
        g = self.g_ema if ema or self.config.generator_only else self.generator
        ph = self.phase
        level, alpha = ph.level, ph.alpha
        if resolution is not None:
            if resolution not in RESOLUTIONS or 4 * 2 ** ph.level < resolution:
                raise ValueError(f"resolution must be one of {[4 * 2 ** k for k in range(ph.level + 1)]} "
                                 f"(this model has grown to {ph.resolution}x{ph.resolution}), got {resolution!r}")
            if resolution < ph.resolution:
                level, alpha = int(math.log2(resolution // 4)), 1.0
        was = g.training
        g.eval()
        out = g(z.to(self.device), cond_inputs, level=level, alpha=alpha).float()
        g.train(was and g is not self.g_ema)
        return ((out.clamp(-1, 1) + 1) / 2)

    def decode_latents(self, z: torch.Tensor, cond_inputs: torch.Tensor | None) -> torch.Tensor:
        """The sampling contract's hook: images (N, C, final_res, final_res), the current phase's output
        nearest-upsampled while the networks are still growing (so a yardstick sees one size all run long)."""
        x = self.generate(z, cond_inputs)
        return x if x.shape[-1] == self.config.size else F.interpolate(x, size=self.config.size, mode="nearest")

    @torch.no_grad()
    def sample(self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None,
               prompts: str | Sequence[str] | None = None, seed: int | None = None,
               z: torch.Tensor | None = None, resolution: int | None = None) -> torch.Tensor:
        """The kit's sampling contract (``GeneratorModel.sample``): images at the final size; with ``resolution``
        r, the r x r output of that level's RGB head instead (any r up to the current phase's)."""
        z = self.latents(n, seed, z)
        cond = self.cond_inputs(labels, prompts, n)
        if resolution is None:
            return self.decode_latents(z.to(self.device), cond)
        return self.generate(z.to(self.device), cond, resolution=resolution)

    @torch.no_grad()
    def sample_all_resolutions(self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None,
                               seed: int | None = None, z: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
        """{r: images (n, C, r, r)} for every resolution up to the current one, all from the same z."""
        z = self.latents(n, seed, z)
        return {4 * 2 ** k: self.sample(n, labels=labels, z=z, resolution=4 * 2 ** k) for k in range(self.phase.level + 1)}

    # -- training ---------------------------------------------------------------------------------
    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """Adam(lr, betas=(beta1, beta2), eps=1e-8) for each network (the paper: lr 1e-3, betas (0, 0.99))."""
        if self.config.generator_only:
            raise RuntimeError("this ProGAN holds only its EMA generator (a shipped sampler); it cannot be trained")
        betas = (self.config.beta1, self.config.beta2)
        return {"d": torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas, eps=1e-8),
                "g": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas, eps=1e-8)}

    def d_loss(self, f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
        """D's loss without the gradient penalty: WGAN (+ drift) or hinge; see the module docstring."""
        f_real, f_fake = f_real.float(), f_fake.float()
        if self.config.loss == "hinge":
            return F.relu(1.0 - f_real).mean() + F.relu(1.0 + f_fake).mean()
        return f_fake.mean() - f_real.mean() + self.config.drift * f_real.pow(2).mean()

    def training_step(self, batch: Batch, ctx: TrainingContext) -> dict[str, torch.Tensor]:
        """One D step and one G step at the phase's resolution and alpha, on the phase's batch size."""
        c = self.config
        ph = self.phase
        b = min(c.schedule.batch_at(ph.level), len(batch.x))
        real = real_at(batch.x[:b] * 2 - 1, ph.resolution, ph.alpha)    # (b, C, r, r) in [-1, 1]
        cond = self.batch_cond(batch)
        cond = None if cond is None else cond[:b]
        z = torch.randn(b, c.latent_dim, device=real.device)
        fake = self.generator(z, cond, level=ph.level, alpha=ph.alpha)  # (b, C, r, r)

        # D step (real and fake in separate passes: the minibatch-stddev groups never mix them)
        self.discriminator.requires_grad_(True)
        f_real = self.discriminator(real, cond, ph.level, ph.alpha)
        f_fake = self.discriminator(fake.detach(), cond, ph.level, ph.alpha)
        loss_d = self.d_loss(f_real, f_fake)
        logs: dict[str, torch.Tensor] = {}
        if c.loss == "wgan-gp":
            gp = gradient_penalty(lambda x: self.discriminator(x, cond, ph.level, ph.alpha), real, fake)
            logs["gp"] = gp.detach()
            loss_d = loss_d + c.gp_weight * gp
        ctx.step("d", loss_d)

        # G step: D frozen, its input gradient flows into G
        self.discriminator.requires_grad_(False)
        loss_g = -self.discriminator(fake, cond, ph.level, ph.alpha).float().mean()
        ctx.step("g", loss_g)
        self.discriminator.requires_grad_(True)

        self.images_shown += b
        self._record(self.phase)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": f_real.detach().float().mean(),
                "d_fake": f_fake.detach().float().mean(), "alpha": torch.tensor(ph.alpha),
                "resolution": torch.tensor(float(ph.resolution)), **logs}

    def after_step(self, step: int) -> None:
        """EMA of G's weights: theta_ema <- d theta_ema + (1 - d) theta."""
        ema_update(self.g_ema, self.generator, ema_decay_at(step, self.config.ema_decay))

    def validation_metrics(self, data) -> dict[str, float]:
        """Where the schedule is (logged in the run's history): images shown, phase, resolution, alpha."""
        ph = self.phase
        return {"images_shown": float(self.images_shown), "phase": float(ph.index),
                "resolution": float(ph.resolution), "alpha": ph.alpha}

    #: What a generator-only (shipped sampler) checkpoint keeps: ``pgan_lib.pretrained.export_sampler``.
    sampler_keys: ClassVar[tuple[str, ...]] = ("g_ema.", "fixed_noise", "images_shown", "phase_index", "level", "alpha")
