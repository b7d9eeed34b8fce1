"""How good are generated images? The kit's metrics, each a small function.

Two kinds of metric live here:

* **Pixel metrics** compare an image with the image it should be (a
  reconstruction, an inpainted hole): ``mse``, ``l1``, ``psnr``, ``ssim``.
  Images are float tensors in [0, 1], shape (N, C, H, W); each returns (N,).

* **Distribution metrics** compare a *set* of generated images with a set of
  real ones, through features: vectors (N, D) from a frozen network (the kit
  uses the penultimate layer of its own product classifier, see
  ``pgan_lib.eval.report``). ``fid``, ``kid``, ``prdc`` (precision, recall,
  density, coverage), ``inception_score``, ``diversity`` and the
  ``memorisation`` check all take features, as numpy arrays or tensors.

Every function is independent of any model, so a notebook can call it on
anything: two Gaussian clouds, pixels, features of another network.
"""
from __future__ import annotations

import tempfile
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.base import ProductData
from ..images import to_uint8
from ..models.classifier import Classifier, ClassifierConfig
from ..train import TrainConfig, Trainer


def _tensor(x, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """numpy array or tensor -> CPU tensor of ``dtype``."""
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    return t.detach().to("cpu", dtype)


def _check_images(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"expected two image batches (N, C, H, W) of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")


# ============================================================================ pixel metrics

def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image: mean over pixels of (x - y)^2, (N, C, H, W) -> (N,)."""
    _check_images(x, y)
    return (x.float() - y.float()).pow(2).flatten(1).mean(1)


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image: mean over pixels of |x - y|, (N, C, H, W) -> (N,)."""
    _check_images(x, y)
    return (x.float() - y.float()).abs().flatten(1).mean(1)


PSNR_MAX_DB = 100.0


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in decibels, (N, C, H, W) -> (N,).

        PSNR = 10 log10( data_range^2 / MSE )

    Higher is better; +6 dB is half the error amplitude. Identical images would
    give infinity; they get ``PSNR_MAX_DB`` (100 dB) instead, so averages stay finite.
    """
    err = mse(x, y).double()
    value = 10.0 * torch.log10(data_range ** 2 / err.clamp(min=data_range ** 2 * 10 ** (-PSNR_MAX_DB / 10)))
    return value.float()


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """A normalised 2-D Gaussian window (size, size): w(u, v) proportional to exp(-(u^2 + v^2) / (2 sigma^2))."""
    u = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-u ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03, padding: str = "valid") -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image, (N, C, H, W) -> (N,), 1 for identical images.

    Local statistics are Gaussian-weighted means over a window around every pixel:

        mu_x = w * x,   sigma_x^2 = w * x^2 - mu_x^2,   sigma_xy = w * (x y) - mu_x mu_y

        SSIM(p) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))

    with C1 = (k1 L)^2, C2 = (k2 L)^2 and L = data_range. The map is averaged over
    channels and over the positions where the whole window fits inside the image
    (``padding="valid"``, as in the paper's code and scikit-image), or over every
    pixel of the image mirrored at its borders (``padding="reflect"``, as
    torchmetrics does). The window shrinks (to the largest odd size that fits)
    for images smaller than 11 pixels.
    """
    _check_images(x, y)
    if padding not in ("valid", "reflect"):
        raise ValueError(f"padding {padding!r}: use 'valid' or 'reflect'")
    c = x.shape[1]
    size = min(window, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2
    w = gaussian_window(size, sigma).to(x.device)[None, None].repeat(c, 1, 1, 1)  # (C, 1, s, s)
    x, y = x.double(), y.double()
    if padding == "reflect":
        pad = (size // 2,) * 4
        x, y = F.pad(x, pad, mode="reflect"), F.pad(y, pad, mode="reflect")

    def local_mean(t: torch.Tensor) -> torch.Tensor:   # (N, C, H, W) -> (N, C, H-s+1, W-s+1)
        return F.conv2d(t, w, groups=c)

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = (local_mean(x * x) - mu_x ** 2).clamp(min=0)
    var_y = (local_mean(y * y) - mu_y ** 2).clamp(min=0)
    cov_xy = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(1).float()


# ============================================================================ Frechet distance (FID)

def feature_stats(feats) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    f = _tensor(feats)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got {tuple(f.shape)}")
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix through its eigenvalues.

        a = V diag(lambda) V^T   ->   a^{1/2} = V diag(sqrt(max(lambda, 0))) V^T

    Tiny negative eigenvalues (round-off of a singular covariance) are clipped to
    zero, so the result is always real and never NaN.
    """
    a = (a + a.T) / 2
    lam, v = torch.linalg.eigh(a)
    return (v * lam.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2), in float64.

        d^2 = ||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^{1/2})

    The product sigma1 sigma2 is not symmetric, so a general matrix square root
    (scipy's ``sqrtm``) can return complex numbers or NaN when a covariance is
    singular (fewer samples than dimensions, dead ReLU units). Instead, with
    A = sigma1^{1/2} (symmetric):

        eig(sigma1 sigma2) = eig(A (A sigma2)) = eig((A sigma2) A) = eig(A sigma2 A)

    (XY and YX have the same eigenvalues), and A sigma2 A is symmetric positive
    semi-definite, so its eigenvalues lambda_i are real and >= 0 (after clipping
    round-off) and tr((sigma1 sigma2)^{1/2}) = sum_i sqrt(lambda_i).
    """
    mu1, mu2 = _tensor(mu1), _tensor(mu2)
    s1, s2 = _tensor(sigma1), _tensor(sigma2)
    a = sqrtm_psd(s1)
    m = a @ s2 @ a
    lam = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0)
    d2 = (mu1 - mu2).pow(2).sum() + s1.trace() + s2.trace() - 2 * lam.sqrt().sum()
    return float(d2.clamp(min=0))


def fid(real_feats, fake_feats) -> float:
    """Frechet distance between the feature statistics of two sets (N, D) and (M, D); 0 = same mean and covariance."""
    return frechet_distance(*feature_stats(real_feats), *feature_stats(fake_feats))


# ============================================================================ kernel distance (KID)

def polynomial_kernel(a: torch.Tensor, b: torch.Tensor, degree: int = 3, gamma: float | None = None,
                      coef: float = 1.0) -> torch.Tensor:
    """k(a_i, b_j) = (gamma a_i . b_j + coef)^degree, with gamma = 1/D by default: (N, D), (M, D) -> (N, M)."""
    gamma = 1.0 / a.shape[1] if gamma is None else gamma
    return (a @ b.T * gamma + coef) ** degree


def mmd2_unbiased(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> torch.Tensor:
    """Unbiased estimate of the squared maximum mean discrepancy from kernel matrices (m, m), (n, n), (m, n).

        MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
                  - 2/(m n) sum_{i, j} k(x_i, y_j)

    The diagonal terms k(x_i, x_i) are left out, which removes the bias; the
    estimate can therefore be slightly negative when the two sets match. The
    sums are taken in float64 (they are large and nearly cancel).
    """
    m, n = k_xx.shape[0], k_yy.shape[0]
    f64 = torch.float64
    xx = (k_xx.sum(dtype=f64) - k_xx.diagonal().sum(dtype=f64)) / (m * (m - 1))
    yy = (k_yy.sum(dtype=f64) - k_yy.diagonal().sum(dtype=f64)) / (n * (n - 1))
    return xx + yy - 2 * k_xy.sum(dtype=f64) / (m * n)


def kid(real_feats, fake_feats, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        gamma: float | None = None, coef: float = 1.0, seed: int = 0,
        dtype: torch.dtype = torch.float32) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std of MMD^2_u over random subsets.

    Each of ``subsets`` rounds draws ``subset_size`` real and as many generated
    features (without replacement, at most all of them) and computes MMD^2_u with
    the cubic polynomial kernel. Unlike FID, KID has an unbiased estimator, so
    small sample sets can be compared fairly; 0 means the same distribution.
    The kernel matrices are computed in ``dtype`` (float32: fast; float64: exact
    to round-off), their sums in float64.
    """
    real, fake = _tensor(real_feats, dtype), _tensor(fake_feats, dtype)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least 2 real and 2 generated feature vectors")
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=gen)[:size]]
        y = fake[torch.randperm(len(fake), generator=gen)[:size]]
        values.append(mmd2_unbiased(polynomial_kernel(x, x, degree, gamma, coef),
                                    polynomial_kernel(y, y, degree, gamma, coef),
                                    polynomial_kernel(x, y, degree, gamma, coef)))
    v = torch.stack(values)
    return float(v.mean()), float(v.std(unbiased=False))


# ============================================================================ nearest neighbours: PRDC

def _row_blocks(a: torch.Tensor, b: torch.Tensor, chunk: int):
    """Yield (start, distances of a[start:start+chunk] to all of b), so at most chunk x M floats live at once."""
    for i in range(0, len(a), chunk):
        yield i, torch.cdist(a[i:i + chunk], b)


def knn_radii(feats, k: int = 5, chunk: int = 1024, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Distance from every point to its k-th nearest *other* point of the same set, (N,)."""
    f = _tensor(feats, dtype)
    if len(f) <= k:
        raise ValueError(f"need more than k={k} points to find k nearest neighbours, got {len(f)}")
    radii = torch.empty(len(f), dtype=dtype)
    for i, d in _row_blocks(f, f, chunk):
        # The k+1 smallest distances of a row include the point itself (distance 0).
        radii[i:i + len(d)] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def prdc(real_feats, fake_feats, k: int = 5, real_radii: torch.Tensor | None = None, chunk: int = 1024,
         dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """Precision and recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).

    Around every real feature X_i put a ball B(X_i, r_i) whose radius r_i is the
    distance to its k-th nearest real neighbour; together the balls estimate the
    support of the real distribution. Likewise balls B(Y_j, s_j) around the M
    generated features Y_j.

        precision = 1/M sum_j 1[ Y_j in some B(X_i, r_i) ]         fidelity: samples look real
        recall    = 1/N sum_i 1[ X_i in some B(Y_j, s_j) ]         diversity: real data is covered
        density   = 1/(k M) sum_j sum_i 1[ Y_j in B(X_i, r_i) ]    like precision, but counts balls (~1 if same distribution)
        coverage  = 1/N sum_i 1[ some Y_j in B(X_i, r_i) ]          like recall, but uses only real balls

    Density and coverage are robust to outliers (one far-away real point makes a
    huge ball that precision would trust). For two samples of one distribution
    with N = M, density is about 1 and coverage about 1 - 2^-k (0.97 for k = 5).

    ``real_radii`` may be passed in when the same real set is compared many
    times (``knn_radii(real_feats, k)``). Distances are computed in ``dtype``.
    """
    real, fake = _tensor(real_feats, dtype), _tensor(fake_feats, dtype)
    r_real = knn_radii(real, k, chunk, dtype) if real_radii is None else _tensor(real_radii, dtype)   # (N,)
    if r_real.shape != (len(real),):
        raise ValueError(f"real_radii has shape {tuple(r_real.shape)}, expected ({len(real)},)")
    r_fake = knn_radii(fake, k, chunk, dtype)   # (M,)
    fake_in_any = torch.zeros(len(fake), dtype=torch.bool)
    balls_per_fake = torch.zeros(len(fake), dtype=torch.float64)
    covered = torch.zeros(len(real), dtype=torch.bool)
    recalled = torch.zeros(len(real), dtype=torch.bool)
    for i, d in _row_blocks(real, fake, chunk):       # d: (chunk, M) distances real -> fake
        inside = d <= r_real[i:i + len(d), None]      # Y_j in B(X_i, r_i)
        fake_in_any |= inside.any(0)
        balls_per_fake += inside.sum(0)
        covered[i:i + len(d)] = inside.any(1)
        recalled[i:i + len(d)] = (d <= r_fake[None, :]).any(1)   # X_i in some B(Y_j, s_j)
    return {
        "precision": float(fake_in_any.double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(balls_per_fake.mean() / k),
        "coverage": float(covered.double().mean()),
    }


# ============================================================================ classifier-based scores

def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016), here on the kit's classifier: mean and std over splits.

        IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x)

    High when every image is classified confidently (sharp p(y|x)) *and* the
    classes are balanced (flat p(y)). It lies between 1 and the number of
    classes and ignores the real data entirely: it cannot see memorised copies
    or images of the wrong style, which is why the kit reports it last.
    """
    p = _tensor(probs)
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-4):
        raise ValueError("inception_score takes class probabilities (softmax of logits), rows summing to 1")
    scores = []
    for part in p.chunk(max(1, min(splits, len(p)))):
        py = part.mean(0, keepdim=True)
        kl = (part * (torch.log(part.clamp(min=1e-12)) - torch.log(py.clamp(min=1e-12)))).sum(1)
        scores.append(torch.exp(kl.mean()))
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(unbiased=False))


def conditional_accuracy(predicted, requested) -> float:
    """Share of samples where the classifier sees what was asked for; entries with requested < 0 are skipped."""
    pred, req = _tensor(predicted, torch.long), _tensor(requested, torch.long)
    if pred.shape != req.shape:
        raise ValueError(f"{tuple(pred.shape)} predictions for {tuple(req.shape)} requests")
    asked = req >= 0
    if not asked.any():
        return float("nan")
    return float((pred[asked] == req[asked]).double().mean())


def class_histogram(predicted, num_classes: int) -> torch.Tensor:
    """How many images were assigned to each class: (N,) class indices -> (num_classes,) counts."""
    return torch.bincount(_tensor(predicted, torch.long).flatten(), minlength=num_classes)[:num_classes]


def class_accuracy(predicted, labels, num_classes: int, min_share: float = 0.01) -> dict:
    """How often the classifier's prediction is the class each image was generated for, overall and per class.

    ``classes_present`` counts the classes that receive at least ``min_share``
    of the predictions (a collapsed generator loses classes); ``per_class`` is
    nan for a class nobody asked for.
    """
    pred, labels = _tensor(predicted, torch.long).cpu(), _tensor(labels, torch.long).cpu()
    correct = pred == labels
    per_class = [correct[labels == k].float().mean().item() if (labels == k).any() else float("nan")
                 for k in range(num_classes)]
    asked = [a for a in per_class if a == a]
    hist = class_histogram(pred, num_classes)
    return {
        "accuracy": correct.float().mean().item(),
        "per_class": per_class,
        "worst_class_accuracy": min(asked) if asked else float("nan"),
        "histogram": hist.tolist(),
        "classes_present": int((hist >= min_share * len(pred)).sum()),
    }


# ============================================================================ diversity and memorisation

def diversity(feats, max_items: int = 2000, seed: int = 0) -> float:
    """Mean pairwise distance between the features of a set (i != j); 0 for identical images.

    Meant for many samples of *one* condition (e.g. "a dark slim ankle boot"):
    a generator that ignores its noise draws the same image every time and
    scores 0. Above ``max_items`` a random subset is used.
    """
    f = _tensor(feats)
    if len(f) < 2:
        raise ValueError("diversity needs at least two items")
    if len(f) > max_items:
        f = f[torch.randperm(len(f), generator=torch.Generator().manual_seed(seed))[:max_items]]
    d = torch.cdist(f, f)
    n = len(f)
    return float(d.sum() / (n * (n - 1)))


def diversity_by_condition(feats, conditions: Sequence) -> dict[str, float]:
    """``diversity`` within each group of samples that share a condition (a label or a prompt)."""
    f = _tensor(feats)
    keys = [str(c) for c in conditions]
    if len(keys) != len(f):
        raise ValueError(f"{len(keys)} conditions for {len(f)} feature vectors")
    out: dict[str, float] = {}
    for key in sorted(set(keys)):
        idx = [i for i, k in enumerate(keys) if k == key]
        if len(idx) >= 2:
            out[key] = diversity(f[idx])
    return out


def nearest_distances(queries, reference, chunk: int = 1024) -> torch.Tensor:
    """Distance from every query (N, D) to its nearest reference point (M, D), (N,)."""
    q, r = _tensor(queries, torch.float32), _tensor(reference, torch.float32)
    out = torch.empty(len(q), dtype=torch.float64)
    for i, d in _row_blocks(q, r, chunk):
        out[i:i + len(d)] = d.min(1).values.double()
    return out


def memorisation(sample_feats, train_feats, test_feats, quantile: float = 0.01) -> dict[str, float]:
    """Does the generator copy its training data? Compare nearest-neighbour distances.

    For every sample, d_gen = distance to its nearest *training* image; for every
    real test image (never trained on), d_real = the same distance. A generator
    that makes new products should look like fresh real data:

        near_copy_share = share of samples with d_gen <= q-quantile of d_real
                          (about q for novel samples, near 1 for copies)
        distance_ratio  = median(d_gen) / median(d_real)
                          (about 1 novel, << 1 copying, > 1 far from the training data)

    Works on any vectors: classifier features, or flattened pixels for a stricter test.
    """
    d_gen = nearest_distances(sample_feats, train_feats)
    d_real = nearest_distances(test_feats, train_feats)
    threshold = float(torch.quantile(d_real, quantile))
    return {
        "near_copy_share": float((d_gen <= threshold).double().mean()),
        "expected_share": quantile,
        "threshold": threshold,
        "distance_ratio": float(d_gen.median() / d_real.median().clamp(min=1e-12)),
        "median_sample_distance": float(d_gen.median()),
        "median_real_distance": float(d_real.median()),
    }


# ============================================================================ CAS

def classification_accuracy_score(gen_images: torch.Tensor, gen_labels, real_test, class_names: Sequence[str],
                                  steps: int = 1000, batch_size: int = 128, lr: float = 3e-3,
                                  widths: tuple[int, ...] = (16, 32, 64), flip: bool = False, seed: int = 0,
                                  device: str | None = None, out_dir: str | None = None) -> dict[str, float]:
    """Classification Accuracy Score (Ravuri & Vinyals 2019): train on generated, test on real.

    A fresh classifier (the kit's ``Classifier``, trained by the kit's ``Trainer``)
    learns the requested labels from generated images only and is then tested on
    real images. If the generated images of class c really look like class c, and
    cover its variety, the accuracy approaches that of the same training on as
    many real images; a conditional generator that ignores its label scores 1/K.

    gen_images: uint8 (N, C, H, W) or float in [0, 1]; gen_labels: (N,) the
    requested classes; real_test: a ProductData split to test on.
    Returns {"cas": accuracy on real_test, "train_accuracy": accuracy on the generated set}.
    """
    x = gen_images if isinstance(gen_images, torch.Tensor) else torch.as_tensor(np.asarray(gen_images))
    if x.dtype != torch.uint8:
        x = to_uint8(x)
    y = _tensor(gen_labels, torch.long)
    data = ProductData(name="generated", split="train", images=x.cpu(), descriptions=[""] * len(x), labels=y,
                       class_names=list(class_names))
    model = Classifier(ClassifierConfig(channels=x.shape[1], size=x.shape[-1], widths=widths,
                                        head_sizes=(len(class_names),), value_names=tuple(class_names), flip=flip))
    cfg = TrainConfig(max_steps=steps, batch_size=min(batch_size, len(x)), lr=lr, seed=seed, log_every=max(steps // 10, 1),
                      val_every=steps, checkpoint_every=steps, lr_schedule="cosine", tensorboard=False, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        Trainer(cfg, out_dir or tmp, device=device).fit(model, data)
        return {"cas": model.evaluate(real_test)["acc"], "train_accuracy": model.evaluate(data)["acc"]}
