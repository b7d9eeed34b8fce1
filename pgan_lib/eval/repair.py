"""How good is a repair? Pixel metrics on the hole and on the whole image, sharpness, and the repair table.

All functions take float images in [0, 1], (N, C, H, W), and return one value per
image (N,) unless said otherwise; masks are (N, 1, H, W) with 1 = missing. A
region of None means the whole image, and then every number equals the one of
``eval.metrics`` (``l1``, ``mse``, ``psnr``, ``ssim`` with reflected borders);
with a mask the same formulas are averaged over the hole only:

    L1      mean |x - y| over the region's pixels and channels
    PSNR    10 log10(1 / MSE), MSE over the region (peak value 1, capped at 100 dB); higher is better
    SSIM    the per-pixel SSIM map of ``eval.metrics.ssim`` (11x11 Gaussian windows, sigma 1.5,
            borders reflected), averaged over the region
    edge energy   mean squared Sobel gradient magnitude of the grey image over the region:
            E = mean (G_x^2 + G_y^2); a blurry repair has less of it than the real photo
            (L1 alone is blurry)

``compare_repairs`` puts them, the FID of repaired images in a kit classifier's
features and that classifier's accuracy into one row per method (the table of
notebook 07 and ``benchmarks/repair_targets.py``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.masks import damage
from . import metrics as M


def _region(masks: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if masks.ndim == 3:
        masks = masks[:, None]
    return masks.to(like.dtype)


def _region_mean(values: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean of values (N, C, H, W) over the region's pixels and all channels: (N,)."""
    w = region.expand_as(values)
    return (values * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp(min=1e-12)


def l1(x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error per image over the region: (N,)."""
    if masks is None:
        return M.l1(x, y)
    return _region_mean((x.float() - y.float()).abs(), _region(masks, x.float()))


def mse(x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per image over the region: (N,)."""
    if masks is None:
        return M.mse(x, y)
    return _region_mean((x.float() - y.float()) ** 2, _region(masks, x.float()))


def psnr(x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image over the region (peak 1, at most 100 dB): (N,)."""
    if masks is None:
        return M.psnr(x, y)
    err = mse(x, y, masks).double().clamp(min=10 ** (-M.PSNR_MAX_DB / 10))
    return (10 * torch.log10(1.0 / err)).float()


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM (N, C, H, W), the map ``eval.metrics.ssim(..., padding="reflect")`` averages."""
    c = x.shape[1]
    size = min(window, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2
    w = M.gaussian_window(size, sigma).to(x.device)[None, None].repeat(c, 1, 1, 1)
    pad = (size // 2,) * 4
    xd, yd = F.pad(x.double(), pad, mode="reflect"), F.pad(y.double(), pad, mode="reflect")

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mx, my = local_mean(xd), local_mean(yd)
    vx = (local_mean(xd * xd) - mx ** 2).clamp(min=0)
    vy = (local_mean(yd * yd) - my ** 2).clamp(min=0)
    cov = local_mean(xd * yd) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return (((2 * mx * my + c1) * (2 * cov + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))).float()


def ssim(x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM per image over the region: (N,)."""
    if masks is None:
        return M.ssim(x, y, padding="reflect")
    return _region_mean(ssim_map(x, y), _region(masks, x.float()))


def edge_energy(x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared Sobel gradient magnitude of the grey image over the region: (N,)."""
    grey = x.float().mean(1, keepdim=True)
    region = torch.ones_like(grey) if masks is None else _region(masks, grey)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).to(grey) / 8
    k = torch.stack([kx, kx.t()])[:, None]                               # (2, 1, 3, 3)
    g = F.conv2d(F.pad(grey, (1,) * 4, mode="replicate"), k)             # (N, 2, H, W)
    return _region_mean(g.pow(2).sum(1, keepdim=True), region)


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


__all__ = ["l1", "mse", "psnr", "ssim", "ssim_map", "edge_energy", "repair_scores", "mirror_half", "compare_repairs",
           "format_table"]


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


def compare_repairs(methods: dict, originals: torch.Tensor, masks: torch.Tensor, extractor=None,
                    labels: torch.Tensor | None = None, head: str | None = None) -> dict[str, dict[str, float]]:
    """One row per method: ``repair_scores`` plus, with a kit classifier (``extractor``), the FID of the
    repaired images against the originals and the classifier's accuracy on them (``labels``, ``head``).

    methods: name -> repaired images (N, C, H, W) in [0, 1], or a function (damaged, masks) -> repaired.
    Two reference rows are added: "original" (the photos themselves) and "damaged" (the hole left grey).
    """
    damaged = damage(originals, masks)
    rows: dict[str, dict[str, float]] = {}
    real = extractor(originals) if extractor is not None else None
    for name, method in {"original": originals, "damaged": damaged, **methods}.items():
        out = method(damaged, masks) if callable(method) else method
        row = repair_scores(out, originals, masks) if name != "original" else {
            "edge": float(edge_energy(originals, masks).mean())}
        if extractor is not None and real is not None:
            ext = extractor(out)
            row["fid"] = M.fid(real.features, ext.features)
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
