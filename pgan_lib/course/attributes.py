"""Checks for notebook 00 (the data tour): shade and fit measured from pixels.

Exercises (the student writes, the library holds the reference in ``pgan_lib.data.attributes``):

    shade_value(images) -> (N,)   mean ink of the product pixels        check_shade_value
    width_value(images) -> (N,)   mean row span of the ink / image width  check_width_value
    the share of wide coats in the training split (a number)             check_wide_coat_share

Images are Fashion-MNIST's stored uint8 (N, 1, 28, 28); the checks use the
first 256 validation photos plus a few drawn cases (an empty image, a full one).
"""
from __future__ import annotations

import torch

from ..data import attributes as A
from ..data import load_dataset
from .check import CheckResult, Fail, check_answer, compare, exercise_check, expect, rel_error


def _images() -> torch.Tensor:
    """256 real validation photos and three edge cases: blank, full ink, one faint pixel."""
    real = load_dataset("fashion-mnist", "val").images[:256]
    blank = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    full = torch.full((1, 1, 28, 28), 200, dtype=torch.uint8)
    faint = blank.clone()
    faint[0, 0, 3, 3] = 20          # below the ink threshold (0.125 * 255 = 31.9)
    faint[0, 0, 10, 5:9] = 255
    return torch.cat([real, blank, full, faint])


@exercise_check("shade_value")
def check_shade_value(shade_value) -> str:
    x = _images()
    out = shade_value(x.clone())
    ref = A.shade_value(x)
    if isinstance(out, torch.Tensor) and out.shape == ref.shape and torch.isfinite(out.double()).all():
        o = out.double()
        expect(rel_error(o, ref * 255) > 1e-3, "scale: your values are 255 times too big: the stored pixels are "
                                                "0..255, the shade is on a 0..1 scale")
        xf = x.float() / 255
        all_pixels = xf.flatten(1).mean(1)
        expect(rel_error(o[:256], all_pixels[:256]) > 1e-3,
               "your mean runs over every pixel, background included: only product pixels "
               "(values >= INK_THRESHOLD) count")
        expect(abs(float(o[256])) < 1e-6, "an image without ink must get 0, not nan (avoid dividing by zero ink pixels)")
    compare(out, ref, "shade value")
    return f"matches shade_value on {len(x)} images, edge cases included"


@exercise_check("width_value")
def check_width_value(width_value) -> str:
    x = _images()
    out = width_value(x.clone())
    ref = A.width_value(x)
    if isinstance(out, torch.Tensor) and out.shape == ref.shape and torch.isfinite(out.double()).all():
        o = out.double()
        expect(rel_error(o, ref * 28) > 1e-3, "scale: your width is in pixels; divide by the image width (28)")
        ink = (x.float() / 255)[:, 0] >= A.INK_THRESHOLD
        cols = torch.arange(28)
        span = torch.where(ink.any(-1), torch.where(ink, cols, -1).amax(-1) - torch.where(ink, cols, 28).amin(-1) + 1, 0)
        all_rows = span.float().sum(-1) / 28 / 28
        expect(rel_error(o[:256], all_rows[:256]) > 1e-3,
               "too narrow: you average over all 28 rows; average over the rows that hold product pixels only")
        no_plus_one = torch.where(ink.any(-1), span - 1, 0).float().sum(-1) / ink.any(-1).sum(-1).clamp(min=1) / 28
        expect(rel_error(o[:256], no_plus_one[:256]) > 1e-3,
               "one pixel short per row: a span from column l to column r holds r - l + 1 pixels")
        expect(abs(float(o[256])) < 1e-6, "an image without ink must get width 0, not nan")
    compare(out, ref, "width value")
    return f"matches width_value on {len(x)} images"


def wide_coat_share() -> float:
    """The library's answer: the share of training coats whose fit is 'wide'."""
    train = load_dataset("fashion-mnist", "train")
    coat = train.class_names.index("coat")
    sel = train.labels == coat
    fit = A.fit_of(train.images[sel], train.labels[sel])
    return float((fit == A.FIT_WORDS.index("wide")).float().mean())


def check_wide_coat_share(value, quiet: bool = False):
    """PASS when ``value`` (a fraction in [0, 1]) is within 0.01 of the share of wide coats in ``train``."""
    if isinstance(value, (int, float)) and 1.0 < float(value) <= 100.0:
        result = CheckResult("wide coats", "fail", f"{float(value):g} is above 1: give a fraction (0.25), not a percentage")
        if not quiet:
            print(result.line())
        return result
    return check_answer("wide coats", value, wide_coat_share(), tol=0.01, quiet=quiet,
                        hint_low="too low (did you count all the coats, and only the wide ones?)",
                        hint_high="too high (is the denominator the number of coats?)")


__all__ = ["check_shade_value", "check_width_value", "check_wide_coat_share", "wide_coat_share", "Fail"]
