"""Checks for notebook 10 (high resolution: progressive growing): the fade-in blend and the minibatch-stddev feature.

Exercises (references in ``pgan_lib.models.progan``):

    fade_in(new_rgb, old_rgb, alpha) -> (N, C, 2r, 2r)
        new_rgb (N, C, 2r, 2r): the new block's image; old_rgb (N, C, r, r): the previous block's image;
        alpha * new + (1 - alpha) * up2(old), up2 = nearest-neighbour 2x upsampling       check_fade_in
    minibatch_stddev(x, group_size) -> (N, C + 1, H, W)
        groups of g consecutive images; s = mean over (c, h, w) of sqrt(Var_group + 1e-8)
        (population variance), appended as one constant feature map per group          check_minibatch_stddev
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import progan as P
from .check import Fail, as_tensor_or_fail, compare, exercise_check, rel_error


def _reference_fade(new: torch.Tensor, old: torch.Tensor, alpha: float) -> torch.Tensor:
    return P.fade(new, F.interpolate(old, scale_factor=2, mode="nearest"), alpha)


@exercise_check("fade-in blend")
def check_fade_in(fade_in) -> str:
    g = torch.Generator().manual_seed(10)
    new = torch.randn(3, 3, 8, 8, generator=g)
    old = torch.randn(3, 3, 4, 4, generator=g)
    up = F.interpolate(old, scale_factor=2, mode="nearest")
    for alpha in (0.3, 0.0, 1.0):       # the blend first: its hints name what is wrong
        out = as_tensor_or_fail(fade_in(new.clone(), old.clone(), alpha), f"fade_in(alpha={alpha})")
        if out.shape == old.shape:
            raise Fail(f"fade_in(alpha={alpha}): shape {tuple(out.shape)} is the old resolution; "
                       "bring the old image up to the new one (2x nearest-neighbour) before blending")
        if out.shape == new.shape and alpha == 0.3:
            if rel_error(out, 0.7 * new + 0.3 * up) < 1e-5:
                raise Fail("alpha weights the wrong image: alpha = 0 must give the old (upsampled) image, "
                           "alpha = 1 the new one")
            bilinear = F.interpolate(old, scale_factor=2, mode="bilinear", align_corners=False)
            if rel_error(out, 0.3 * new + 0.7 * bilinear) < 1e-5:
                raise Fail("the old image is upsampled smoothly; the growing networks repeat each pixel "
                           "(nearest neighbour), which is what the new block started from")
            if rel_error(out, 0.3 * new + 0.3 * up) < 1e-5:
                raise Fail("the old image's weight is 1 - alpha, not alpha")
        compare(out, _reference_fade(new, old, alpha), f"fade_in(alpha={alpha})")
    return "alpha = 0 gives the old image (upsampled), alpha = 1 the new one, and a straight blend between"


@exercise_check("minibatch standard deviation")
def check_minibatch_stddev(minibatch_stddev) -> str:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(8, 5, 4, 4, generator=g) * torch.linspace(0.5, 2.0, 8).view(8, 1, 1, 1)
    ref = P.minibatch_stddev(x, 4)
    out = as_tensor_or_fail(minibatch_stddev(x.clone(), 4), "minibatch_stddev(x, 4)")
    if out.shape == x.shape:
        raise Fail("shape (8, 5, 4, 4): the feature is appended as one more channel, (N, C + 1, H, W)")
    if out.shape == (8, 6, 4, 4):
        if rel_error(out[:, :5], x) > 1e-6:
            raise Fail("the first C channels must be the input, unchanged; append the feature after them")
        feat = out[:, 5]
        whole = (x.var(0, unbiased=False) + 1e-8).sqrt().mean()
        if rel_error(feat, whole.expand_as(feat)) < 1e-5:
            raise Fail("the standard deviation is taken over the whole batch; take it within groups of "
                       "group_size consecutive images")
        unbiased = torch.cat([(x[i:i + 4].var(0, unbiased=True) + 1e-8).sqrt().mean().expand(4, 4, 4)
                              for i in (0, 4)])
        if rel_error(feat, unbiased) < 1e-5:
            raise Fail("use the population variance (divide by g, unbiased=False), as the library does")
        if max(float(feat[i:i + 4].std()) for i in (0, 4)) > 1e-6:
            raise Fail("the feature must be one number per group (the mean over channels and pixels), "
                       "the same in every pixel and every image of the group")
    compare(out, ref, "minibatch_stddev(x, 4)")
    same = x[:1].expand(4, 5, 4, 4).contiguous()
    out_same = as_tensor_or_fail(minibatch_stddev(same, 4), "minibatch_stddev(identical images, 4)")
    compare(out_same, P.minibatch_stddev(same, 4), "minibatch_stddev(identical images, 4)", tol=1e-3)
    return "one feature map per group; near 0 for a group of identical images"
