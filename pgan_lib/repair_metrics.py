"""How good is a repair? Pixel metrics on the hole and on the whole image, and a sharpness measure.

All functions take float images in [0, 1], (N, C, H, W), and return one value per
image (N,) unless said otherwise; masks are (N, 1, H, W) with 1 = missing. A
region of None means the whole image.

    L1      mean |x - y| over the region's pixels and channels
    PSNR    10 log10(1 / MSE), MSE over the region (peak value 1); higher is better
    SSIM    structural similarity (Wang et al. 2004) on 7x7 Gaussian windows (sigma 1.5),
            SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
            C1 = 0.01^2, C2 = 0.03^2, averaged over the region (per pixel map, then mean)
    edge energy   mean squared Sobel gradient magnitude over the region:
            E = mean (G_x^2 + G_y^2),  G = Sobel filters on the grey image;
            a blurry repair has less edge energy than the real photo (L1 alone is blurry)

Pure functions of tensors (no model, no data): the benchmark, the notebook and
the tests call them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _region(masks: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    if masks is None:
        return torch.ones(like.shape[0], 1, *like.shape[-2:], dtype=like.dtype, device=like.device)
    if masks.ndim == 3:
        masks = masks[:, None]
    return masks.to(like.dtype)


def _region_mean(values: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean of values (N, C, H, W) over the region's pixels and all channels: (N,)."""
    w = region.expand_as(values)
    return (values * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp(min=1e-12)


def l1(x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error per image over the region: (N,)."""
    return _region_mean((x.float() - y.float()).abs(), _region(masks, x))


def mse(x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per image over the region: (N,)."""
    return _region_mean((x.float() - y.float()) ** 2, _region(masks, x))


def psnr(x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor | None = None, eps: float = 1e-10) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image over the region (peak 1): (N,)."""
    return 10 * torch.log10(1.0 / mse(x, y, masks).clamp(min=eps))


def _gaussian_window(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]                         # (1, 1, k, k)


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM (N, C, H, W), windows reflected at the border."""
    x, y = x.float(), y.float()
    c = x.shape[1]
    w = _gaussian_window(window, sigma).to(x).expand(c, 1, -1, -1)
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (pad,) * 4, mode="reflect"), w, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx ** 2
    syy = blur(y * y) - my ** 2
    sxy = blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))


def ssim(x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM per image over the region: (N,)."""
    return _region_mean(ssim_map(x, y), _region(masks, x))


def edge_energy(x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared Sobel gradient magnitude of the grey image over the region: (N,)."""
    grey = x.float().mean(1, keepdim=True)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).to(grey) / 8
    k = torch.stack([kx, kx.t()])[:, None]                               # (2, 1, 3, 3)
    g = F.conv2d(F.pad(grey, (1,) * 4, mode="replicate"), k)             # (N, 2, H, W)
    return _region_mean(g.pow(2).sum(1, keepdim=True), _region(masks, x))


def repair_scores(repaired: torch.Tensor, original: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """The table row of one method: hole and whole-image PSNR / SSIM / L1 and hole edge energy (means)."""
    return {
        "hole_psnr": float(psnr(repaired, original, masks).mean()),
        "hole_ssim": float(ssim(repaired, original, masks).mean()),
        "hole_l1": float(l1(repaired, original, masks).mean()),
        "psnr": float(psnr(repaired, original).mean()),
        "ssim": float(ssim(repaired, original).mean()),
        "l1": float(l1(repaired, original).mean()),
        "edge": float(edge_energy(repaired, masks).mean()),
    }


__all__ = ["l1", "mse", "psnr", "ssim", "ssim_map", "edge_energy", "repair_scores"]


# -- comparing repair methods with the kit's classifier (the benchmark table and notebook 07) -------------

def mirror_half(images: torch.Tensor, side: str = "right") -> torch.Tensor:
    """A whole image made of one half and its mirror image: (N, C, H, W) -> (N, C, H, W).

    Used to ask the catalogue classifier what colour and pattern a repaired half
    shows, without the visible half voting too (products are roughly left-right
    symmetric, so the mirrored half still looks like a product).
    """
    w = images.shape[-1] // 2
    if side == "right":
        part = images[..., w:]
        return torch.cat([part.flip(-1), part], -1)
    if side == "left":
        part = images[..., :w]
        return torch.cat([part, part.flip(-1)], -1)
    raise ValueError(f"side {side!r}: use 'left' or 'right'")


def fid(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Frechet distance of two feature sets (N, D), e.g. kit-classifier features of repaired and real images."""
    from .metrics import feature_stats, frechet_distance

    return float(frechet_distance(*feature_stats(features_a), *feature_stats(features_b)))


def compare_repairs(methods: dict, originals: torch.Tensor, masks: torch.Tensor, extractor=None,
                    labels: torch.Tensor | None = None, head: str | None = None) -> dict[str, dict[str, float]]:
    """One row per method: ``repair_scores`` plus, with a kit classifier (``extractor``), the FID of the
    repaired images against the originals and the classifier's accuracy on them (``labels``, ``head``).

    methods: name -> repaired images (N, C, H, W) in [0, 1], or a function (damaged, masks) -> repaired.
    Two reference rows are added: "original" (the photos themselves) and "damaged" (the hole left grey).
    """
    from .data.masks import damage

    damaged = damage(originals, masks)
    rows: dict[str, dict[str, float]] = {}
    real = extractor(originals) if extractor is not None else None
    for name, method in {"original": originals, "damaged": damaged, **methods}.items():
        out = method(damaged, masks) if callable(method) else method
        row = repair_scores(out, originals, masks) if name != "original" else {
            "edge": float(edge_energy(originals, masks).mean())}
        if extractor is not None:
            ext = extractor(out)
            row["fid"] = fid(ext.features, real.features)
            if labels is not None and head is not None:
                row["accuracy"] = float((ext.predicted(head) == labels).float().mean())
        rows[name] = row
    return rows


COLUMNS = ("hole_psnr", "hole_ssim", "hole_l1", "psnr", "ssim", "l1", "edge", "fid", "accuracy")


def format_table(rows: dict[str, dict[str, float]], columns=COLUMNS) -> str:
    """A plain-text table of ``compare_repairs`` rows (missing values shown as '-')."""
    cols = [c for c in columns if any(c in r for r in rows.values())]
    width = max(len(n) for n in rows) + 2
    lines = ["method".ljust(width) + "".join(c.rjust(11) for c in cols)]
    for name, r in rows.items():
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append(("-" if v is None else f"{v:.4f}" if c in ("edge", "hole_l1", "l1") else f"{v:.3f}").rjust(11))
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
