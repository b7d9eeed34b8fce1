"""Checks for notebook 06 (latent exploration): spherical interpolation and an attribute direction.

Exercises (references in ``pgan_lib.explore.latent``):

    slerp(a, b, t) -> (N, D)                    along the great circle from a to b;
                                                a, b (D,), t (N,)                        check_slerp
    attribute_direction(z, score, fraction)     unit vector: mean z of the top ``fraction`` by
        -> (D,)                                 score minus mean z of the bottom ``fraction``
                                                                                         check_attribute_direction

Both are compared with the library on fixed inputs; the slerp check also tests
its behaviour (the ends, the length along the path, nearly parallel ends), the
direction check that it points the way the score grows on latents whose
attribute is known.
"""
from __future__ import annotations

import torch

from .. import explore, pretrained
from ..data.attributes import FIT_WORDS, SHADE_WORDS, fit_of, shade_of, shade_value, width_value
from ..data.fashion_mnist import CLASS_NAMES
from ..explore import latent as L
from .check import Fail, as_tensor_or_fail, compare, exercise_check, expect


def _slerp_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(16, generator=g)
    b = 1.3 * torch.randn(16, generator=g)                  # a different length, as two real latents have
    return a, b, torch.linspace(0, 1, 9)


def _diagnose_slerp(o: torch.Tensor, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, ref: torch.Tensor) -> None:
    """Raise Fail naming the mistake when the path ``o`` is a known wrong version of slerp."""
    if torch.allclose(o[0], b, atol=1e-4) and torch.allclose(o[-1], a, atol=1e-4):
        raise Fail("path: the ends are swapped: t = 0 must give a and t = 1 must give b")
    k = float(o[0] @ a / (a @ a))
    if abs(k - 1) > 1e-3 and torch.allclose(o[0], k * a, atol=1e-4):
        raise Fail(f"path: t = 0 gives a times {k:.3g} instead of a: the ends are scaled; check the division "
                   "by sin(angle)")
    expect(torch.allclose(o[0], a, atol=1e-4) and torch.allclose(o[-1], b, atol=1e-4),
           "path: t = 0 must give a and t = 1 must give b")
    if torch.allclose(o, L.lerp(a, b, t), atol=1e-4):
        raise Fail("path: that is the straight line (lerp): its middle is shorter than the ends; "
                   "walk along the arc instead")
    mid, ref_mid = float(o[len(t) // 2].norm()), float(ref[len(t) // 2].norm())
    if abs(mid / ref_mid - 1) > 1e-3:
        raise Fail(f"path: the middle latent has length {mid:.2f} where the arc keeps it near the ends' "
                   f"({float(a.norm()):.2f} and {float(b.norm()):.2f}): check the division by sin(angle)")


@exercise_check("slerp")
def check_slerp(slerp) -> str:
    a, b, t = _slerp_inputs()
    out = as_tensor_or_fail(slerp(a.clone(), b.clone(), t.clone()), "path")
    ref = L.slerp(a, b, t)
    expect(out.shape == ref.shape, f"path: shape {tuple(out.shape)}, expected {tuple(ref.shape)}: one latent (D,) per t")
    o = out.detach()
    expect(bool(torch.isfinite(o).all()), "path: contains nan: is the cosine of the angle between a and b "
                                          "computed from unit vectors (and kept inside [-1, 1])?")
    try:
        compare(out, ref, "path")
    except Fail:
        _diagnose_slerp(o, a, b, t, ref)
        raise
    # nearly parallel ends: the angle is about 0 and sin(angle) too; the path must still be finite
    near = as_tensor_or_fail(slerp(a.clone(), a * (1 + 1e-7), t.clone()), "path")
    expect(bool(torch.isfinite(near).all()), "path: nan when a and b point the same way (sin(angle) = 0): "
                                             "fall back to the straight line for a tiny angle")
    return "matches the arc: the right ends, the length kept along the path, finite for parallel ends"


def _direction_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(8)
    z = torch.randn(600, 16, generator=g)
    w = torch.zeros(16)
    w[2], w[5] = 0.8, -0.6                                  # the attribute grows along w
    score = z @ w + 0.3 * torch.randn(600, generator=g)
    return z, score, w


@exercise_check("attribute_direction")
def check_attribute_direction(attribute_direction) -> str:
    z, score, w = _direction_inputs()
    out = as_tensor_or_fail(attribute_direction(z.clone(), score.clone(), 1 / 3), "direction")
    expect(out.shape == (z.shape[1],), f"direction: shape {tuple(out.shape)}, expected ({z.shape[1]},): "
                                       "one latent direction (average over the products)")
    ref = L.attribute_direction(z, score, 1 / 3)
    try:
        compare(out, ref, "direction")
    except Fail:
        o = out.detach()                                                    # name the usual mistakes
        norm = float(o.norm())
        if abs(norm - 1) > 1e-4:
            raise Fail(f"direction: length {norm:.3g}; a slider value of 1 should move z by one prior standard "
                       "deviation: divide by the length") from None
        if float(o @ w / w.norm()) < -0.5:
            raise Fail("direction: it points the way the score falls: top fraction minus bottom fraction, "
                       "not the reverse") from None
        if torch.allclose(o, L.attribute_direction(z, score, 0.5), atol=1e-4):
            raise Fail("direction: you split at the median; use the top and bottom `fraction` of the products") from None
        raise
    cos = float(out.detach() @ w / w.norm())
    expect(cos > 0.9, f"direction: cosine {cos:.2f} with the direction the attribute really grows along")
    other = as_tensor_or_fail(attribute_direction(z.clone(), score.clone(), 0.1), "direction")
    try:
        compare(other, L.attribute_direction(z, score, 0.1), "direction with fraction = 0.1")
    except Fail:
        if other.shape == ref.shape and torch.allclose(other.detach(), ref, atol=1e-4):
            raise Fail("direction: the same for fraction = 0.1 as for 1/3: use the `fraction` argument, "
                       "not a fixed third") from None
        raise
    return "a unit vector along the attribute, matching the library for fraction 1/3 and 0.1"


PULLOVER = 2     # Fashion-MNIST's class index of "pullover"


@exercise_check("dark_wide_pullover")
def check_design(design) -> str:
    """A design of ``vae-fashion`` that the kit's rules call dark and wide, and its classifier a pullover."""
    expect(isinstance(design, explore.Design), f"expected a Design, e.g. Design(\"vae-fashion\", seed=2, offsets=...), "
                                               f"got {type(design).__name__}")
    expect(design.model == "vae-fashion", f"the task is for the unconditional vae-fashion, not {design.model}")
    img = explore.render(design)[None].float().cpu()
    shade = SHADE_WORDS[int(shade_of(img))]
    fit = FIT_WORDS[int(fit_of(img, torch.tensor([PULLOVER])))]
    with torch.no_grad():
        probs = pretrained.load("fashion-classifier").eval()(img).softmax(1)[0]
    seen = CLASS_NAMES[int(probs.argmax())]
    measured = f"shade {float(shade_value(img)):.2f} ({shade}), width {float(width_value(img)):.2f} ({fit} for a pullover)"
    expect(shade == "dark", f"{measured}: not dark yet (dark means shade_value >= 0.72)")
    expect(fit == "wide", f"{measured}: not wide yet; which other slider widens the product?")
    expect(seen == "pullover", f"{measured}, but the kit's classifier sees a {seen} ({float(probs.max()):.0%}), "
                               "not a pullover: pushed too far?")
    return f"{measured}; the classifier sees a pullover ({float(probs[PULLOVER]):.0%})"


__all__ = ["check_slerp", "check_attribute_direction", "check_design", "PULLOVER"]
