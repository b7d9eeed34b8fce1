"""Checks for notebook 08 (adversarial examples): one FGSM step and one projected PGD step.

Exercises (references in ``pgan_lib.attacks``; images in [0, 1], L-inf budget, cross-entropy loss):

    fgsm_step(model, x, y, eps) -> x'           x' = clip_[0,1](x + eps * sign(grad_x CE(model(x), y)))
                                                                                        check_fgsm_step
    pgd_step(model, x_adv, x, y, eps, alpha)    one step from x_adv: x_adv + alpha * sign(grad at x_adv),
        -> x_adv'                               projected onto |x' - x|_inf <= eps and [0, 1]
                                                                                        check_pgd_step

Each check runs the student's step on ``ATTACK_IMAGES`` fixed Fashion-MNIST test
photos against a shipped classifier and verifies, in this order: the shape, the
budget and the valid pixel range, the step itself against the library's (at least
99.9 % of the pixels equal), and then the attack's effect: the robust accuracy under
the student's attack must lie within ``BAND`` (3 percentage points) of the
library's attack with the same settings:

    FGSM, eps 0.1, on ``fashion-classifier`` (the standard model: it falls to a few per cent);
    PGD-5 (alpha = 2.5 eps / 5 = 0.05, the library's random start, seed 0), eps 0.1, on
    ``fashion-classifier-robust`` (adversarially trained: about 73 % survive).

A band rather than equality: the library's PGD keeps each image's strongest point and
stops on success, a plain loop of the student's step keeps the last point.
"""
from __future__ import annotations

import torch

from .. import attacks as A
from .. import pretrained
from ..data import load_dataset
from .check import Fail, as_tensor_or_fail, exercise_check, expect

ATTACK_IMAGES = 128
EPS = 0.1
PGD_STEPS = 5
BAND = 0.03


def _photos() -> tuple[torch.Tensor, torch.Tensor]:
    test = load_dataset("fashion-mnist", "test", limit=ATTACK_IMAGES)
    return test.float_images(), test.labels


def _classifier(name: str) -> torch.nn.Module:
    return pretrained.load(name).eval()


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _valid(out: torch.Tensor, x: torch.Tensor, eps: float, what: str) -> torch.Tensor:
    expect(out.shape == x.shape, f"{what}: shape {tuple(out.shape)}, expected the images' shape {tuple(x.shape)}")
    o = out.detach().float()
    expect(bool(torch.isfinite(o).all()), f"{what}: contains nan or inf")
    expect(float(o.min()) >= -1e-6 and float(o.max()) <= 1 + 1e-6,
           f"{what}: pixels outside [0, 1] (from {float(o.min()):.3f} to {float(o.max()):.3f}): "
           "an attacked photo must still be a valid image; clip it")
    moved = float((o - x).abs().max())
    expect(moved <= eps + 1e-5, f"{what}: a pixel moved by {moved:.3f}, more than the budget eps = {eps}: "
                                "keep every pixel within eps of the original photo")
    return o


def _same_pixels(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float(((out - ref).abs() <= 1e-5).float().mean())


def _band(student_acc: float, library_acc: float, clean: float, what: str) -> None:
    if abs(student_acc - library_acc) <= BAND:
        return
    if student_acc > library_acc:
        raise Fail(f"{what}: {student_acc:.1%} of the photos survive your attack, {library_acc:.1%} survive the "
                   f"library's (clean {clean:.1%}): your attack is weaker than it should be")
    raise Fail(f"{what}: only {student_acc:.1%} survive your attack against {library_acc:.1%} for the library's: "
               "stronger than the same attack can be; is the budget kept?")


@exercise_check("fgsm_step")
def check_fgsm_step(fgsm_step) -> str:
    model = _classifier("fashion-classifier")
    x, y = _photos()
    out = as_tensor_or_fail(fgsm_step(model, x.clone(), y.clone(), EPS), "x'")
    expect(out.shape == x.shape, f"x': shape {tuple(out.shape)}, expected the images' shape {tuple(x.shape)}")
    ref = A.fgsm(model, x, y, EPS)
    share = _same_pixels(out.detach().float(), ref)
    if share <= 0.999:                                                     # name the usual mistakes
        o, grad = out.detach().float(), A.input_gradient(model, x, y)
        if _same_pixels(o, (x + EPS * grad).clamp(0, 1)) > 0.999:
            raise Fail("x': the step follows the gradient itself, so pixels move by very different amounts (some "
                       "by more than eps); take the *sign* of the gradient, so every pixel moves by the whole budget")
        _valid(o, x, EPS, "x'")
        if _same_pixels(o, (x - EPS * grad.sign()).clamp(0, 1)) > 0.999:
            raise Fail("x': the step goes down the loss (the gradient's sign is flipped): an attack climbs the loss")
        raise Fail(f"x': only {share:.1%} of the pixels equal one FGSM step of the library (a step of eps along the "
                   "sign of the image gradient of the cross-entropy, then clipped)")
    o = _valid(out, x, EPS, "x'")
    clean, lib, mine = _accuracy(model, x, y), _accuracy(model, ref, y), _accuracy(model, o, y)
    _band(mine, lib, clean, "accuracy under attack")
    return (f"one FGSM step: fashion-classifier on {len(x)} test photos, clean {clean:.1%} -> {mine:.1%} "
            f"under your attack (library {lib:.1%}, band {BAND:.0%})")


def _reference_step(model, x_adv, x, y, eps, alpha) -> torch.Tensor:
    grad = A.input_gradient(model, x_adv, y)
    return x + A.project(x, x_adv - x + alpha * A.ascent_direction(grad, "linf"), eps, "linf")


@exercise_check("pgd_step")
def check_pgd_step(pgd_step) -> str:
    model = _classifier("fashion-classifier-robust")
    x, y = _photos()
    alpha = A.default_step_size(EPS, PGD_STEPS)
    start = x + A.random_start(x, EPS, "linf", torch.Generator().manual_seed(0))
    # one step from a random start inside the ball
    out = as_tensor_or_fail(pgd_step(model, start.clone(), x.clone(), y.clone(), EPS, alpha), "x_adv")
    o = _valid(out, x, EPS, "x_adv after one step")
    ref = _reference_step(model, start, x, y, EPS, alpha)
    share = _same_pixels(o, ref)
    if share <= 0.999:                                                     # name the usual mistakes
        if _same_pixels(o, _reference_step(model, start, x, y, EPS, -alpha)) > 0.999:
            raise Fail("x_adv: the step goes down the loss (the gradient's sign is flipped): an attack climbs "
                       "the loss")
        at_x = x + A.project(x, start - x + alpha * A.input_gradient(model, x, y).sign(), EPS, "linf")
        if _same_pixels(o, at_x) > 0.999:
            raise Fail("x_adv: the gradient is taken at the original photo x; take it at the current point x_adv")
        raise Fail(f"x_adv: only {share:.1%} of the pixels equal one projected step of the library (step alpha "
                   "along the sign of the gradient at x_adv, then back into the eps-ball around x and into [0, 1])")
    # a step that starts on the border of the ball must come back into it
    border = x + A.project(x, EPS * torch.sign(start - x + 1e-12), EPS, "linf")
    _valid(as_tensor_or_fail(pgd_step(model, border.clone(), x.clone(), y.clone(), EPS, alpha), "x_adv"), x, EPS,
           "x_adv after a step from the border of the ball (project around the original photo x)")
    # the attack: PGD-5 from the same random start with your step, against the library's PGD-5
    x_adv = start.clone()
    for _ in range(PGD_STEPS):
        x_adv = as_tensor_or_fail(pgd_step(model, x_adv, x, y, EPS, alpha), "x_adv").detach()
    _valid(x_adv, x, EPS, f"x_adv after {PGD_STEPS} steps")
    lib_x = A.pgd(model, x, y, EPS, steps=PGD_STEPS, seed=0)
    clean, lib, mine = _accuracy(model, x, y), _accuracy(model, lib_x, y), _accuracy(model, x_adv, y)
    _band(mine, lib, clean, f"accuracy under PGD-{PGD_STEPS}")
    return (f"one projected step; PGD-{PGD_STEPS} with it on fashion-classifier-robust, {len(x)} test photos: "
            f"clean {clean:.1%} -> {mine:.1%} (library {lib:.1%}, band {BAND:.0%})")


__all__ = ["check_fgsm_step", "check_pgd_step", "ATTACK_IMAGES", "EPS", "PGD_STEPS", "BAND"]
