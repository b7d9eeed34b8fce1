"""Tests of pgan_lib.eval.metrics: known values, independent re-implementations and torchmetrics cross-checks.

Tolerances used against torchmetrics 1.x (same feature extractor, same inputs):
  FID   relative 1e-6 (both in float64; torchmetrics takes eigenvalues of sigma1 sigma2, we of A sigma2 A)
  KID   relative 1e-6 with float64 features and one subset holding every sample (no random subsets)
  SSIM  absolute 1e-6 with padding="reflect" (torchmetrics' convention)
  PSNR  absolute 1e-4 dB
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from pgan_lib.eval import metrics as M


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def noisy_pair(shape, std=0.1, seed=0):
    x = torch.rand(shape, generator=gen(seed))
    y = (x + std * torch.randn(shape, generator=gen(seed + 1))).clamp(0, 1)
    return x, y


# ============================================================================ pixel metrics

def test_mse_l1_psnr_known_values():
    x = torch.zeros(2, 1, 4, 4)
    y = x.clone()
    y[0] += 0.1            # every pixel off by 0.1: MSE 0.01, L1 0.1, PSNR 20 dB
    y[1, :, :2] = 1.0      # half the pixels off by 1: MSE 0.5, L1 0.5
    assert torch.allclose(M.mse(x, y), torch.tensor([0.01, 0.5]), atol=1e-7)
    assert torch.allclose(M.l1(x, y), torch.tensor([0.1, 0.5]), atol=1e-7)
    assert torch.allclose(M.psnr(x, y), torch.tensor([20.0, 10 * math.log10(2)]), atol=1e-4)
    assert M.psnr(x, x).tolist() == [M.PSNR_MAX_DB] * 2


def test_pixel_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError):
        M.mse(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 5))
    with pytest.raises(ValueError):
        M.ssim(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4))


def test_ssim_is_one_for_identical_and_falls_with_noise():
    x = torch.rand(3, 1, 28, 28, generator=gen())
    assert torch.allclose(M.ssim(x, x), torch.ones(3), atol=1e-6)
    values = [M.ssim(*noisy_pair((3, 1, 28, 28), std)).mean().item() for std in (0.02, 0.1, 0.3)]
    assert values[0] > values[1] > values[2]


def test_ssim_valid_matches_a_loop_over_windows():
    """The 'valid' SSIM against a literal per-window computation (Wang et al. 2004, eq. 13)."""
    x, y = noisy_pair((1, 1, 14, 13), 0.2, seed=3)
    w = M.gaussian_window(11, 1.5)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    vals = []
    for i in range(14 - 10):
        for j in range(13 - 10):
            a, b = x[0, 0, i:i + 11, j:j + 11].double(), y[0, 0, i:i + 11, j:j + 11].double()
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
            cov = (w * (a - ma) * (b - mb)).sum()
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    assert M.ssim(x, y).item() == pytest.approx(torch.stack(vals).mean().item(), abs=1e-6)


@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (3, 3, 32, 32)])
def test_ssim_and_psnr_agree_with_torchmetrics(shape):
    tm = pytest.importorskip("torchmetrics.functional.image")
    x, y = noisy_pair(shape, 0.1)
    theirs = tm.structural_similarity_index_measure(y.double(), x.double(), data_range=1.0, reduction="none")
    assert torch.allclose(M.ssim(y, x, padding="reflect").double(), theirs, atol=1e-6)
    theirs_psnr = tm.peak_signal_noise_ratio(y, x, data_range=1.0, reduction="none", dim=(1, 2, 3))
    assert torch.allclose(M.psnr(y, x), theirs_psnr, atol=1e-4)


# ============================================================================ FID

def test_frechet_distance_of_diagonal_gaussians_has_closed_form():
    """For diagonal covariances, d^2 = ||mu1 - mu2||^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2."""
    g = gen(1)
    f64 = torch.float64
    mu1, mu2 = torch.randn(6, generator=g, dtype=f64), torch.randn(6, generator=g, dtype=f64)
    s1, s2 = torch.rand(6, generator=g, dtype=f64) + 0.1, torch.rand(6, generator=g, dtype=f64) + 0.1
    expected = ((mu1 - mu2) ** 2).sum() + ((s1.sqrt() - s2.sqrt()) ** 2).sum()
    assert M.frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2)) == pytest.approx(float(expected), rel=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_on_full_covariances():
    linalg = pytest.importorskip("scipy.linalg")
    g = gen(2)
    a, b = torch.randn(8, 8, generator=g, dtype=torch.float64), torch.randn(8, 8, generator=g, dtype=torch.float64)
    s1, s2 = a @ a.T + 0.1 * torch.eye(8, dtype=torch.float64), b @ b.T + 0.1 * torch.eye(8, dtype=torch.float64)
    mu1, mu2 = torch.randn(8, generator=g, dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    covmean = linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = float(((mu1 - mu2) ** 2).sum() + s1.trace() + s2.trace()) - 2 * np.trace(covmean)
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fid_with_singular_covariances_is_finite_and_real():
    """Fewer samples than dimensions (and dead units) make singular covariances: no NaN, no imaginary part."""
    g = gen(3)
    x = torch.randn(20, 64, generator=g)
    x[:, :10] = 0.0                         # ten dead features
    y = torch.randn(20, 64, generator=g)
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-6)
    value = M.fid(x, y)
    assert isinstance(value, float) and math.isfinite(value) and value > 0


def test_fid_orders_gaussians_by_shift():
    g = gen(4)
    real = torch.randn(2000, 16, generator=g)
    same = torch.randn(2000, 16, generator=g)
    shifts = [M.fid(real, torch.randn(2000, 16, generator=g) + s) for s in (0.25, 0.5, 1.0)]
    assert M.fid(real, same) < shifts[0] < shifts[1] < shifts[2]
    # A mean shift of s in every one of 16 dimensions adds 16 s^2.
    assert shifts[2] == pytest.approx(16.0, rel=0.1)


# ============================================================================ KID

def test_mmd2_unbiased_matches_a_literal_double_sum():
    g = gen(5)
    x, y = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(9, 3, generator=g, dtype=torch.float64)
    k = lambda a, b: (a @ b / 3 + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(9)) / (7 * 9)
    got = M.mmd2_unbiased(M.polynomial_kernel(x, x), M.polynomial_kernel(y, y), M.polynomial_kernel(x, y))
    assert float(got) == pytest.approx(float(xx + yy - 2 * xy), rel=1e-10)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    g = gen(6)
    real = torch.randn(1500, 32, generator=g)
    same, std_same = M.kid(real, torch.randn(1500, 32, generator=g), subsets=20, subset_size=500)
    other, _ = M.kid(real, torch.randn(1500, 32, generator=g) + 0.3, subsets=20, subset_size=500)
    assert abs(same) < 3 * std_same
    assert other > 10 * max(abs(same), std_same)
    # float32 kernels (the default) agree with float64 ones.
    assert M.kid(real, real + 0.1, subsets=3, subset_size=300)[0] == pytest.approx(
        M.kid(real, real + 0.1, subsets=3, subset_size=300, dtype=torch.float64)[0], rel=1e-4)


# ============================================================================ PRDC

def naive_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """The definitions of Kynkaanniemi et al. (2019) and Naeem et al. (2020), written as plain loops."""
    def radius(points, i):
        d = sorted(np.linalg.norm(points - points[i], axis=1))
        return d[k]                      # d[0] is the point itself

    r_real = [radius(real, i) for i in range(len(real))]
    r_fake = [radius(fake, j) for j in range(len(fake))]
    inside = np.array([[np.linalg.norm(y - x) <= r for y in fake] for x, r in zip(real, r_real)])  # (N, M)
    recall = np.mean([any(np.linalg.norm(x - y) <= s for y, s in zip(fake, r_fake)) for x in real])
    return {"precision": inside.any(0).mean(), "recall": recall,
            "density": inside.sum(0).mean() / k, "coverage": inside.any(1).mean()}


def test_prdc_matches_the_definitions():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(60, 4)), rng.normal(0.5, 1.2, size=(50, 4))
    ours = M.prdc(real, fake, k=3, chunk=16)
    ref = naive_prdc(real, fake, 3)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


def test_density_and_coverage_of_one_gaussian_match_the_reference_figures():
    """Two samples of one Gaussian: density ~ 1 and coverage ~ 1 - 2^-5 = 0.97 (Naeem et al. 2020, prdc README)."""
    g = gen(8)
    real, fake = torch.randn(4000, 64, generator=g), torch.randn(4000, 64, generator=g)
    m = M.prdc(real, fake, k=5)
    assert m["density"] == pytest.approx(1.0, abs=0.08)
    assert m["coverage"] == pytest.approx(0.97, abs=0.015)
    shifted = M.prdc(real, torch.randn(4000, 64, generator=g) + 0.5, k=5)
    for key in m:
        assert shifted[key] < m[key] - 0.1, key


def test_prdc_accepts_precomputed_radii_and_separates_fidelity_from_diversity():
    g = gen(9)
    real = torch.randn(1000, 8, generator=g)
    radii = M.knn_radii(real, 5)
    collapsed = real[:1].repeat(1000, 1) + 0.01 * torch.randn(1000, 8, generator=g)   # one mode, very real
    m = M.prdc(real, collapsed, k=5, real_radii=radii)
    assert m == M.prdc(real, collapsed, k=5)
    assert m["precision"] > 0.9 and m["recall"] < 0.05 and m["coverage"] < 0.05
    with pytest.raises(ValueError):
        M.prdc(real, collapsed, real_radii=radii[:10])


# ============================================================================ classifier-based scores and others

def test_inception_score_bounds():
    k = 10
    confident_balanced = torch.eye(k).repeat(20, 1)
    assert M.inception_score(confident_balanced, splits=2)[0] == pytest.approx(k, rel=1e-6)
    one_class = torch.eye(k)[torch.zeros(200, dtype=torch.long)]
    assert M.inception_score(one_class)[0] == pytest.approx(1.0, abs=1e-6)
    unsure = torch.full((200, k), 1.0 / k)
    assert M.inception_score(unsure)[0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError):
        M.inception_score(torch.randn(10, k))


def test_conditional_accuracy_and_histogram():
    pred = torch.tensor([0, 1, 2, 2, 1])
    asked = torch.tensor([0, 1, 1, -1, 1])
    assert M.conditional_accuracy(pred, asked) == pytest.approx(3 / 4)
    assert math.isnan(M.conditional_accuracy(pred, torch.full((5,), -1)))
    assert M.class_histogram(pred, 4).tolist() == [1, 2, 2, 0]


def test_diversity():
    g = gen(10)
    x = torch.randn(300, 5, generator=g)
    assert M.diversity(x[:1].repeat(50, 1)) == pytest.approx(0.0, abs=1e-6)
    assert M.diversity(3 * x) == pytest.approx(3 * M.diversity(x), rel=1e-6)
    groups = M.diversity_by_condition(torch.cat([x[:50], x[:1].repeat(50, 1)]), ["a"] * 50 + ["b"] * 50)
    assert groups["b"] == pytest.approx(0.0, abs=1e-6) and groups["a"] > 1


def test_memorisation_flags_copies_not_fresh_samples():
    g = gen(11)
    train, test = torch.randn(3000, 16, generator=g), torch.randn(500, 16, generator=g)
    fresh = M.memorisation(torch.randn(500, 16, generator=g), train, test, quantile=0.05)
    copied = M.memorisation(train[:500] + 1e-3 * torch.randn(500, 16, generator=g), train, test, quantile=0.05)
    assert fresh["near_copy_share"] < 0.12 and 0.8 < fresh["distance_ratio"] < 1.2
    assert copied["near_copy_share"] > 0.99 and copied["distance_ratio"] < 0.01


def test_classification_accuracy_score_needs_the_right_labels(tiny_data):
    """CAS: training on well-labelled images scores high; a generator that draws the other class scores ~0."""
    kw = dict(steps=40, batch_size=32, widths=(8, 16), device="cpu")
    ok = M.classification_accuracy_score(tiny_data.images, tiny_data.labels, tiny_data, tiny_data.class_names, **kw)
    swapped = M.classification_accuracy_score(tiny_data.images, 1 - tiny_data.labels, tiny_data, tiny_data.class_names, **kw)
    assert ok["cas"] > 0.95 and ok["train_accuracy"] > 0.95
    assert swapped["cas"] < 0.1 and swapped["train_accuracy"] > 0.95


# ============================================================================ torchmetrics cross-check, real features

class Features(nn.Module):
    """The kit classifier's penultimate layer as the feature module torchmetrics expects."""

    def __init__(self, clf) -> None:
        super().__init__()
        self.clf = clf
        self.num_features = clf.config.feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clf.features(x.float()).double()


@pytest.fixture(scope="module")
def shipped_classifier():
    from pgan_lib import pretrained

    if not pretrained.available("fashion-classifier"):
        pytest.skip("the shipped fashion-classifier checkpoint is not present")
    return pretrained.load("fashion-classifier")


@pytest.fixture(scope="module")
def real_and_blurred():
    from pgan_lib.data import load_dataset
    from pgan_lib.eval.degrade import blur

    test = load_dataset("fashion-mnist", "test", limit=400)
    x = test.float_images()
    return x, blur(x, 1.0)


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save all extracted features")
def test_fid_and_kid_agree_with_torchmetrics(shipped_classifier, real_and_blurred):
    fid_mod = pytest.importorskip("torchmetrics.image.fid")
    kid_mod = pytest.importorskip("torchmetrics.image.kid")
    real, fake = real_and_blurred
    feature = Features(shipped_classifier)
    with torch.no_grad():
        fr, ff = feature(real), feature(fake)
        tm_fid = fid_mod.FrechetInceptionDistance(feature=feature, normalize=True)
        tm_fid.update(real, real=True)
        tm_fid.update(fake, real=False)
        theirs = float(tm_fid.compute())
        # One subset holding every sample: torchmetrics' random permutation then changes nothing.
        tm_kid = kid_mod.KernelInceptionDistance(feature=feature, subsets=1, subset_size=len(real), normalize=True)
        tm_kid.update(real, real=True)
        tm_kid.update(fake, real=False)
        theirs_kid = float(tm_kid.compute()[0])
    ours = M.fid(fr, ff)
    assert ours > 1.0                       # blurred images are measurably different
    assert ours == pytest.approx(theirs, rel=1e-6)
    ours_kid = M.kid(fr, ff, subsets=1, subset_size=len(real), dtype=torch.float64)[0]
    assert ours_kid > 0
    assert ours_kid == pytest.approx(theirs_kid, rel=1e-6)
