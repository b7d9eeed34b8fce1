"""Exercise checks of notebooks 05, 06, 08 and 09: each passes on the reference, says "not implemented yet"
on the stub, and fails on typical wrong answers with a hint that names the slip."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pgan_lib import attacks as A
from pgan_lib.course import attacks as c08
from pgan_lib.course import latent as c06
from pgan_lib.course import metrics as c09
from pgan_lib.course import text as c05
from pgan_lib.course.check import CheckResult
from pgan_lib.eval import metrics as M
from pgan_lib.explore import latent as L
from pgan_lib.models.clip import contrastive_loss
from pgan_lib.text.encoder import masked_mean


def stub(*args, **kwargs):
    raise NotImplementedError()


def assert_pass(result: CheckResult):
    assert result.passed, result.line()
    assert result.line().startswith("PASS: ")


def assert_not_done(result: CheckResult):
    assert result.not_done, result.line()
    assert "not implemented yet" in result.message


def assert_fail(result: CheckResult, *words: str):
    assert result.status == "fail", result.line()
    for w in words:
        assert w in result.message, f"{w!r} not in {result.message!r}"


# ----------------------------------------------------------------------------- notebook 05

def test_05_masked_mean():
    assert_pass(c05.check_masked_mean(masked_mean))
    assert_not_done(c05.check_masked_mean(stub))
    assert_fail(c05.check_masked_mean(lambda w, k: w.mean(1)), "padding")
    assert_fail(c05.check_masked_mean(lambda w, k: (w * k[..., None]).sum(1)), "sum")
    assert_fail(c05.check_masked_mean(lambda w, k: (w * k[..., None]).sum(1) / w.shape[1]), "own number of words")
    assert_fail(c05.check_masked_mean(lambda w, k: (w * k[..., None]).sum(1) / k.sum(1, keepdim=True)), "nan")
    assert_fail(c05.check_masked_mean(lambda w, k: (w * k[..., None]).mean(2)), "axis 1")


def _one_direction(u, v, s):
    return F.cross_entropy(s * u @ v.T, torch.arange(len(u)))


def test_05_info_nce():
    assert_pass(c05.check_info_nce(contrastive_loss))
    assert_not_done(c05.check_info_nce(stub))
    assert_fail(c05.check_info_nce(_one_direction), "one direction")
    assert_fail(c05.check_info_nce(lambda u, v, s: contrastive_loss(u, v, 1.0)), "scale")
    assert_fail(c05.check_info_nce(lambda u, v, s: 2 * contrastive_loss(u, v, s)), "added")
    assert_fail(c05.check_info_nce(lambda u, v, s: contrastive_loss(u, v, s) * len(u)), "sum over the batch")
    per_pair = lambda u, v, s: F.cross_entropy(s * u @ v.T, torch.arange(len(u)), reduction="none")  # noqa: E731
    assert_fail(c05.check_info_nce(per_pair), "one number per pair")
    # the softmax over the wrong axis in one direction: both terms then read the columns
    cols_twice = lambda u, v, s: F.cross_entropy((s * u @ v.T).T, torch.arange(len(u)))  # noqa: E731
    assert_fail(c05.check_info_nce(cols_twice), "one direction")


# ----------------------------------------------------------------------------- notebook 06

def _slerp_unnormalised_angle(a, b, t):
    omega = torch.arccos(torch.dot(a, b))                       # forgot to divide by the lengths
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def _slerp_no_division(a, b, t):
    omega = torch.arccos(torch.dot(a / a.norm(), b / b.norm()))
    t = t[:, None]
    return torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b


def _slerp_no_fallback(a, b, t):
    omega = torch.arccos(torch.dot(a / a.norm(), b / b.norm()).clamp(-1, 1))
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def test_06_slerp():
    assert_pass(c06.check_slerp(L.slerp))
    assert_not_done(c06.check_slerp(stub))
    assert_fail(c06.check_slerp(L.lerp), "straight line")
    assert_fail(c06.check_slerp(lambda a, b, t: L.slerp(b, a, t)), "swapped")
    assert_fail(c06.check_slerp(_slerp_unnormalised_angle), "nan")
    assert_fail(c06.check_slerp(_slerp_no_division), "sin(angle)")
    assert_fail(c06.check_slerp(_slerp_no_fallback), "same way")


def _direction_median(z, score, fraction=1 / 3):
    return L.attribute_direction(z, score, 0.5)


def test_06_attribute_direction():
    assert_pass(c06.check_attribute_direction(L.attribute_direction))
    assert_not_done(c06.check_attribute_direction(stub))
    unnormalised = lambda z, s, f=1 / 3: 3 * L.attribute_direction(z, s, f)  # noqa: E731
    assert_fail(c06.check_attribute_direction(unnormalised), "length")
    assert_fail(c06.check_attribute_direction(lambda z, s, f=1 / 3: -L.attribute_direction(z, s, f)), "falls")
    assert_fail(c06.check_attribute_direction(_direction_median), "median")
    assert_fail(c06.check_attribute_direction(lambda z, s, f=1 / 3: L.attribute_direction(z, s, 1 / 3)), "fraction")
    per_item = lambda z, s, f=1 / 3: F.normalize(z * s[:, None], dim=1)  # noqa: E731
    assert_fail(c06.check_attribute_direction(per_item), "shape")


# ----------------------------------------------------------------------------- notebook 08

def fgsm_ref(model, x, y, eps):
    return A.fgsm(model, x, y, eps)


def pgd_step_ref(model, x_adv, x, y, eps, alpha):
    grad = A.input_gradient(model, x_adv, y)
    return x + A.project(x, x_adv - x + alpha * grad.sign(), eps, "linf")


def test_08_fgsm_step():
    assert_pass(c08.check_fgsm_step(fgsm_ref))
    assert_not_done(c08.check_fgsm_step(stub))
    down = lambda m, x, y, eps: (x - eps * A.input_gradient(m, x, y).sign()).clamp(0, 1)  # noqa: E731
    assert_fail(c08.check_fgsm_step(down), "down the loss")
    no_clip = lambda m, x, y, eps: x + eps * A.input_gradient(m, x, y).sign()  # noqa: E731
    assert_fail(c08.check_fgsm_step(no_clip), "[0, 1]")
    raw = lambda m, x, y, eps: (x + eps * A.input_gradient(m, x, y)).clamp(0, 1)  # noqa: E731
    assert_fail(c08.check_fgsm_step(raw), "sign")
    assert_fail(c08.check_fgsm_step(lambda m, x, y, eps: A.fgsm(m, x, y, 2 * eps)), "budget")
    # a step on the wrong loss: the logit of the true class instead of the cross-entropy
    def logit_step(m, x, y, eps):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(m(x).gather(1, y[:, None]).sum(), x)
        return (x - eps * g.sign()).clamp(0, 1).detach()
    assert_fail(c08.check_fgsm_step(logit_step), "pixels equal")


def test_08_pgd_step():
    assert_pass(c08.check_pgd_step(pgd_step_ref))
    assert_not_done(c08.check_pgd_step(stub))
    no_projection = lambda m, xa, x, y, eps, a: (xa + a * A.input_gradient(m, xa, y).sign()).clamp(0, 1)  # noqa: E731
    assert_fail(c08.check_pgd_step(no_projection), "budget")
    at_x = lambda m, xa, x, y, eps, a: x + A.project(x, xa - x + a * A.input_gradient(m, x, y).sign(), eps, "linf")  # noqa: E731
    assert_fail(c08.check_pgd_step(at_x), "original photo")
    down = lambda m, xa, x, y, eps, a: pgd_step_ref(m, xa, x, y, eps, -a)  # noqa: E731
    assert_fail(c08.check_pgd_step(down), "down the loss")
    # the projection around the current point: each step is kept small, but the walk leaves the ball
    around_xa = lambda m, xa, x, y, eps, a: xa + A.project(xa, a * A.input_gradient(m, xa, y).sign(), eps, "linf")  # noqa: E731
    assert_fail(c08.check_pgd_step(around_xa), "budget")


# ----------------------------------------------------------------------------- notebook 09

def fid_eig(real, fake):
    mu1, mu2 = real.mean(0), fake.mean(0)
    c1, c2 = torch.cov(real.T), torch.cov(fake.T)
    root_trace = torch.linalg.eigvals(c1 @ c2).real.clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + c1.trace() + c2.trace() - 2 * root_trace)


def fid_scipy(real, fake):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    import numpy as np

    r, f = real.numpy(), fake.numpy()
    c1, c2 = np.cov(r, rowvar=False), np.cov(f, rowvar=False)
    root = scipy_linalg.sqrtm(c1 @ c2).real
    return float(((r.mean(0) - f.mean(0)) ** 2).sum() + np.trace(c1 + c2 - 2 * root))


def test_09_fid():
    assert_pass(c09.check_fid(lambda r, f: M.fid(r, f)))
    assert_pass(c09.check_fid(fid_eig))
    assert_pass(c09.check_fid(fid_scipy))
    assert_not_done(c09.check_fid(stub))
    assert_fail(c09.check_fid(lambda r, f: math.sqrt(M.fid(r, f))), "square root")
    biased = lambda r, f: M.frechet_distance(r.mean(0), torch.cov(r.T, correction=0), f.mean(0),  # noqa: E731
                                             torch.cov(f.T, correction=0))
    assert_fail(c09.check_fid(biased), "N - 1")

    def elementwise(r, f):
        c1, c2 = torch.cov(r.T), torch.cov(f.T)
        return float((r.mean(0) - f.mean(0)).pow(2).sum() + c1.trace() + c2.trace()
                     - 2 * torch.sqrt((c1 @ c2).clamp(min=0)).trace())
    assert_fail(c09.check_fid(elementwise), "element by element")

    def halved(r, f):
        c1, c2 = torch.cov(r.T), torch.cov(f.T)
        root_trace = torch.linalg.eigvals(c1 @ c2).real.clamp(min=0).sqrt().sum()
        return float((r.mean(0) - f.mean(0)).pow(2).sum() + c1.trace() + c2.trace() - root_trace)
    assert_fail(c09.check_fid(halved), "halved")
    assert_fail(c09.check_fid(lambda r, f: torch.zeros(3)), "single number")


def kid_ref(real, fake):
    k = lambda a, b: M.polynomial_kernel(a, b)  # noqa: E731
    return float(M.mmd2_unbiased(k(real, real), k(fake, fake), k(real, fake)))


def test_09_kid():
    assert_pass(c09.check_kid(kid_ref))
    assert_not_done(c09.check_kid(stub))
    k = lambda a, b: M.polynomial_kernel(a, b)  # noqa: E731
    biased = lambda r, f: float(k(r, r).mean() + k(f, f).mean() - 2 * k(r, f).mean())  # noqa: E731
    assert_fail(c09.check_kid(biased), "diagonal")

    def wrong_norm(r, f):
        kxx, kyy = k(r, r), k(f, f)
        return float((kxx.sum() - kxx.trace()) / len(r) ** 2 + (kyy.sum() - kyy.trace()) / len(f) ** 2
                     - 2 * k(r, f).mean())
    assert_fail(c09.check_kid(wrong_norm), "m(m - 1)")
    once = lambda r, f: kid_ref(r, f) + float(k(r, f).mean())  # noqa: E731
    assert_fail(c09.check_kid(once), "cross term")
    g1 = lambda a, b: M.polynomial_kernel(a, b, gamma=1.0)  # noqa: E731
    assert_fail(c09.check_kid(lambda r, f: float(M.mmd2_unbiased(g1(r, r), g1(f, f), g1(r, f)))), "dimension D")


def test_09_one_class_inception_score():
    measured = c09.one_class_inception_score()
    assert 1.0 <= measured < 1.5                    # one class: p(y|x) ~ p(y), IS near its minimum of 1
    assert_pass(c09.check_one_class_is(1.0, quiet=True))
    assert_pass(c09.check_one_class_is(measured, quiet=True))
    assert_fail(c09.check_one_class_is(10.0, quiet=True), "too high")
    assert_fail(c09.check_one_class_is(0.0, quiet=True), "never below 1")
    assert_not_done(c09.check_one_class_is(None, quiet=True))


def test_06_design():
    from pgan_lib.explore import Design

    assert_pass(c06.check_design(Design("vae-fashion", seed=2, offsets={"darker": 1, "wider": 2, "pc2": 2})))
    assert_not_done(c06.check_design(None))
    assert_fail(c06.check_design(Design("vae-fashion", seed=2)), "not dark yet")
    assert_fail(c06.check_design(Design("vae-fashion", seed=2, offsets={"darker": 1.5, "wider": 2})), "not wide yet")
    assert_fail(c06.check_design(Design("vae-fashion", seed=2, offsets={"darker": 3, "wider": 3, "pc2": 3})),
                "classifier sees")
    assert_fail(c06.check_design(Design("cvae-fashion", seed=2, prompt="a dark wide pullover")), "vae-fashion")
    assert_fail(c06.check_design({"darker": 1}), "expected a Design")


# ----------------------------------------------------------------------------- notebook 10

def _fade_ref(new, old, alpha):
    return alpha * new + (1 - alpha) * F.interpolate(old, scale_factor=2, mode="nearest")


def test_10_fade_in():
    from pgan_lib.course import progan as c10

    assert_pass(c10.check_fade_in(_fade_ref))
    assert_not_done(c10.check_fade_in(stub))
    assert_fail(c10.check_fade_in(lambda n, o, a: (1 - a) * n + a * F.interpolate(o, scale_factor=2)), "wrong image")
    assert_fail(c10.check_fade_in(lambda n, o, a: a * n + (1 - a) * F.interpolate(o, scale_factor=2, mode="bilinear")),
                "nearest")
    assert_fail(c10.check_fade_in(lambda n, o, a: a * F.avg_pool2d(n, 2) + (1 - a) * o), "old resolution")
    assert_fail(c10.check_fade_in(lambda n, o, a: a * n + a * F.interpolate(o, scale_factor=2)), "1 - alpha")
    assert_fail(c10.check_fade_in(lambda n, o, a: None), "return")


def _mbstd_ref(x, group_size):
    n, c, h, w = x.shape
    g = min(group_size, n)
    y = x.reshape(n // g, g, c, h, w)
    s = (y.var(1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
    return torch.cat([x, s.repeat_interleave(g).view(n, 1, 1, 1).expand(n, 1, h, w)], 1)


def test_10_minibatch_stddev():
    from pgan_lib.course import progan as c10

    assert_pass(c10.check_minibatch_stddev(_mbstd_ref))
    assert_not_done(c10.check_minibatch_stddev(stub))
    whole = lambda x, g: torch.cat([x, (x.var(0, unbiased=False) + 1e-8).sqrt().mean().expand(len(x), 1, *x.shape[2:])], 1)  # noqa: E731
    assert_fail(c10.check_minibatch_stddev(whole), "whole batch")
    assert_fail(c10.check_minibatch_stddev(lambda x, g: x), "one more channel")

    def unbiased(x, g):
        n, c, h, w = x.shape
        s = (x.reshape(n // g, g, c, h, w).var(1, unbiased=True) + 1e-8).sqrt().mean(dim=(1, 2, 3))
        return torch.cat([x, s.repeat_interleave(g).view(n, 1, 1, 1).expand(n, 1, h, w)], 1)
    assert_fail(c10.check_minibatch_stddev(unbiased), "population variance")

    def per_pixel(x, g):
        n, c, h, w = x.shape
        s = (x.reshape(n // g, g, c, h, w).var(1, unbiased=False) + 1e-8).sqrt().mean(dim=1)   # (N/g, H, W)
        return torch.cat([x, s.repeat_interleave(g, 0).unsqueeze(1)], 1)
    assert_fail(c10.check_minibatch_stddev(per_pixel), "one number per group")
