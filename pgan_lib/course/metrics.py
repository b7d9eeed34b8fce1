"""Checks for notebook 09 (evaluation): FID from two feature sets, unbiased KID, and a predicted Inception Score.

Exercises (references in ``pgan_lib.eval.metrics``):

    fid(real, fake) -> float                    ||mu_r - mu_f||^2 + tr(S_r + S_f - 2 (S_r S_f)^{1/2}),
                                                unbiased covariances (divide by N - 1)   check_fid
    kid(real, fake) -> float                    unbiased MMD^2 with k(a, b) = (a . b / D + 1)^3, one
                                                subset: all of both sets                 check_kid
    one-class IS (a number)                     the Inception Score of a generator that draws
                                                ankle boots only, predicted before it is measured
                                                                                         check_one_class_is

FID and KID are compared with the library on small fixed feature sets (D = 8)
whose means and covariances differ; the hints name the usual slips (a biased
covariance, an element-wise square root, a missing factor 2, the diagonal of the
kernel matrices counted, the kernel's scale).
"""
from __future__ import annotations

import torch

from ..data import load_dataset
from ..eval import metrics as M
from ..eval.features import FeatureExtractor
from .check import CheckResult, Fail, check_answer, compare, exercise_check, expect

#: the answer band for the one-class Inception Score, around the library's measurement
IS_TOLERANCE = 0.25


def _feature_sets() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(21)
    real = torch.randn(60, 8, generator=g, dtype=torch.float64)
    mix = torch.eye(8, dtype=torch.float64) + 0.4 * torch.randn(8, 8, generator=g, dtype=torch.float64)
    fake = torch.randn(50, 8, generator=g, dtype=torch.float64) @ mix + 0.5
    return real, fake


def _number(value, what: str) -> float:
    if value is None:
        raise Fail(f"{what}: your function returned None; did you forget `return`?")
    try:
        v = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise Fail(f"{what}: expected a single number, got {type(value).__name__}"
                   f"{' of shape ' + str(tuple(value.shape)) if hasattr(value, 'shape') else ''}") from None
    expect(v == v and abs(v) != float("inf"), f"{what}: {v} is not a finite number (a complex or negative "
                                              "square root?)")
    return v


def _fid_parts(real: torch.Tensor, fake: torch.Tensor, ddof: int = 1):
    mu1, mu2 = real.mean(0), fake.mean(0)
    c1 = (real - mu1).T @ (real - mu1) / (len(real) - ddof)
    c2 = (fake - mu2).T @ (fake - mu2) / (len(fake) - ddof)
    return mu1, c1, mu2, c2


def _diagnose_fid(value: float, ref: float, real: torch.Tensor, fake: torch.Tensor) -> None:
    """Raise Fail naming the mistake when ``value`` is a known wrong version of FID."""
    if abs(value - ref ** 0.5) < 1e-4 * ref:
        raise Fail("FID: that is the square root of the distance; FID is the squared Frechet distance (no root)")
    mu1, c1, mu2, c2 = _fid_parts(real, fake, ddof=0)
    if abs(value - M.frechet_distance(mu1, c1, mu2, c2)) < 1e-6 * ref:
        raise Fail("FID: the covariances are divided by N; the unbiased covariance divides by N - 1")
    mu1, c1, mu2, c2 = _fid_parts(real, fake)
    trace_elementwise = float(torch.sqrt((c1 @ c2).clamp(min=0)).trace())
    plain = float((mu1 - mu2).pow(2).sum() + c1.trace() + c2.trace())     # everything but the cross term
    if abs(value - (plain - 2 * trace_elementwise)) < 1e-6 * ref:
        raise Fail("FID: the square root is taken element by element; (S_r S_f)^{1/2} is a *matrix* square root "
                   "(its trace is the sum of the square roots of the eigenvalues of S_r S_f)")
    if abs(value - (plain - (plain - ref) / 2)) < 1e-6 * ref:                  # the cross term counted once
        raise Fail("FID: the cross term is halved: it is tr(S_r) + tr(S_f) - 2 tr((S_r S_f)^{1/2})")


@exercise_check("fid")
def check_fid(fid) -> str:
    real, fake = _feature_sets()
    value = _number(fid(real.clone(), fake.clone()), "FID")
    ref = M.fid(real, fake)
    try:
        compare(torch.tensor(value), torch.tensor(ref), "FID", tol=1e-5)
    except Fail:
        _diagnose_fid(value, ref, real, fake)
        raise
    same = _number(fid(real.clone(), real.clone()), "FID of a set with itself")
    expect(abs(same) < 1e-6, f"FID of a set with itself is {same:.3g}, not 0: a term is wrong or missing")
    # a pure mean shift with the same covariance adds exactly ||shift||^2
    shift = torch.zeros(8, dtype=torch.float64)
    shift[0], shift[3] = 1.0, -2.0
    shifted = _number(fid(real.clone(), real + shift), "FID of a shifted copy")
    expect(abs(shifted - 5.0) < 1e-5, f"FID of a copy shifted by a vector of length^2 5 is {shifted:.4g}, not 5: "
                                      "check the mean term")
    return f"matches the library (FID {ref:.4f} on the test features), 0 for a set with itself, ||shift||^2 for a shift"


def _kid_parts(real: torch.Tensor, fake: torch.Tensor, gamma: float | None = None):
    k = lambda a, b: M.polynomial_kernel(a, b, 3, gamma, 1.0)  # noqa: E731
    return k(real, real), k(fake, fake), k(real, fake)


def _diagnose_kid(value: float, ref: float, real: torch.Tensor, fake: torch.Tensor) -> None:
    """Raise Fail naming the mistake when ``value`` is a known wrong version of the unbiased MMD^2."""
    kxx, kyy, kxy = _kid_parts(real, fake)
    m, n = len(real), len(fake)
    close = lambda other: abs(value - other) < 1e-6 * abs(ref)  # noqa: E731
    if close(float(kxx.mean() + kyy.mean() - 2 * kxy.mean())):
        raise Fail("KID: the diagonal terms k(x_i, x_i) are counted; the unbiased estimate leaves them out and "
                   "divides by m(m - 1)")
    if close(float((kxx.sum() - kxx.diagonal().sum()) / m ** 2 + (kyy.sum() - kyy.diagonal().sum()) / n ** 2
                   - 2 * kxy.mean())):
        raise Fail("KID: the diagonal is left out but the sums are divided by m^2; there are m(m - 1) pairs i != j")
    if close(ref + float(kxy.mean())):
        raise Fail("KID: the cross term counts once; it is -2/(m n) sum_ij k(x_i, y_j)")
    if close(float(M.mmd2_unbiased(*_kid_parts(real, fake, gamma=1.0)))):
        raise Fail("KID: the kernel's dot product is not divided by the feature dimension D")


@exercise_check("kid")
def check_kid(kid) -> str:
    real, fake = _feature_sets()
    value = _number(kid(real.clone(), fake.clone()), "KID")
    kxx, kyy, kxy = _kid_parts(real, fake)
    ref = float(M.mmd2_unbiased(kxx, kyy, kxy))
    m = len(real)
    try:
        compare(torch.tensor(value), torch.tensor(ref), "KID", tol=1e-5)
    except Fail:
        _diagnose_kid(value, ref, real, fake)
        raise
    shuffled = real[torch.randperm(m, generator=torch.Generator().manual_seed(0))]
    swapped = _number(kid(fake.clone(), real.clone()), "KID with the sets swapped")
    expect(abs(swapped - ref) < 1e-6 * abs(ref), "KID must not depend on which set comes first")
    reordered = _number(kid(shuffled, fake.clone()), "KID")
    expect(abs(reordered - ref) < 1e-6 * abs(ref), "KID changed when the real features were put in another order")
    return f"matches the library's unbiased MMD^2 (KID {ref:.5f} on the test features), symmetric, order-free"


def one_class_inception_score(n: int = 1000) -> float:
    """The Inception Score (kit classifier) of up to ``n`` validation ankle boots: the library's measurement."""
    val = load_dataset("fashion-mnist", "val", limit=False)
    boots = val.images[val.labels == val.class_names.index("ankle boot")][:n]
    ext = FeatureExtractor.for_dataset("fashion-mnist")(boots)
    return M.inception_score(ext.probs("label"))[0]


def check_one_class_is(value, quiet: bool = False) -> CheckResult:
    """PASS when the predicted IS of an ankle-boots-only generator is within ``IS_TOLERANCE`` of the measured one."""
    return check_answer("one_class_is", value, one_class_inception_score(), IS_TOLERANCE,
                        hint_low="too low: the Inception Score is never below 1",
                        hint_high="too high: with one class, how many classes does p(y) spread over?", quiet=quiet)


__all__ = ["check_fid", "check_kid", "check_one_class_is", "one_class_inception_score", "IS_TOLERANCE"]
