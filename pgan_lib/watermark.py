"""An invisible watermark for small product images (28x28 grey, 32x32 colour), with blind decoding.

Why not the usual library: the common open-source invisible watermark refuses
images under 256x256, so the kit's images would carry nothing. Why not plain
spread spectrum (add a keyed +-1 pattern per bit, decode by the sign of a
correlation): at 38 dB on 784 pixels each bit gets an amplitude of about 0.06
while the image itself projects onto the pattern with a spread of 0.2-0.4, so
the host drowns the mark. This module uses *quantisation* instead, which
cancels the host (Chen & Wornell's spread-transform dither modulation, STDM):

1. Luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` (grey: the image), and its
   orthonormal 2-D DCT ``C = D Y D^T``. Keep the mid band ``lo <= u + v < hi``
   (N coefficients): it survives JPEG and 2x resizing better than high
   frequencies and costs less than the low ones.
2. A secret key seeds 32 orthonormal patterns ``p_b`` (N,) in that band and
   32 dithers ``d_b`` in [0, step). Bit b is carried by the projection
   ``c_b = <C_band, p_b>``:

       bit 0:  c_b in  d_b + step * Z
       bit 1:  c_b in  d_b + step/2 + step * Z

   Embedding moves each ``c_b`` to the nearest point of its bit's lattice
   (so the host's own value costs nothing but the rounding, |move| <= step/2),
   adding the same change to R, G and B (a pure luminance change).
3. Blind decoding: ``bit_b = round((c_b - d_b) / (step/2)) mod 2``, and the soft
   score ``s_b = cos(2 pi (c_b - d_b) / step)`` (+1 for a clean 0, -1 for a clean 1).

Quantisation is fragile to amplitude changes: a 2x down-then-up resize scales
the band by 0.5-0.9. So the decoder has a second *hypothesis*, "this image was
resized": with the resize written as a matrix ``M`` (found by resizing every
basis image), it reads the projections through patterns ``Q`` that undo it,
``Q = argmin E||Q^T M x - W^T x||^2 + lam ||Q||^2`` under a 1/f^a image prior
(W: the band patterns in pixel space); and the embedder, which knows the image,
puts *both* readings on their lattices with one least-norm (ridge) change per
round (attack-aware embedding). The decoder keeps the hypothesis whose
projections sit closest to a lattice:

    fit = mean_b cos(4 pi (c_b - d_b) / step)        (1: every c_b on a lattice point, ~0: random)

Detection: an image "carries payload P" when at least ``match_threshold`` of the
32 decoded bits equal P (the threshold set from unmarked images, false
positives measured); "carries some mark" uses ``fit``.

Limits (measured in ``benchmarks/watermark.py`` and notebook 12): the decoder is
public math plus a secret key; with the key (or a differentiable copy of the
decoder) a PGD attack moves the 32 projections by step/4 with a tiny L-inf
budget, removing the mark or forging one onto a real photo.
"""
from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageFilter

from .attacks import pgd_maximise
from .images import to_uint8

LUMA = (0.299, 0.587, 0.114)
PAYLOAD_BITS = 32


@dataclass(frozen=True)
class WatermarkConfig:
    """The scheme's settings. ``for_size(28)`` / ``for_size(32)`` give the kit's defaults, chosen on
    validation images of Fashion-MNIST and the catalogue (never on the test split the tables use)."""

    size: int = 28                  # image side: 28 (Fashion-MNIST) or 32 (catalogue)
    key: int = 20261130             # the secret: seeds the patterns and dithers
    band: tuple[int, int] = (4, 10)  # DCT band lo <= u + v < hi
    step: float = 0.19              # lattice step of each projection (pixel units of [0, 1])
    iters: int = 6                  # embedding rounds (clipping and the resize reading)
    resize_lam: float = 1e-5        # ridge of the resize-undoing reading
    prior_power: float = 0.0        # a of the 1/f^a image prior the resize-undoing reading assumes
    joint_ridge: float = 2.0        # ridge of the joint (direct + resized) embedding solve: larger = cheaper, weaker
    match_threshold: int = 24       # bits of 32 that must match a payload to call it present
    fit_threshold: float = 0.30     # lattice fit above which an image "carries some mark" (1% of unmarked val images)

    @classmethod
    def for_size(cls, size: int, **overrides) -> "WatermarkConfig":
        """The defaults for 28x28 grey (edgy photos: a larger step) and 32x32 colour images."""
        tuned = {28: dict(step=0.19, prior_power=0.0, joint_ridge=2.0, fit_threshold=0.291),
                 32: dict(step=0.15, prior_power=2.0, joint_ridge=1.0, fit_threshold=0.301)}.get(size, {})
        return cls(size=size, **{**tuned, **overrides})

    def __post_init__(self) -> None:
        lo, hi = self.band
        if self.size < 8 or self.size % 2:
            raise ValueError(f"size must be an even side of at least 8 pixels, got {self.size}")
        if not 0 < lo < hi:
            raise ValueError(f"band must be 0 < lo < hi, got {self.band}")
        n_band = sum(1 for u in range(self.size) for v in range(self.size) if lo <= u + v < hi)
        if n_band < PAYLOAD_BITS:
            raise ValueError(f"band {self.band} has {n_band} coefficients; it needs at least {PAYLOAD_BITS}")
        if not self.step > 0:
            raise ValueError(f"step must be > 0, got {self.step}")
        if not 0 <= self.match_threshold <= PAYLOAD_BITS:
            raise ValueError(f"match_threshold must be in 0..{PAYLOAD_BITS}, got {self.match_threshold}")


def dct_matrix(n: int) -> torch.Tensor:
    """The orthonormal DCT-II matrix D (n, n): C = D Y D^T, Y = D^T C D."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)
    return d


def resize_matrix(n: int) -> torch.Tensor:
    """M (n*n, n*n): the 2x bilinear down-then-up resize of Pillow as a matrix, y = M x (float, no rounding)."""
    cols = []
    for j in range(n * n):
        e = np.zeros(n * n, dtype=np.float32)
        e[j] = 1.0
        im = Image.fromarray(e.reshape(n, n), mode="F")
        out = im.resize((n // 2, n // 2), Image.Resampling.BILINEAR).resize((n, n), Image.Resampling.BILINEAR)
        cols.append(np.asarray(out, dtype=np.float64).ravel())
    return torch.from_numpy(np.stack(cols, 1))


@dataclass
class _Keyed:
    """What the key determines, in pixel space: patterns W (P, 32), resize-undoing Q (P, 32), dithers (32,)."""

    W: torch.Tensor
    Q: torch.Tensor
    M: torch.Tensor
    joint: torch.Tensor
    dither: torch.Tensor


@lru_cache(maxsize=8)
def _keyed(config: WatermarkConfig) -> _Keyed:
    n = config.size
    d = dct_matrix(n)
    u = torch.arange(n)[:, None] + torch.arange(n)[None, :]
    lo, hi = config.band
    idx = ((u >= lo) & (u < hi)).flatten().nonzero().flatten()
    gen = torch.Generator().manual_seed(config.key)
    p, _ = torch.linalg.qr(torch.randn(len(idx), PAYLOAD_BITS, generator=gen, dtype=torch.float64))   # (N, 32)
    dither = torch.rand(PAYLOAD_BITS, generator=gen, dtype=torch.float64) * config.step
    dfull = torch.kron(d, d)                    # vec(D Y D^T) = (D kron D) vec(Y)
    W = dfull[idx].T @ p                        # (P, 32) orthonormal patterns in pixel space
    M = resize_matrix(n)                        # (P, P)
    eye = torch.eye(n * n, dtype=torch.float64)
    # a 1/f^a prior on images (power of DCT coefficient (u, v) ~ (u^2 + v^2 + 1)^(-a/2)): the reading that undoes
    # the resize best *on typical images*, Q = argmin E||Q^T M x - W^T x||^2 + lam ||Q||^2
    fu = torch.arange(n, dtype=torch.float64)
    power = (fu[:, None] ** 2 + fu[None, :] ** 2 + 1.0) ** (-config.prior_power / 2)
    sigma = dfull.T @ (power.flatten()[:, None] * dfull)                      # (P, P) image covariance
    Q = torch.linalg.solve(M @ sigma @ M.T + config.resize_lam * eye, M @ sigma @ W)   # (P, 32)
    A2 = M.T @ Q                                # reading "resized" patterns off an unresized image
    A = torch.cat([W, A2], 1)                   # (P, 64): both readings at once
    joint = A @ torch.linalg.inv(A.T @ A + config.joint_ridge * torch.eye(2 * PAYLOAD_BITS, dtype=torch.float64))  # (P, 64)
    return _Keyed(W, Q, M, joint, dither)


def reading_parts(config: WatermarkConfig) -> tuple[torch.Tensor, torch.Tensor, float]:
    """What the direct reading needs: patterns W (H*W, 32) in pixel space (c = luminance @ W), the dithers (32,)
    and the lattice step. Anyone holding these can read, remove or forge the mark: they are the secret."""
    k = _keyed(config)
    return k.W.clone(), k.dither.clone(), config.step


# -- payloads ---------------------------------------------------------------------------------------

def payload_bits(model_id: int, seed: int) -> torch.Tensor:
    """32 bits: 16 of a model id, then the low 16 of the seed. (32,) int64 of 0/1."""
    if not 0 <= model_id < 2 ** 16:
        raise ValueError(f"model_id must be in 0..65535, got {model_id}")
    value = (model_id << 16) | (seed & 0xFFFF)
    return torch.tensor([(value >> (31 - i)) & 1 for i in range(PAYLOAD_BITS)], dtype=torch.long)


def bits_to_int(bits: torch.Tensor) -> int:
    """The inverse of the bit order of ``payload_bits``."""
    return int(sum(int(b) << (31 - i) for i, b in enumerate(bits.tolist())))


def model_id_of(name: str) -> int:
    """A stable 16-bit id for a model name (the first bytes of its sha256)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big")


# -- embedding and decoding -----------------------------------------------------------------------------

def resolve(images: torch.Tensor, config: WatermarkConfig | None) -> WatermarkConfig:
    """``config``, or the kit's defaults for the images' size."""
    return config if config is not None else WatermarkConfig.for_size(int(images.shape[-1]))


def _check(images: torch.Tensor, config: WatermarkConfig) -> torch.Tensor:
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.shape[-2:] != (config.size, config.size):
        raise ValueError(f"the watermark takes images (N, 1 or 3, {config.size}, {config.size}) in [0, 1]; "
                         f"got {tuple(images.shape)} (make a WatermarkConfig(size=...) for other sizes)")
    return images


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W): the grey image, or 0.299 R + 0.587 G + 0.114 B."""
    if images.shape[1] == 1:
        return images[:, 0].flatten(1)
    w = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * w).sum(1).flatten(1)


def _lattice_move(c: torch.Tensor, bits: torch.Tensor, dither: torch.Tensor, step: float) -> torch.Tensor:
    """The change that puts each projection on its bit's lattice point nearest to it."""
    offset = dither + bits.to(c.dtype) * step / 2
    return torch.round((c - offset) / step) * step + offset - c


def embed(images: torch.Tensor, bits: torch.Tensor, config: WatermarkConfig | None = None,
          quantise: bool = True) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] (or uint8) and payloads (32,) or (N, 32) of 0/1 -> marked images in [0, 1].

    With ``quantise`` the result sits on the uint8 grid (what a PNG stores), so it decodes the same after saving.
    """
    config = resolve(images, config)
    x = _check(images, config).double()
    k = _keyed(config)
    bits = torch.as_tensor(bits, dtype=torch.long)
    bits = bits.expand(len(x), PAYLOAD_BITS) if bits.ndim == 1 else bits
    if bits.shape != (len(x), PAYLOAD_BITS):
        raise ValueError(f"bits must be (32,) or ({len(x)}, 32), got {tuple(bits.shape)}")
    n = config.size

    def add(y: torch.Tensor, delta_lum: torch.Tensor) -> torch.Tensor:
        return (y + delta_lum.view(len(y), 1, n, n)).clamp(0, 1)     # same change on every channel

    y = x.clone()
    for _ in range(config.iters):
        lum = luminance(y)
        r1 = _lattice_move(lum @ k.W, bits, k.dither, config.step)               # the direct reading
        r2 = _lattice_move((lum @ k.M.T) @ k.Q, bits, k.dither, config.step)      # the "resized" reading
        y = add(y, torch.cat([r1, r2], 1) @ k.joint.T)                           # least-norm change for both
    y = add(y, _lattice_move(luminance(y) @ k.W, bits, k.dither, config.step) @ k.W.T)
    if quantise:
        y = torch.round(y * 255) / 255
    return y.to(torch.float32)


@dataclass
class Decoded:
    """What the blind decoder reads from a batch."""

    bits: torch.Tensor          # (N, 32) 0/1
    soft: torch.Tensor          # (N, 32) in [-1, 1]: +1 a clean 0, -1 a clean 1
    fit: torch.Tensor           # (N,) mean lattice fit of the chosen hypothesis (~0 unmarked, 1 clean mark)
    resized: torch.Tensor       # (N,) bool: the "resized" hypothesis fitted better


def decode(images: torch.Tensor, config: WatermarkConfig | None = None) -> Decoded:
    """Blind decoding (no original needed): images (N, C, H, W) in [0, 1] or uint8 -> ``Decoded``."""
    config = resolve(images, config)
    x = _check(images, config).double()
    k = _keyed(config)
    lum = luminance(x)
    out = []
    for V in (k.W, k.Q):
        c = lum @ V                                                  # (N, 32)
        phase = 2 * math.pi * (c - k.dither) / config.step
        fit = torch.cos(2 * phase).mean(1)
        bits = torch.round((c - k.dither) / (config.step / 2)).long().remainder(2)
        out.append((fit, bits, torch.cos(phase)))
    use_q = out[1][0] > out[0][0]
    pick = lambda i: torch.where(use_q.view(-1, *([1] * (out[0][i].ndim - 1))), out[1][i], out[0][i])  # noqa: E731
    return Decoded(pick(1), pick(2).float(), pick(0).float(), use_q)


def soft_scores(images: torch.Tensor, config: WatermarkConfig | None = None) -> torch.Tensor:
    """Differentiable soft bits (N, 32) = cos(2 pi (c_b - d_b) / step) of the direct reading (for attacks)."""
    config = resolve(images, config)
    x = _check(images, config)
    k = _keyed(config)
    c = luminance(x) @ k.W.to(x.dtype).to(x.device)
    return torch.cos(2 * math.pi * (c - k.dither.to(x.dtype).to(x.device)) / config.step)


def bit_accuracy(decoded_bits: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """(N,) fraction of the 32 bits read right."""
    bits = torch.as_tensor(bits).expand_as(decoded_bits)
    return (decoded_bits == bits).float().mean(1)


def matches(images: torch.Tensor, bits: torch.Tensor, config: WatermarkConfig | None = None) -> torch.Tensor:
    """(N,) bool: the image carries payload ``bits`` (at least ``match_threshold`` of 32 bits agree)."""
    config = resolve(images, config)
    agree = (decode(images, config).bits == torch.as_tensor(bits).expand(len(_check(images, config)), -1)).sum(1)
    return agree >= config.match_threshold


def false_match_rate(match_threshold: int, n_bits: int = PAYLOAD_BITS) -> float:
    """P(at least ``match_threshold`` of ``n_bits`` fair coin flips agree): the theory for an unmarked image."""
    return sum(math.comb(n_bits, k) for k in range(match_threshold, n_bits + 1)) / 2 ** n_bits


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) PSNR in dB of images in [0, 1]: 10 log10(1 / MSE)."""
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return (10 * torch.log10(1 / mse)).float()


# -- the everyday attacks: JPEG, resize, noise -------------------------------------------------------------

def _to_pil(img: torch.Tensor) -> Image.Image:
    a = to_uint8(img).cpu().numpy()
    return Image.fromarray(a[0]) if a.shape[0] == 1 else Image.fromarray(a.transpose(1, 2, 0))


def _from_pil(im, channels: int) -> torch.Tensor:
    a = torch.from_numpy(np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0)
    return a[None] if channels == 1 else a.permute(2, 0, 1)


def jpeg(images: torch.Tensor, quality: int = 75) -> torch.Tensor:
    """Each image saved as JPEG at ``quality`` (Pillow, default 4:2:0 chroma) and read back: (N, C, H, W) in [0, 1]."""
    out = []
    for img in images:
        buf = io.BytesIO()
        _to_pil(img).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out.append(_from_pil(Image.open(buf), img.shape[0]))
    return torch.stack(out)


def resize_down_up(images: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Each image shrunk ``factor`` times and enlarged back, bilinear (Pillow), through uint8."""
    out = []
    for img in images:
        h, w = img.shape[-2:]
        im = _to_pil(img).resize((w // factor, h // factor), Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.BILINEAR)
        out.append(_from_pil(im, img.shape[0]))
    return torch.stack(out)


def gaussian_noise(images: torch.Tensor, sigma: float = 0.01, seed: int = 0) -> torch.Tensor:
    """Images plus N(0, sigma^2) per pixel, clipped to [0, 1] and rounded to uint8 levels."""
    gen = torch.Generator().manual_seed(seed)
    noisy = images + sigma * torch.randn(images.shape, generator=gen)
    return torch.round(noisy.clamp(0, 1) * 255) / 255


def blur(images: torch.Tensor, radius: float = 0.6) -> torch.Tensor:
    """Gaussian blur of ``radius`` pixels (Pillow), through uint8."""
    return torch.stack([_from_pil(_to_pil(img).filter(ImageFilter.GaussianBlur(radius)), img.shape[0])
                        for img in images])


ATTACKS = {
    "clean": lambda x: torch.round(x.clamp(0, 1) * 255) / 255,
    "JPEG q75": lambda x: jpeg(x, 75),
    "resize 2x down-up": lambda x: resize_down_up(x, 2),
    "noise sigma=0.01": lambda x: gaussian_noise(x, 0.01),
}


# -- its limits: PGD removal and forgery --------------------------------------------------------------------

def remove_pgd(images: torch.Tensor, bits: torch.Tensor, eps: float = 4 / 255, steps: int = 40,
               config: WatermarkConfig | None = None, seed: int = 0) -> torch.Tensor:
    """PGD (``attacks.pgd_maximise``) inside an L-inf ball of ``eps`` that pushes every soft bit away from
    its embedded value; success when fewer than ``match_threshold`` bits still match."""
    config = resolve(images, config)
    x = _check(images, config).float()
    sign = (1 - 2 * torch.as_tensor(bits).expand(len(x), -1)).float()       # +1 for bit 0, -1 for bit 1

    def objective(xa: torch.Tensor, idx: torch.Tensor):
        agree = (soft_scores(xa, config) * sign[idx]).mean(1)
        return -agree, (agree.detach() < 0).clone()

    x_adv, _ = pgd_maximise(objective, x, eps, "linf", steps, restarts=1, early_stop=False, seed=seed)
    return torch.round(x_adv * 255) / 255


def forge_pgd(images: torch.Tensor, bits: torch.Tensor, eps: float = 4 / 255, steps: int = 40,
              config: WatermarkConfig | None = None, seed: int = 0) -> torch.Tensor:
    """PGD that writes payload ``bits`` onto unmarked images (a real photo passed off as generated,
    or a generated one attributed to another model) within an L-inf ball of ``eps``."""
    config = resolve(images, config)
    x = _check(images, config).float()
    sign = (1 - 2 * torch.as_tensor(bits).expand(len(x), -1)).float()

    def objective(xa: torch.Tensor, idx: torch.Tensor):
        agree = (soft_scores(xa, config) * sign[idx]).mean(1)
        return agree, torch.zeros(len(idx), dtype=torch.bool)

    x_adv, _ = pgd_maximise(objective, x, eps, "linf", steps, restarts=1, early_stop=False, seed=seed)
    return torch.round(x_adv * 255) / 255


__all__ = [
    "ATTACKS", "Decoded", "WatermarkConfig", "bit_accuracy", "bits_to_int", "blur", "dct_matrix", "decode", "embed",
    "false_match_rate", "forge_pgd", "gaussian_noise", "jpeg", "luminance", "matches", "model_id_of", "payload_bits",
    "psnr", "reading_parts", "remove_pgd", "resize_down_up", "soft_scores",
]
