"""Evaluate generated product images against real ones, with the kit's own yardstick.

>>> from pgan_lib.eval import evaluate_samples, format_report
>>> result = evaluate_samples(images, dataset="fashion-mnist", labels=labels)
>>> print(format_report(result))

What happens inside ``evaluate_samples``:

1. the samples become float images in [0, 1], (N, C, H, W);
2. the classifier (``features.FeatureExtractor``) maps them, and the real split,
   to penultimate features (N, 128) and class logits (the real side is cached on disk);
3. the distribution metrics of ``pgan_lib.eval.metrics`` compare the two feature
   sets; the classifier's predictions give the class histogram, the Inception
   Score analogue and, when labels or prompts say what was asked for, the
   conditional accuracy.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch

from ..images import to_float_images
from ..models.base import GeneratorModel, draw_samples
from . import metrics as M
from .attributes import observed_attributes, requested_attributes
from .features import PRIMARY_HEAD, FeatureExtractor, reference


def evaluate_samples(images, dataset: str = "fashion-mnist", split: str = "test", labels=None,
                     prompts: Sequence[str] | None = None, *, limit: int | None = None, k: int = 5,
                     kid_subsets: int = 50, kid_subset_size: int = 1000, memorisation: bool = False,
                     extractor: FeatureExtractor | None = None, mode: str | None = None,
                     device: str | torch.device = "cpu", seed: int = 0, cache: bool = True) -> dict:
    """Measure generated images against a real split; returns a JSON-ready dict.

    images:   the samples: uint8 (N, H, W, C) as stored in .npz files, or float
              tensors in [0, 1] (N, C, H, W); see ``to_float_images``.
    dataset:  "fashion-mnist" or "catalog" (picks the real data and the classifier; 64x64 catalogue
              images are measured by ``catalog64-classifier``).
    split:    the real split to compare with (default "test").
    labels:   optional (N,) requested classes, for the conditional accuracy.
    prompts:  optional N descriptions; the class and attribute words in them are
              what was asked for (e.g. "a dark slim ankle boot").
    limit:    use at most this many real images (default: the whole split).
    memorisation: also compare nearest-training-neighbour distances (reads and
              measures the training split once; slower the first time).
    cache:    keep the real split's features on disk (in the kit's cache folder)
              for the next evaluation.

    Keys of the result: n, n_real, dataset, split, feature_extractor, fid, kid,
    kid_std, precision, recall, density, coverage (and coverage_real_expected,
    what real data would score at these set sizes), inception_score(_std),
    diversity, diversity_real, class_histogram(_real), class_balance (the rarest class's share
    of the samples times the number of classes), and when asked for:
    conditional_accuracy, conditional (per attribute), memorisation.
    """
    start = time.perf_counter()
    if extractor is None:   # 64x64 catalogue samples are measured by the classifier made for 64x64 images
        extractor = FeatureExtractor.for_dataset(dataset, device=device, size=to_float_images(images).shape[-1])
    x = extractor.prepare(images)
    if len(x) < max(2, k + 1):
        raise ValueError(f"need at least {max(2, k + 1)} samples to evaluate, got {len(x)}")
    ref = reference(extractor, dataset, split, limit=limit, k=k, mode=mode, use_cache=cache)
    ext = extractor(x)
    head = PRIMARY_HEAD.get(dataset, extractor.heads[0])
    if head not in ext.logits:
        head = extractor.heads[0]
    names = extractor.model.names_of(head)
    real_f, fake_f = ref.extracted.features, ext.features

    result: dict = {
        "n": len(x), "n_real": len(ref), "dataset": dataset, "split": split,
        "feature_extractor": extractor.version,
        "fid": M.fid(real_f, fake_f),
    }
    result["kid"], result["kid_std"] = M.kid(real_f, fake_f, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    result["kid_subsets"], result["kid_subset_size"] = kid_subsets, min(kid_subset_size, len(x), len(ref))
    result.update(M.prdc(real_f, fake_f, k=k, real_radii=ref.radii))
    result["k"] = k
    # What samples of the real distribution would score: coverage depends on the two set sizes.
    result["coverage_real_expected"] = 1 - (len(ref) / (len(ref) + len(x))) ** k
    result["inception_score"], result["inception_score_std"] = M.inception_score(ext.probs(head))
    result["inception_score_real"] = M.inception_score(ref.extracted.probs(head))[0]
    result["diversity"] = M.diversity(fake_f, seed=seed)
    result["diversity_real"] = M.diversity(real_f, seed=seed)
    hist = M.class_histogram(ext.predicted(head), len(names)).tolist()
    hist_real = M.class_histogram(ref.extracted.predicted(head), len(names)).tolist()
    result["class_histogram"] = dict(zip(names, hist))
    # 1 when every class is drawn equally often, 0 when one is never drawn (a sign of collapse)
    result["class_balance"] = min(hist) * len(names) / len(x)
    result["class_histogram_real"] = {n: round(c / max(len(ref), 1) * len(x), 1) for n, c in zip(names, hist_real)}

    requested: dict[str, torch.Tensor] = {}
    if prompts is not None:
        if len(prompts) != len(x):
            raise ValueError(f"{len(prompts)} prompts for {len(x)} images")
        requested = requested_attributes(prompts, dataset)
    if labels is not None:
        lab = torch.as_tensor(np.asarray(labels)).long().flatten()
        if len(lab) != len(x):
            raise ValueError(f"{len(lab)} labels for {len(x)} images")
        if ((lab < -1) | (lab >= len(names))).any():
            raise ValueError(f"labels must be class indices 0..{len(names) - 1} (or -1 for none)")
        requested[head] = lab
    requested = {a: r for a, r in requested.items() if (r >= 0).any()}
    if requested:
        seen = observed_attributes(x, dataset, requested, extracted=ext)
        per = {a: M.conditional_accuracy(seen[a], r) for a, r in requested.items() if a in seen}
        asked_all = torch.stack([r >= 0 for r in requested.values()]).any(0)
        ok_all = torch.stack([(seen[a] == r) | (r < 0) for a, r in requested.items()]).all(0)
        per["all"] = float(ok_all[asked_all].double().mean())
        result["conditional"] = per
        result["conditional_accuracy"] = per.get(head, per["all"])
        conditions = [str(p) for p in prompts] if prompts is not None else requested[head].tolist()
        by_cond = M.diversity_by_condition(fake_f, conditions)
        if by_cond:
            result["diversity_per_condition"] = float(np.mean(list(by_cond.values())))
    if memorisation:
        train_ref = reference(extractor, dataset, "train", k=None, mode=mode, use_cache=cache)
        result["memorisation"] = M.memorisation(fake_f, train_ref.extracted.features, real_f)
    result["seconds"] = time.perf_counter() - start
    return result


def evaluate_generator(model: GeneratorModel, n: int | None = None, dataset: str = "catalog", seed: int = 1, *,
                       split: str = "test", k: int = 5, limit: int | None = None, mode: str | None = None,
                       extractor: FeatureExtractor | None = None, device: str | torch.device = "cpu",
                       cache: bool = True, **kwargs) -> dict:
    """Draw ``n`` samples from a generator (seeded) and measure them with ``evaluate_samples``.

    A label-conditioned generator is asked for its classes in turn (0, 1, 2, ..., 0, 1, ...),
    and the result holds its conditional accuracy; an unconditional one is asked for nothing,
    and its ``class_histogram`` shows which products it draws. Precision and recall compare
    fairly only between sets of the same sizes, so ``n=None`` (the default) draws as many
    samples as the real split has images. The other arguments are those of ``evaluate_samples``.
    """
    cond = getattr(model, "condition", None)
    if cond is not None and cond.kind != "label":
        raise ValueError(f"this {type(model).__name__} is conditioned on descriptions: measure it with "
                         "pgan_lib.eval.prompts.evaluate_prompts, which writes the descriptions")
    if n is None:
        if extractor is None:   # the yardstick made for this generator's image size
            size = model.sample(1, labels=model.labels_in_turn(1), seed=seed).shape[-1]
            extractor = FeatureExtractor.for_dataset(dataset, device=device, size=size)
        n = len(reference(extractor, dataset, split, limit=limit, k=k, mode=mode, use_cache=cache))
    labels = model.labels_in_turn(n)
    return evaluate_samples(draw_samples(model, n, labels=labels, seed=seed), dataset, split, labels, limit=limit,
                            k=k, mode=mode, extractor=extractor, device=device, cache=cache, **kwargs)


_ROWS = (
    ("fid", "FID", "{:.3f}", "Frechet distance of feature statistics; lower is better, 0 = identical"),
    ("kid", "KID x 1000", None, "kernel distance, unbiased; lower is better, ~0 = same distribution"),
    ("precision", "precision", "{:.3f}", "share of samples inside the real data's support (fidelity)"),
    ("recall", "recall", "{:.3f}", "share of real data inside the samples' support (diversity)"),
    ("density", "density", "{:.3f}", "~1 when samples crowd where real data does; > 1 too typical"),
    ("coverage", "coverage", None, "share of real neighbourhoods with a sample nearby"),
    ("inception_score", "IS (kit clf)", None, "confident and balanced classes; 1..#classes"),
    ("diversity", "diversity", None, "mean pairwise feature distance of the samples"),
    ("conditional_accuracy", "cond. accuracy", "{:.3f}", "classifier sees the requested class"),
)


def _fmt(result: dict, key: str, fmt: str | None) -> str:
    v = result.get(key)
    if v is None:
        return "-"
    if key == "kid":
        return f"{1000 * v:.3f} ± {1000 * result.get('kid_std', 0.0):.3f}"
    if key == "inception_score":
        return f"{v:.3f} (real {result.get('inception_score_real', float('nan')):.3f})"
    if key == "coverage":
        return f"{v:.3f} (real ~{result.get('coverage_real_expected', float('nan')):.3f})"
    if key == "diversity":
        return f"{v:.3f} (real {result.get('diversity_real', float('nan')):.3f})"
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    return (fmt or "{}").format(v)


def format_report(result: dict, width: int = 30) -> str:
    """A readable table of an ``evaluate_samples`` result: metrics, conditional checks, class histogram."""
    lines = [
        f"{result['n']} samples vs {result['n_real']} real images of {result['dataset']} [{result['split']}]",
        f"features: {result['feature_extractor']} (the kit's own classifier; not comparable with Inception FIDs)",
        "",
        f"  {'metric':16s} {'value':>24s}   meaning",
        f"  {'-' * 16} {'-' * 24}   {'-' * 40}",
    ]
    for key, label, fmt, meaning in _ROWS:
        if key in result:
            lines.append(f"  {label:16s} {_fmt(result, key, fmt):>24s}   {meaning}")
    if "conditional" in result:
        parts = ", ".join(f"{a} {v:.3f}" for a, v in result["conditional"].items())
        lines.append(f"  conditional accuracy per attribute: {parts}")
    if "memorisation" in result:
        m = result["memorisation"]
        lines.append(f"  memorisation: {m['near_copy_share']:.3f} of samples are near-copies of training images "
                     f"(expected {m['expected_share']:.3f} for new images); "
                     f"median NN distance ratio {m['distance_ratio']:.3f} (1 = like real test data)")
    hist, real = result["class_histogram"], result.get("class_histogram_real", {})
    top = max(list(hist.values()) + list(real.values()) + [1])
    lines += ["", f"  {'predicted class':16s} {'samples':>8s} {'real (scaled)':>14s}"]
    for name, count in hist.items():
        bar = "#" * round(width * count / top)
        lines.append(f"  {name:16s} {count:8d} {real.get(name, float('nan')):14.0f}   {bar}")
    lines.append(f"\n  ({result.get('seconds', float('nan')):.1f} s)")
    return "\n".join(lines)


def format_rows(rows: dict[str, dict], columns: Sequence[str], width: int = 12, notes: dict[str, str] | None = None) -> str:
    """A plain-text table, one line per named result row: floats with 3 decimals, anything else as is,
    missing values as '-'; ``notes`` adds a remark after a row's cells (e.g. its load average)."""
    name_w = max([22, *(len(n) + 2 for n in rows)])
    lines = [f"{'run':{name_w}s}" + "".join(f"{c:>{width}s}" for c in columns)]
    for name, r in rows.items():
        cells = "".join(f"{r[c]:>{width}.3f}" if isinstance(r.get(c), float) else f"{str(r.get(c, '-')):>{width}s}"
                        for c in columns)
        lines.append(f"{name:{name_w}s}" + cells + ("   " + notes[name] if notes and name in notes else ""))
    return "\n".join(lines)
