"""Image-to-image repair: a U-Net generator, a PatchGAN discriminator, pix2pix training.

The generator G sees the damaged image and its mask (1 = missing) as channels
and returns a whole image; only its hole is kept (``pgan_lib.data.masks.composite``):

    input   u = [damage(x, m) * 2 - 1,  m]                     (N, C + 1, H, W)
    output  y = composite(x, (G(u, c) + 1) / 2, m)               c: optional description vector

Training (pix2pix, Isola et al. 2017), with a hole-weighted L1 term:

    L_G = l1_weight * sum(w * m * |G(u) - x|) / sum(w * m)  +  adv_weight * loss_g(D(u, y))
    L_D = loss_d(D(u, x), D(u, y))                  (the kit's GAN losses, ``gan.d_loss``/``g_loss``)

(plus ``spectral_weight`` times a Fourier-magnitude term on the hole, ``Pix2Pix.spectral_term``,
which asks for a pattern's period and strength but not its position, and ``gradient_weight`` times
a gradient-difference term, ``Pix2Pix.gradient_term``, which asks for edges as strong as the
photo's, and ``edge_hist_weight`` times ``Pix2Pix.edge_histogram_term``, which asks for as many
strong edges as the photos have, wherever they are; ``l1_pool`` k compares k x k averages in the
L1 term), with images in [-1, 1] (pix2pix's scale, where its default weight 100 was set),
w = border_weight on the hole pixels next to the kept region and 1 elsewhere
(Context Encoders' heavier border weight; 1 turns it off). ``adv_weight = 0``
is the L1-only U-Net: no discriminator is built.

The U-Net, for 28x28 and width 32 (32x32 adds one more level, from 4x4):

    u (N, C+1, 28, 28) -> conv3 -> e0 (N, 32, 28, 28)
      -> 4x4 conv s2 -> e1 (N, 64, 14, 14) -> 4x4 conv s2 -> e2 (N, 128, 7, 7)
      -> residual blocks, FiLM by c (N, 128, 7, 7)
      -> up x2 (N, 128, 14, 14) ++ e1 -> conv3 -> (N, 64, 14, 14)      ++: skip connection (concatenation)
      -> up x2 (N, 64, 28, 28) ++ e0 -> conv3 -> (N, 32, 28, 28) -> conv1 -> tanh (N, C, 28, 28)

"up x2" is nearest-neighbour resizing, and the 3x3 convolution after the join draws the detail; the
``upsample="transposed"`` option uses 4x4 transposed convolutions with stride 2
instead, whose uneven kernel overlap paints the checkerboard artefacts that
pix2pix outputs are known for (Odena et al. 2016).

FiLM (Perez et al. 2018): every bottleneck block (and, with ``film="decoder"``,
every decoder level) scales and shifts its channels by the description vector,

    h <- h * (1 + gamma(c)) + beta(c),     gamma, beta linear in c, zero at initialisation

with c from the shipped CLIP's frozen text encoder (``Pix2Pix.from_text_encoder``).

PatchGAN: D is fully convolutional and scores every patch of the (input,
output) pair; each score sees a square of the image whose side is its
receptive field (``receptive_field``):

    r = 1 + sum_l (k_l - 1) * d_l * prod_{j<l} s_j      (kernel k, dilation d, stride s of layer l)

Super-resolution is the same problem: the input is the low-resolution image
resized to full size (bicubic), the mask is all ones (every pixel is to be
repaired) and the output is used whole.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..data.masks import FILL, border_band, composite, damage, make_masks, parse_mixture
from ..text import TextCondition, TextEncoder, TextEncoderConfig
from .base import KitModel, config_from_dict
from .gan import LOSSES, d_loss, g_loss
from .layers import down_steps
from .optim import adam

TASKS = ("inpaint", "sr")
UPSAMPLING = ("resize", "transposed")


@dataclass
class Pix2PixConfig:
    channels: int = 1
    size: int = 28
    task: str = "inpaint"            # "inpaint" or "sr" (super-resolution)
    sr_factor: int = 2               # sr: the low-resolution side is size // sr_factor
    width: int = 32                  # U-Net channels at full resolution; doubled per level down
    blocks: int = 2                  # residual blocks at the bottleneck
    upsample: str = "resize"         # "resize" (nearest + conv) or "transposed" (checkerboard demo)
    l1_weight: float = 100.0         # pix2pix's lambda
    adv_weight: float = 1.0          # 0: the L1-only U-Net (no discriminator)
    loss: str = "hinge"              # the GAN loss, one of gan.LOSSES
    border_weight: float = 1.0       # L1 weight of hole pixels next to the kept region (1: off)
    border_width: int = 2
    spectral_weight: float = 0.0     # weight of the hole's Fourier-magnitude term (0: off), see spectral_term
    gradient_weight: float = 0.0     # weight of the hole's gradient-difference term (0: off), see gradient_term
    edge_hist_weight: float = 0.0    # weight of the hole's edge-strength histogram term (0: off), see edge_histogram_term
    l1_pool: int = 1                 # the L1 term compares k x k averages of the hole (1: every pixel), see l1_term
    d_width: int = 32                # PatchGAN channels after its first layer
    d_down: int = 2                  # stride-2 layers of the PatchGAN
    masks: str = "centre"            # training masks: a kind or a mixture, see data.masks.make_masks
    eval_masks: str = "centre"       # the fixed masks of validation
    cond: str = "none"               # "none" or "text" (a frozen text encoder, FiLM)
    film: str = "decoder"            # "bottleneck" or "decoder" (bottleneck and every decoder level)
    d_cond: bool = False             # cond="text": the PatchGAN reads the description too (projection)
    text_encoder: dict = field(default_factory=dict)   # cond="text": the encoder's TextEncoderConfig
    beta1: float = 0.5
    beta2: float = 0.999
    val_images: int = 512

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r}: use one of {TASKS}")
        if self.upsample not in UPSAMPLING:
            raise ValueError(f"upsample {self.upsample!r}: use one of {UPSAMPLING}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss {self.loss!r}: use one of {LOSSES}")
        if self.cond not in ("none", "text"):
            raise ValueError(f"cond {self.cond!r}: use 'none' or 'text' (build with Pix2Pix.from_text_encoder)")
        if self.cond == "text" and not self.text_encoder:
            raise ValueError("cond='text' needs the text encoder's config: build with Pix2Pix.from_text_encoder(encoder)")
        if self.d_cond and self.cond != "text":
            raise ValueError("d_cond needs a description (cond='text'): only a guided model's PatchGAN can read one")
        if self.film not in ("bottleneck", "decoder"):
            raise ValueError(f"film {self.film!r}: use 'bottleneck' or 'decoder'")
        if min(self.adv_weight, self.l1_weight, self.spectral_weight, self.gradient_weight, self.edge_hist_weight) < 0:
            raise ValueError("l1_weight, adv_weight, spectral_weight, gradient_weight and edge_hist_weight "
                             "must be non-negative")
        if self.l1_pool < 1 or self.size % self.l1_pool:
            raise ValueError(f"l1_pool {self.l1_pool} must be at least 1 and divide the size {self.size}")
        if self.l1_pool > 1 and self.border_weight != 1.0:
            raise ValueError(f"l1_pool {self.l1_pool} compares cell averages, which have no border band: "
                             f"use border_weight 1 with it (got {self.border_weight})")
        if self.task == "sr" and (self.size % self.sr_factor or self.sr_factor < 2):
            raise ValueError(f"sr_factor {self.sr_factor} must be at least 2 and divide the size {self.size}")
        parse_mixture(self.masks)
        parse_mixture(self.eval_masks)
        down_steps(self.size)


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c // 4), c)


class FiLM(nn.Module):
    """h * (1 + gamma(c)) + beta(c) per channel; the identity at initialisation or without c."""

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.affine = nn.Linear(cond_dim, 2 * channels) if cond_dim else None
        if self.affine is not None:
            nn.init.zeros_(self.affine.weight)
            nn.init.zeros_(self.affine.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if self.affine is None or c is None:
            return h
        gamma, beta = self.affine(c).chunk(2, dim=1)                    # (N, C) each
        return h * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


class ResBlock(nn.Module):
    """(N, C, h, w) -> (N, C, h, w): x + conv(act(norm(conv(act(norm(x)))))), FiLM before the second conv."""

    def __init__(self, c: int, cond_dim: int) -> None:
        super().__init__()
        self.n1, self.c1 = _norm(c), nn.Conv2d(c, c, 3, 1, 1)
        self.n2, self.c2 = _norm(c), nn.Conv2d(c, c, 3, 1, 1)
        self.film = FiLM(c, cond_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        h = self.film(self.n2(h), c)
        return x + self.c2(F.silu(h))


class Up(nn.Module):
    """(N, c_in, h, w) + skip (N, c_skip, 2h, 2w) -> (N, c_out, 2h, 2w): up-sample, join the skip, 3x3 conv.

    "resize": nearest-neighbour x2 (no weights), the 3x3 convolution after the join does the work;
    "transposed": a learned 4x4 transposed convolution with stride 2 (the checkerboard-prone choice).
    """

    def __init__(self, c_in: int, c_skip: int, c_out: int, mode: str, cond_dim: int) -> None:
        super().__init__()
        if mode == "transposed":
            self.up: nn.Module = nn.ConvTranspose2d(c_in, c_in, 4, 2, 1)  # (N, c_in, 2h, 2w)
        else:
            self.up = nn.Upsample(scale_factor=2, mode="nearest")         # (N, c_in, 2h, 2w)
        self.merge = nn.Conv2d(c_in + c_skip, c_out, 3, 1, 1)            # after concatenating the skip
        self.norm = _norm(c_out)
        self.film = FiLM(c_out, cond_dim)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h = self.merge(torch.cat([self.up(x), skip], 1))
        return F.silu(self.film(self.norm(h), c))


class UNet(nn.Module):
    """Encoder-decoder with skip connections: (N, C + 1, H, W) in [-1, 1] -> (N, C, H, W) in [-1, 1]."""

    def __init__(self, cfg: Pix2PixConfig, cond_dim: int = 0) -> None:
        super().__init__()
        steps, _ = down_steps(cfg.size)
        chans = [min(cfg.width * 2 ** i, 256) for i in range(steps + 1)]  # e.g. 28x28: [32, 64, 128]
        dec_cond = cond_dim if cfg.film == "decoder" else 0
        self.stem = nn.Conv2d(cfg.channels + 1, chans[0], 3, 1, 1)       # (N, C+1, H, W) -> (N, w, H, W)
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 4, 2, 1), _norm(b), nn.SiLU()) for a, b in zip(chans[:-1], chans[1:]))
        self.mid = nn.ModuleList(ResBlock(chans[-1], cond_dim) for _ in range(cfg.blocks))
        self.ups = nn.ModuleList(
            Up(b, a, a, cfg.upsample, dec_cond) for a, b in zip(reversed(chans[:-1]), reversed(chans[1:])))
        self.out = nn.Conv2d(chans[0], cfg.channels, 1)

    def forward(self, u: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = F.silu(self.stem(u))
        skips = [h]
        for down in self.downs:
            h = down(h)                                                  # side halves, channels double
            skips.append(h)
        skips.pop()                                                      # the bottleneck is not a skip
        for block in self.mid:
            h = block(h, c)
        for up in self.ups:
            h = up(h, skips.pop(), c)                                    # side doubles, skip joined
        return torch.tanh(self.out(h))


class PatchDiscriminator(nn.Module):
    """PatchGAN on (input, output) pairs: (N, 2C + 1, H, W) -> patch scores (N, 1, h, w).

    ``d_down`` stride-2 4x4 convolutions, one stride-1 4x4 convolution, then a
    stride-1 4x4 convolution to one channel; spectral norm on every layer.

    With a description vector c (``d_cond``, a guided model) each patch score also
    asks whether the patch fits the words, by projection (Miyato & Koyama 2018):

        score = head(h) + pool( <embed(c), h> )          h: the features before the head (N, F, h+1, w+1)

    where pool averages 2x2 neighbours so the inner product lands on the head's grid.
    """

    def __init__(self, cfg: Pix2PixConfig, cond_dim: int = 0) -> None:
        super().__init__()
        c_in, layers, w = 2 * cfg.channels + 1, [], cfg.d_width
        for i in range(cfg.d_down):
            layers += [spectral_norm(nn.Conv2d(c_in, w * 2 ** i, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = w * 2 ** i
        layers += [spectral_norm(nn.Conv2d(c_in, 2 * c_in, 4, 1, 1)), nn.LeakyReLU(0.2),
                   spectral_norm(nn.Conv2d(2 * c_in, 1, 4, 1, 1))]                # the head: last layer of net
        self.net = nn.Sequential(*layers)
        self.embed = spectral_norm(nn.Linear(cond_dim, 2 * c_in)) if cond_dim else None

    def forward(self, u: torch.Tensor, y: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.net[:-1](torch.cat([u, y], 1))                          # (N, F, h + 1, w + 1)
        score = self.net[-1](h)                                          # (N, 1, h, w)
        if self.embed is not None and c is not None:
            inner = (h * self.embed(c)[:, :, None, None]).sum(1, keepdim=True)
            score = score + F.avg_pool2d(inner, 2, 1)
        return score


def receptive_field(module: nn.Module) -> int:
    """Side in pixels of the input square one output unit of a plain stack of convolutions sees.

    r = 1 + sum_l (k_l - 1) * d_l * J_l,   J_l = prod_{j<l} s_j  (the jump: input pixels per step at layer l)
    """
    r, jump = 1, 1
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            k, s, d = m.kernel_size[0], m.stride[0], m.dilation[0]
            r += (k - 1) * d * jump
            jump *= s
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            r += (k - 1) * jump
            jump *= s
    return r


def sr_input(images: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-size images -> (the low-resolution images (N, C, H/f, W/f) by area averaging, and those
    resized back to full size by bicubic interpolation, clamped to [0, 1]): the SR model's input."""
    low = F.avg_pool2d(images, factor)
    return low, upsample_bicubic(low, images.shape[-1])


def upsample_bicubic(low: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic resizing to size x size, clamped to [0, 1]: the classical super-resolution baseline."""
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


class Pix2Pix(KitModel):
    """U-Net repair model (inpainting or super-resolution), L1 + optional PatchGAN, optional description."""

    arch = "pix2pix"
    Config = Pix2PixConfig

    def __init__(self, config: Pix2PixConfig) -> None:
        super().__init__(config)
        c = config
        self.condition = None
        if c.cond == "text":   # a pre-trained Transformer, frozen: only the U-Net learns
            encoder = TextEncoder(config_from_dict(TextEncoderConfig, c.text_encoder)).requires_grad_(False)
            self.condition = TextCondition(encoder)
        self.generator = UNet(c, self.condition.dim if self.condition is not None else 0)
        d_cond = self.condition.dim if (self.condition is not None and c.d_cond) else 0
        self.discriminator = PatchDiscriminator(c, d_cond) if c.adv_weight > 0 else None

    @classmethod
    def from_text_encoder(cls, encoder: TextEncoder, **overrides: Any) -> "Pix2Pix":
        """A description-guided repair model reading descriptions with a pre-trained text encoder
        (copied and frozen), e.g. ``Pix2Pix.from_text_encoder(clip.text_encoder, channels=3, size=32)``."""
        model = cls(Pix2PixConfig(cond="text", text_encoder=asdict(encoder.config), **overrides))
        assert model.condition is not None
        model.condition.encoder.load_state_dict(encoder.state_dict())
        return model

    def train(self, mode: bool = True) -> "Pix2Pix":
        super().train(mode)
        if self.condition is not None:
            self.condition.eval()    # frozen encoder: dropout off
        return self

    # -- the generator as a function -------------------------------------------------------------
    def model_input(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """[damage(images, masks) * 2 - 1, masks]: (N, C + 1, H, W).

        For super-resolution the image is the bicubic up-sampled one, kept whole (every pixel is
        to be redrawn, none is unknown), and the mask channel is all ones.
        """
        if self.config.task == "sr":
            return torch.cat([images * 2 - 1, torch.ones_like(masks)], 1)
        return torch.cat([damage(images, masks, FILL) * 2 - 1, masks], 1)

    def _cond(self, cond_inputs: torch.Tensor | None) -> torch.Tensor | None:
        if self.condition is None:
            return None
        if cond_inputs is None:
            raise ValueError("this repair model reads a description: pass prompts=[...]")
        return self.condition(cond_inputs.to(self.device))

    def prompt_inputs(self, prompts: str | list[str] | None, n: int) -> torch.Tensor | None:
        """Tokens of one description per image (a single string counts for all n), checked; None when unguided."""
        if self.condition is None:
            if prompts is not None:
                raise ValueError("this repair model does not read descriptions: leave out the prompts")
            return None
        if prompts is None:
            raise ValueError("this repair model reads a description: pass prompts=[...] (one per image)")
        prompts = [prompts] * n if isinstance(prompts, str) else list(prompts)
        if len(prompts) != n:
            raise ValueError(f"{len(prompts)} prompts for {n} images")
        return self.condition.inputs_from_prompts(prompts)

    def raw_output(self, images: torch.Tensor, masks: torch.Tensor, cond_inputs: torch.Tensor | None = None) -> torch.Tensor:
        """G's whole image in [0, 1] (N, C, H, W) for images in [0, 1] and masks (before compositing)."""
        u = self.model_input(images.to(self.device), masks.to(self.device))
        return (self.generator(u, self._cond(cond_inputs)).float() + 1) / 2

    @torch.no_grad()
    def repair(self, images: torch.Tensor, masks: torch.Tensor, prompts: str | list[str] | None = None,
               batch_size: int = 256) -> torch.Tensor:
        """Repaired images in [0, 1] (N, C, H, W): the model's output in the hole, ``images`` outside it.

        images: (N, C, H, W) in [0, 1] (what is inside the hole is ignored); masks (N, 1, H, W), 1 = missing;
        prompts: one description per image for a description-guided model.
        """
        if self.config.task != "inpaint":
            raise ValueError("this is a super-resolution model: use upscale(low_res_images)")
        self._check_images(images)
        if masks.ndim == 3:
            masks = masks[:, None]
        cond = self.prompt_inputs(prompts, len(images))
        was = self.training
        self.eval()
        out = []
        for i in range(0, len(images), batch_size):
            sl = slice(i, i + batch_size)
            raw = self.raw_output(images[sl], masks[sl].float(), None if cond is None else cond[sl]).cpu()
            out.append(composite(images[sl].float().cpu(), raw, masks[sl].cpu()))
        self.train(was)
        return torch.cat(out) if out else images.float()

    @torch.no_grad()
    def upscale(self, low: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Low-resolution images (N, C, size/f, size/f) in [0, 1] -> (N, C, size, size) in [0, 1]."""
        c = self.config
        if c.task != "sr":
            raise ValueError("this is an inpainting model: use repair(images, masks)")
        side = c.size // c.sr_factor
        if low.ndim != 4 or low.shape[1] != c.channels or low.shape[-2:] != (side, side):
            raise ValueError(f"this model up-samples {c.channels}-channel {side}x{side} images to {c.size}x{c.size}; "
                             f"got shape {tuple(low.shape)}")
        was = self.training
        self.eval()
        out = []
        for i in range(0, len(low), batch_size):
            up = upsample_bicubic(low[i:i + batch_size].float(), c.size)
            out.append(self.raw_output(up, torch.ones(len(up), 1, c.size, c.size)).cpu())
        self.train(was)
        return torch.cat(out)

    def _check_images(self, images: torch.Tensor) -> None:
        c = self.config
        if images.ndim != 4 or images.shape[1] != c.channels or images.shape[-2:] != (c.size, c.size):
            raise ValueError(f"this model repairs {c.channels}-channel {c.size}x{c.size} images; got shape {tuple(images.shape)}")

    # -- training --------------------------------------------------------------------------------
    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        opts: dict[str, torch.optim.Optimizer] = {"g": adam(self.generator.parameters(), lr=lr, betas=betas)}
        if self.discriminator is not None:
            opts["d"] = adam(self.discriminator.parameters(), lr=lr, betas=betas)
        return opts

    def batch_extra(self, data) -> dict[str, torch.Tensor]:
        """Tokenised descriptions (guided model) and, for paired data, the source images of the kept part."""
        extra = super().batch_extra(data)
        sources = getattr(data, "sources", None)
        if sources is not None:
            extra["source"] = sources
        return extra

    def make_pair(self, batch_x: torch.Tensor, source: torch.Tensor | None = None,
                  generator: torch.Generator | None = None, kind: str | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(model input images, masks, targets) for a batch of clean images in [0, 1].

        Inpainting: masks drawn from ``kind`` (default: the training masks); the target is
        the batch itself, or (1 - m) * source + m * batch for paired data. SR: the bicubic
        up-sampled low-resolution image, masks all ones, the batch as target.
        """
        c = self.config
        n = len(batch_x)
        if c.task == "sr":
            _, up = sr_input(batch_x, c.sr_factor)
            return up, torch.ones(n, 1, c.size, c.size, device=batch_x.device), batch_x
        masks = make_masks(kind or c.masks, n, c.size, generator).to(batch_x.device)
        if source is None:
            return batch_x, masks, batch_x
        target = source * (1 - masks) + batch_x * masks
        return target, masks, target

    def l1_term(self, out: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """sum(w * m * |out - target|) / sum(w * m) per pixel and channel, images in [-1, 1].

        With ``l1_pool`` k > 1 the errors are first averaged over k x k cells,
        sum_cells |avg(m * (out - target))| / sum_cells avg(m): a fill may differ from the
        photo in detail that averages out within a cell (an edge a pixel to the left), and
        only the adversarial term judges that detail. With k = 1 it is the plain hole L1.
        """
        c = self.config
        if c.l1_pool > 1:
            k = c.l1_pool
            cells = F.avg_pool2d(masks * (out - target), k).abs().mean(1)  # (N, H/k, W/k)
            return cells.sum() / F.avg_pool2d(masks, k).sum().clamp(min=1.0 / k**2)
        w = masks
        if c.border_weight != 1.0:
            w = masks + (c.border_weight - 1.0) * border_band(masks, c.border_width)
        diff = (out - target).abs().mean(1, keepdim=True)               # (N, 1, H, W)
        return (w * diff).sum() / w.sum().clamp(min=1.0)

    @staticmethod
    def hole_edges(out: torch.Tensor, target: torch.Tensor, masks: torch.Tensor
                   ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(|d out|, |d target|, near) for dy then dx: d is the difference of neighbouring pixels
        (N, C, H - 1, W) or (N, C, H, W - 1), and near (N, 1, ...) is 1 for a pair with a pixel in the hole."""
        edges = []
        for dim in (2, 3):                                               # dy, then dx
            near = torch.maximum(masks.narrow(dim, 1, masks.shape[dim] - 1),
                                 masks.narrow(dim, 0, masks.shape[dim] - 1))
            edges.append((out.diff(dim=dim).abs(), target.diff(dim=dim).abs(), near))
        return edges

    @classmethod
    def gradient_term(cls, out: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Gradient difference (Mathieu et al. 2016) on the hole, images in [-1, 1]:

            mean over neighbour pairs touching the hole of  | |dx out| - |dx target| |  (and the same for dy)

        where dx is the difference of horizontally neighbouring pixels. It asks for edges as
        strong as the photo's where the photo has them, and pays nothing for the sign of an edge.
        ``out`` is the composite (the photo outside the hole), so the hole's border counts too.
        """
        total, pairs = out.new_zeros(()), out.new_zeros(())
        for d_out, d_t, near in cls.hole_edges(out, target, masks):
            total = total + (near * (d_out - d_t).abs().mean(1, keepdim=True)).sum()
            pairs = pairs + near.sum()
        return total / pairs.clamp(min=1.0)

    @classmethod
    def edge_histogram_term(cls, out: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """How far the batch's edge strengths in the hole are from the photos', wherever the edges are:

            mean_i | sort(e_out)_i - sort(e_target)_i |

        with e the |dx| and |dy| of every neighbour pair touching the hole (all images and channels
        of the batch, one list). Sorting both lists pairs the k-th strongest edge of the fill with
        the k-th strongest of the photos, so this is the 1-D Wasserstein distance between the two
        histograms of edge strength (a histogram loss, Risser et al. 2017). Unlike
        ``gradient_term`` it does not ask where an edge is: when its position is unknowable, the
        pixel-wise terms pay least for a blur, and this one asks for as many strong edges as the
        photos have. Images in [-1, 1], ``out`` the composite.
        """
        e_out, e_t = [], []
        for d_out, d_t, near in cls.hole_edges(out, target, masks):
            keep = near.expand_as(d_out) > 0
            e_out.append(d_out[keep])
            e_t.append(d_t[keep])
        a, b = torch.cat(e_out), torch.cat(e_t)
        if a.numel() == 0:
            return out.new_zeros(())
        return (a.sort().values - b.sort().values).abs().mean()

    def spectral_term(self, out: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Mean |  |F(m * out)| - |F(m * target)|  | over frequencies and channels, images in [-1, 1].

        F is the 2-D discrete Fourier transform (orthonormal, so its magnitudes are on the pixels'
        scale). Shifting a pattern changes only the phase of its transform, not the magnitude, so
        this term asks for stripes or dots of the right size and strength *without* asking for
        their exact position, which an L1 term cannot do when the position is unknowable (a
        pattern the visible part does not show): L1 then pays least for a blur of all positions.
        """
        def magnitude(z: torch.Tensor) -> torch.Tensor:
            return torch.fft.rfft2((z * masks).float(), norm="ortho").abs()          # (N, C, H, W // 2 + 1)

        return (magnitude(out) - magnitude(target)).abs().mean()

    def training_step(self, batch, ctx) -> dict[str, torch.Tensor]:
        """One D step (pix2pix) then one G step on L1 + adversarial loss."""
        c = self.config
        source = batch.extra.get("source")
        source = None if source is None else source.float() / 255.0
        images, masks, target = self.make_pair(batch.x, source)
        cond = self._cond(batch.extra["tokens"]) if self.condition is not None else None
        u = self.model_input(images, masks)                             # (N, C + 1, H, W)
        out = self.generator(u, cond)                                   # (N, C, H, W) in [-1, 1]
        t = target * 2 - 1
        fake = out * masks + t * (1 - masks)                            # the composite, in [-1, 1]
        logs: dict[str, torch.Tensor] = {}
        if self.discriminator is not None:
            self.discriminator.requires_grad_(True)
            d_c = cond.detach() if (cond is not None and c.d_cond) else None
            loss_d = d_loss(c.loss, self.discriminator(u, t, d_c), self.discriminator(u, fake.detach(), d_c))
            ctx.step("d", loss_d)
            logs["loss_d"] = loss_d.detach()
            self.discriminator.requires_grad_(False)
        l1 = self.l1_term(out, t, masks)
        loss_g = c.l1_weight * l1
        if c.spectral_weight > 0:
            spec = self.spectral_term(out, t, masks)
            loss_g = loss_g + c.spectral_weight * spec
            logs["spectral"] = spec.detach()
        if c.gradient_weight > 0:
            grad = self.gradient_term(fake, t, masks)
            loss_g = loss_g + c.gradient_weight * grad
            logs["gradient"] = grad.detach()
        if c.edge_hist_weight > 0:
            hist = self.edge_histogram_term(fake, t, masks)
            loss_g = loss_g + c.edge_hist_weight * hist
            logs["edge_hist"] = hist.detach()
        if self.discriminator is not None:
            adv = g_loss(c.loss, self.discriminator(u, fake, d_c))
            loss_g = loss_g + c.adv_weight * adv
            logs["adv_g"] = adv.detach()
        ctx.step("g", loss_g)
        if self.discriminator is not None:
            self.discriminator.requires_grad_(True)
        return {"loss_g": loss_g.detach(), "l1": l1.detach(), **logs}

    # -- validation ------------------------------------------------------------------------------
    @torch.no_grad()
    def validation_metrics(self, data) -> dict[str, float]:
        """Hole L1 and PSNR (in [0, 1] units) on the first ``val_images`` validation images, fixed masks (seed 0)."""
        c = self.config
        n = min(len(data), c.val_images)
        x = data.float_images(slice(0, n)).to(self.device)
        images, masks, target = self.make_pair(x, None, torch.Generator().manual_seed(0), c.eval_masks)
        cond = None
        if self.condition is not None:
            cond = self.condition.inputs_for(data.subset(slice(0, n)))
        out = self.raw_output(images, masks, cond)
        rep = composite(target, out, masks)
        err = ((rep - target).abs().mean(1, keepdim=True) * masks).sum() / masks.sum()
        mse = (((rep - target) ** 2).mean(1, keepdim=True) * masks).flatten(1).sum(1) / masks.flatten(1).sum(1)
        psnr = (10 * torch.log10(1.0 / mse.clamp(min=1e-10))).mean()
        return {"val_hole_l1": float(err), "val_hole_psnr": float(psnr)}


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())
