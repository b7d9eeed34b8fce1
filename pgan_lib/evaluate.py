"""Evaluate generated product images against real ones, with the kit's own yardstick.

The yardstick is a frozen product classifier shipped with the kit
(``fashion-classifier`` for Fashion-MNIST, ``catalog-classifier`` for the colour
catalogue), not ImageNet's InceptionV3: its weights cannot be downloaded here,
and Inception features fit 28x28 grey products poorly. Numbers computed here
are therefore *not* comparable with FIDs in papers; they are comparable with
each other as long as the feature extractor version (printed with every
report, e.g. ``fashion-classifier@1a2b3c4d5e6f/penultimate-128``) is the same.

>>> from pgan_lib.evaluate import evaluate_samples, format_report
>>> result = evaluate_samples(images, dataset="fashion-mnist", labels=labels)
>>> print(format_report(result))

What happens inside ``evaluate_samples``:

1. the samples become float images in [0, 1], (N, C, H, W);
2. the classifier maps them, and the real split, to penultimate features
   (N, 128) and class logits (the real side is cached on disk);
3. the distribution metrics of ``pgan_lib.metrics`` compare the two feature
   sets; the classifier's predictions give the class histogram, the Inception
   Score analogue and, when labels or prompts say what was asked for, the
   conditional accuracy.

The controlled cases at the end (blur, dropped classes, copies, noise) are
known-good and known-bad "generators" for checking that the metrics move the
way they should.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics as M
from .models.classifier import Classifier

EXTRACTORS = {"fashion-mnist": "fashion-classifier", "catalog": "catalog-classifier"}
PRIMARY_HEAD = {"fashion-mnist": "label", "catalog": "category"}


# ============================================================================ images in, floats out

def to_float_images(images, channels: int | None = None) -> torch.Tensor:
    """Any batch of images -> float32 tensor (N, C, H, W) in [0, 1] on the CPU.

    Accepts uint8 (0..255) or float ([0, 1]) numpy arrays or tensors, laid out
    (N, H, W, C) (the .npz convention), (N, C, H, W) (the torch convention) or
    (N, H, W) for grey. The layout is read from where the channel axis (size 1
    or 3) is; when both ends could be channels, numpy arrays count as
    (N, H, W, C) and tensors as (N, C, H, W).
    """
    is_numpy = not isinstance(images, torch.Tensor)
    x = torch.from_numpy(np.ascontiguousarray(images)) if is_numpy else images.detach().cpu()
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), (N, C, H, W) or (N, H, W); got shape {tuple(x.shape)}")
    first, last = x.shape[1] in (1, 3), x.shape[-1] in (1, 3)
    if last and (not first or is_numpy):
        x = x.permute(0, 3, 1, 2)
    elif not first:
        raise ValueError(f"cannot find the channel axis (1 or 3 channels) in images of shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif x.is_floating_point():
        x = x.float()
        lo, hi = (float(x.min()), float(x.max())) if x.numel() else (0.0, 1.0)
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"float images must be in [0, 1] (got values from {lo:.3g} to {hi:.3g}); "
                             "map [-1, 1] outputs with (x + 1) / 2 first")
        x = x.clamp(0, 1)
    else:
        raise ValueError(f"images must be uint8 or float, got {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"expected {channels}-channel images, got {x.shape[1]} channels (shape {tuple(x.shape)})")
    return x.contiguous()


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] -> uint8 0..255 (rounded), same shape."""
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8)


# ============================================================================ the feature extractor

@dataclass
class Extracted:
    """What the classifier says about a batch: features (N, D) and logits {head: (N, K)}."""

    features: torch.Tensor
    logits: dict[str, torch.Tensor]

    def probs(self, head: str) -> torch.Tensor:
        return self.logits[head].softmax(1)

    def predicted(self, head: str) -> torch.Tensor:
        return self.logits[head].argmax(1)


class FeatureExtractor:
    """A frozen kit classifier used as a ruler: images -> penultimate features and logits.

    ``version`` names exactly which weights made the features, e.g.
    ``fashion-classifier@1a2b3c4d5e6f/penultimate-128``; two reports can be
    compared only when their versions match.
    """

    def __init__(self, model: Classifier, name: str, digest: str, batch_size: int = 256) -> None:
        # channels-last memory and batches of a few hundred images run about twice as fast on a CPU.
        self.model = model.eval().to(memory_format=torch.channels_last)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.name, self.digest, self.batch_size = name, digest, batch_size

    @classmethod
    def shipped(cls, name: str = "fashion-classifier", device: str | torch.device = "cpu") -> "FeatureExtractor":
        """The shipped classifier ``name``, after checking its sha256."""
        from . import pretrained

        model = pretrained.load(name, device=device)
        if not isinstance(model, Classifier):
            raise ValueError(f"{name} is a {model.arch}, not a classifier")
        return cls(model, name, pretrained.SHIPPED[name].sha256)

    @classmethod
    def for_dataset(cls, dataset: str, device: str | torch.device = "cpu") -> "FeatureExtractor":
        """The shipped classifier that measures ``dataset`` ("fashion-mnist" or "catalog")."""
        if dataset not in EXTRACTORS:
            raise ValueError(f"no kit classifier for dataset {dataset!r}; evaluation supports {', '.join(EXTRACTORS)}")
        return cls.shipped(EXTRACTORS[dataset], device=device)

    @classmethod
    def from_model(cls, model: Classifier, name: str = "custom-classifier") -> "FeatureExtractor":
        """Any (e.g. freshly trained) classifier; its version hashes the weights."""
        h = hashlib.sha256()
        for key, value in sorted(model.state_dict().items()):
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        return cls(model, name, h.hexdigest())

    @property
    def version(self) -> str:
        return f"{self.name}@{self.digest[:12]}/penultimate-{self.model.config.feature_dim}"

    @property
    def heads(self) -> tuple[str, ...]:
        return self.model.config.heads

    def prepare(self, images) -> torch.Tensor:
        """Images in any accepted layout -> float (N, C, size, size), resized by area averaging if larger."""
        c = self.model.config
        x = to_float_images(images, channels=c.channels)
        if x.shape[-2:] != (c.size, c.size):
            if x.shape[-1] != x.shape[-2] or x.shape[-1] % c.size:
                raise ValueError(f"{self.name} measures {c.size}x{c.size} images; got {x.shape[-2]}x{x.shape[-1]}")
            x = F.interpolate(x, size=(c.size, c.size), mode="area")
        return x

    @torch.no_grad()
    def __call__(self, images) -> Extracted:
        x = self.prepare(images)
        feats, logits = [], {h: [] for h in self.heads}
        for i in range(0, len(x), self.batch_size):
            batch = x[i:i + self.batch_size].to(self.model.device).contiguous(memory_format=torch.channels_last)
            f = self.model.features(batch)
            for h, lg in self.model.head_logits(f).items():
                logits[h].append(lg.float().cpu())
            feats.append(f.float().cpu())
        d, empty = self.model.config.feature_dim, torch.zeros(0)
        return Extracted(torch.cat(feats) if feats else empty.view(0, d),
                         {h: torch.cat(v) if v else empty.view(0, 1) for h, v in logits.items()})


# ============================================================================ the real side (cached)

@dataclass
class Reference:
    """Features of a real split, measured once per extractor version: what samples are compared with."""

    dataset: str
    split: str
    version: str
    extracted: Extracted
    radii: torch.Tensor                     # k-th nearest neighbour distance of every real feature (N,), or empty
    k: int
    labels: torch.Tensor
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)


_REFERENCES: dict[tuple, Reference] = {}


def reference(extractor: FeatureExtractor, dataset: str = "fashion-mnist", split: str = "test", *,
              limit: int | None = None, k: int | None = 5, mode: str | None = None, use_cache: bool = True) -> Reference:
    """Features, logits and k-NN radii of a real split, kept in memory and on disk for the next time.

    ``limit`` caps the number of real images (None: the whole split, whatever
    ``PGAN_MODE`` says, so that numbers are comparable between modes).
    ``k=None`` skips the k-NN radii (only features are needed, e.g. of the
    training split for the memorisation check).
    """
    from .config import cache_dir
    from .data import load_dataset
    from .train import data_fingerprint

    data = load_dataset(dataset, split, mode=mode, limit=limit if limit is not None else False,
                        size=extractor.model.config.size if dataset == "catalog" else None)
    fingerprint = data_fingerprint(data)
    key = (extractor.version, fingerprint, k)
    if key in _REFERENCES:
        return _REFERENCES[key]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{extractor.version}-{fingerprint}-k{k or 0}")
    path = cache_dir() / "eval" / f"{safe}.npz"
    ref = None
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                ext = Extracted(torch.from_numpy(z["features"]), {h: torch.from_numpy(z[f"logits_{h}"]) for h in extractor.heads})
                ref = Reference(dataset, split, extractor.version, ext, torch.from_numpy(z["radii"]), k or 0,
                                data.labels.clone(), list(data.class_names))
        except (OSError, KeyError, ValueError):
            ref = None   # a damaged cache file: measure again
    if ref is None:
        ext = extractor(data.images)
        radii = M.knn_radii(ext.features, k) if k else torch.zeros(0)
        ref = Reference(dataset, split, extractor.version, ext, radii, k or 0, data.labels.clone(), list(data.class_names))
        if use_cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + ".tmp.npz")
            np.savez(tmp, features=ext.features.numpy(), radii=ref.radii.numpy(),
                     **{f"logits_{h}": v.numpy() for h, v in ext.logits.items()})
            tmp.replace(path)
    _REFERENCES[key] = ref
    return ref


# ============================================================================ what was asked for

def _vocabulary(dataset: str) -> dict[str, list[str]]:
    """Words a prompt may use, per attribute, in the order of the attribute's value indices."""
    if dataset == "fashion-mnist":
        from .data.attributes import FIT_WORDS, SHADE_WORDS
        from .data.fashion_mnist import CLASS_NAMES

        return {"label": list(CLASS_NAMES), "shade": list(SHADE_WORDS), "fit": list(FIT_WORDS)}
    if dataset == "catalog":
        from .data.catalog import CATEGORIES, COLOURS, PATTERNS

        return {"category": list(CATEGORIES), "colour": list(COLOURS), "pattern": list(PATTERNS)}
    raise ValueError(f"no prompt vocabulary for dataset {dataset!r}")


def _find(words: list[str], phrase: str) -> bool:
    """Does the word sequence contain ``phrase`` (one or more words), allowing a plural/singular 's'?"""
    target = phrase.split()
    variants = {tuple(target), tuple(target[:-1] + [target[-1] + "s"])}
    if target[-1].endswith("s"):
        variants.add(tuple(target[:-1] + [target[-1][:-1]]))
    n = len(target)
    return any(tuple(words[i:i + n]) in variants for i in range(len(words) - n + 1))


def requested_attributes(prompts: Sequence[str], dataset: str = "fashion-mnist") -> dict[str, torch.Tensor]:
    """What each prompt asks for: {attribute: value index (N,)}, -1 where the prompt names none (or two).

    e.g. "a dark slim ankle boot" -> label 9 ("ankle boot"), shade 0 ("dark"), fit 0 ("slim").
    """
    from .conditioning import Tokenizer

    vocab = _vocabulary(dataset)
    out = {name: torch.full((len(prompts),), -1, dtype=torch.long) for name in vocab}
    for i, prompt in enumerate(prompts):
        words = Tokenizer.words(str(prompt))
        for name, values in vocab.items():
            hits = [j for j, v in enumerate(values) if _find(words, v)]
            if len(hits) == 1:
                out[name][i] = hits[0]
    return out


def _observed(dataset: str, x: torch.Tensor, ext: Extracted, requested: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What the samples show, for every attribute that was asked for: classifier heads, or pixel rules."""
    seen = {h: ext.predicted(h) for h in ext.logits}
    if dataset == "fashion-mnist":
        from .data.attributes import fit_of, shade_of

        if "shade" in requested:
            seen["shade"] = shade_of(x)
        if "fit" in requested:
            # Fit is judged against the class: a wide sandal is narrower than a slim coat.
            asked = requested.get("label")
            cls = torch.where(asked >= 0, asked, seen["label"]) if asked is not None else seen["label"]
            seen["fit"] = fit_of(x, cls)
    return seen


# ============================================================================ the evaluation

def evaluate_samples(images, dataset: str = "fashion-mnist", split: str = "test", labels=None,
                     prompts: Sequence[str] | None = None, *, limit: int | None = None, k: int = 5,
                     kid_subsets: int = 50, kid_subset_size: int = 1000, memorisation: bool = False,
                     extractor: FeatureExtractor | None = None, mode: str | None = None,
                     device: str | torch.device = "cpu", seed: int = 0, cache: bool = True) -> dict:
    """Measure generated images against a real split; returns a JSON-ready dict.

    images:   the samples: uint8 (N, H, W, C) as stored in .npz files, or float
              tensors in [0, 1] (N, C, H, W); see ``to_float_images``.
    dataset:  "fashion-mnist" or "catalog" (picks the real data and the classifier).
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
    diversity, diversity_real, class_histogram(_real), and when asked for:
    conditional_accuracy, conditional (per attribute), memorisation.
    """
    start = time.perf_counter()
    extractor = extractor or FeatureExtractor.for_dataset(dataset, device=device)
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
    hist = M.class_histogram(ext.predicted(head), len(names))
    hist_real = M.class_histogram(ref.extracted.predicted(head), len(names))
    result["class_histogram"] = dict(zip(names, hist))
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
        seen = _observed(dataset, x, ext, requested)
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


def evaluate_real(dataset: str = "fashion-mnist", split: str = "val", n: int | None = None, **kwargs) -> dict:
    """The real-vs-real baseline: evaluate real images of another split as if they were samples."""
    from .data import load_dataset

    data = load_dataset(dataset, split, limit=n if n is not None else False, mode=kwargs.get("mode"))
    return evaluate_samples(data.images, dataset=dataset, labels=data.labels, **kwargs)


# ============================================================================ reading the results

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
    return fmt.format(v)


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


# ============================================================================ saving and loading samples

def save_samples(path: str | Path, images, labels=None, prompts: Sequence[str] | None = None) -> Path:
    """Write samples as the kit's .npz: images uint8 (N, H, W, C), optional labels (N,) and prompts (N,)."""
    x = to_uint8(to_float_images(images)).permute(0, 2, 3, 1).numpy()
    arrays: dict[str, np.ndarray] = {"images": x}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, dtype=np.int64)
    if prompts is not None:
        arrays["prompts"] = np.asarray([str(p) for p in prompts], dtype=np.str_)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_samples(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Read a samples .npz (no pickles): images uint8 (N, H, W, C), labels (N,) or None, prompts or None."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such samples file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise ValueError(f"{path}: no 'images' array (found {', '.join(z.files) or 'nothing'}); "
                                 "a samples file holds images uint8 (N, H, W, C) and optional labels, prompts")
            images = z["images"]
            labels = z["labels"] if "labels" in z.files else None
            prompts = z["prompts"] if "prompts" in z.files else None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npz file ({err})") from None
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise ValueError(f"{path}: holds pickled objects, which are refused; store prompts as a unicode array") from None
        raise
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"{path}: images must be uint8 (N, H, W, C); got {images.dtype} {images.shape}")
    n = len(images)
    if labels is not None:
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{path}: labels must be integers of shape ({n},); got {labels.dtype} {labels.shape}")
    if prompts is not None:
        if prompts.shape != (n,) or prompts.dtype.kind != "U":
            raise ValueError(f"{path}: prompts must be a unicode array of shape ({n},); got {prompts.dtype} {prompts.shape}")
        prompts = [str(p) for p in prompts]
    return images, labels, prompts


# ============================================================================ controlled cases

def blur(images, sigma: float) -> torch.Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels: float (N, C, H, W) in [0, 1] out."""
    x = to_float_images(images)
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(3 * sigma))
    u = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-u ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)   # along rows
    x = F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)   # along columns
    return x.clamp(0, 1)


def add_noise(images, std: float, seed: int = 0) -> torch.Tensor:
    """Images plus Gaussian pixel noise of standard deviation ``std``, clipped to [0, 1]."""
    x = to_float_images(images)
    gen = torch.Generator().manual_seed(seed)
    return (x + std * torch.randn(x.shape, generator=gen)).clamp(0, 1)


def noise_images(n: int, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    """Uniform noise "images" (n, channels, size, size) in [0, 1]: the worst generator."""
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def drop_classes(images, labels, keep: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Only the images whose label is in ``keep``: a generator that has lost some modes."""
    x = to_float_images(images)
    y = torch.as_tensor(np.asarray(labels)).long()
    mask = torch.isin(y, torch.as_tensor(list(keep)))
    return x[mask], y[mask]


def copies(train_images, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` exact copies of random training images: a generator that memorised its data."""
    x = to_float_images(train_images)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx]


@dataclass
class Case:
    """A controlled "generator": images (float, [0, 1]), their labels, and what should happen."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None
    expect: str = ""
    extra: dict = field(default_factory=dict)


def controlled_cases(held_out, train, n: int = 2000, seed: int = 0) -> list[Case]:
    """Known-good and known-bad sample sets, roughly from best to worst by FID.

    held_out: real images the classifier was not trained on and that are not the
              reference split (e.g. Fashion-MNIST "val"); train: the training split.
    """
    x = to_float_images(held_out.images)
    y = held_out.labels
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(x), generator=gen)[:n]
    xs, ys = x[pick], y[pick]
    half = list(range(held_out.num_classes // 2))
    dropped_x, dropped_y = drop_classes(x, y, half)
    copy_idx = torch.randperm(len(train), generator=gen)[:n]
    c, s = x.shape[1], x.shape[-1]
    return [
        Case("real (held out)", xs, ys, "FID ~ 0; the other metrics show what real data scores"),
        Case("training copies", to_float_images(train.images[copy_idx]), train.labels[copy_idx],
             "as good as real by every distribution metric; only the memorisation check sees it"),
        Case("blur sigma=0.5", blur(xs, 0.5), ys, "slightly worse than real"),
        Case("blur sigma=1.0", blur(xs, 1.0), ys, "worse: precision, recall, density and coverage drop"),
        Case(f"half the classes ({len(half)} of {held_out.num_classes})", dropped_x[:n], dropped_y[:n],
             "recall, coverage and IS drop; precision and density stay like real"),
        Case("blur sigma=2.0", blur(xs, 2.0), ys, "much worse"),
        Case("uniform noise", noise_images(len(xs), c, s, seed), None,
             "FID/KID far off, recall and coverage ~ 0; precision can stay high (outlying real images "
             "have huge neighbourhoods), density does not"),
        Case("one image repeated", xs[:1].repeat(len(xs), 1, 1, 1), ys[:1].repeat(len(xs)),
             "mode collapse: the worst FID, recall, coverage and diversity ~ 0, yet precision ~ 1"),
    ]


def evaluate_cases(cases: Sequence[Case], dataset: str = "fashion-mnist", split: str = "test",
                   memorisation: bool = True, **kwargs) -> dict[str, dict]:
    """``evaluate_samples`` on every case (labels passed, so conditional accuracy is shown); name -> result."""
    return {c.name: evaluate_samples(c.images, dataset=dataset, split=split, labels=c.labels,
                                     memorisation=memorisation, **kwargs) for c in cases}


CASE_COLUMNS = ("fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "diversity",
                "near_copy_share")


def format_cases(results: dict[str, dict], columns: Sequence[str] = CASE_COLUMNS) -> str:
    """One row per controlled case, one column per metric (KID x 1000)."""
    def value(r: dict, col: str) -> str:
        if col == "near_copy_share":
            return f"{r['memorisation']['near_copy_share']:.3f}" if "memorisation" in r else "-"
        v = r.get(col)
        if v is None:
            return "-"
        return f"{1000 * v:.2f}" if col == "kid" else f"{v:.3f}"

    heads = {"kid": "KIDx1000", "inception_score": "IS", "near_copy_share": "copies"}
    name_w = max(len(n) for n in results) if results else 10
    lines = [f"{'case':{name_w}s} " + " ".join(f"{heads.get(c, c):>9s}" for c in columns)]
    for name, r in results.items():
        lines.append(f"{name:{name_w}s} " + " ".join(f"{value(r, c):>9s}" for c in columns))
    return "\n".join(lines)


# ============================================================================ human A/B test

def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials (95 % for z = 1.96); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


class ABTest:
    """Show a real and a generated image side by side (random sides); ask which one is real.

    Plain-Python twin: ``pair()`` gives the current (left, right) images, ``answer("left"|"right")``
    records a choice, ``summary()`` gives the fooling rate with its Wilson interval, ``save_csv(path)``
    writes the answers. ``widget()`` is the same test with buttons.
    """

    def __init__(self, real, fake, n_trials: int | None = None, seed: int = 0, label: str = "generated"):
        self.real, self.fake = to_float_images(real), to_float_images(fake)
        n = min(len(self.real), len(self.fake)) if n_trials is None else n_trials
        rng = np.random.default_rng(seed)
        self.real_idx = rng.choice(len(self.real), n, replace=n > len(self.real))
        self.fake_idx = rng.choice(len(self.fake), n, replace=n > len(self.fake))
        self.real_side = np.where(rng.random(n) < 0.5, "left", "right")
        self.label = label
        self.answers: list[dict] = []

    def __len__(self) -> int:
        return len(self.real_side)

    @property
    def done(self) -> bool:
        return len(self.answers) >= len(self)

    def pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current trial's (left, right) images, (C, H, W) each."""
        if self.done:
            raise IndexError("the test is finished")
        t = len(self.answers)
        real, fake = self.real[self.real_idx[t]], self.fake[self.fake_idx[t]]
        return (real, fake) if self.real_side[t] == "left" else (fake, real)

    def answer(self, choice: str) -> dict:
        """Record "left" or "right" (the side the person thinks is real) for the current trial."""
        if choice not in ("left", "right"):
            raise ValueError(f'choice must be "left" or "right", got {choice!r}')
        if self.done:
            raise IndexError("the test is finished")
        t = len(self.answers)
        row = {"trial": t, "real_index": int(self.real_idx[t]), "fake_index": int(self.fake_idx[t]),
               "real_side": str(self.real_side[t]), "choice": choice,
               "fooled": int(choice != self.real_side[t])}
        self.answers.append(row)
        return row

    def summary(self, z: float = 1.96) -> dict:
        """Answers so far: n, fooled, fooling_rate and its Wilson interval (ci_low, ci_high)."""
        n = len(self.answers)
        k = sum(a["fooled"] for a in self.answers)
        lo, hi = wilson_interval(k, n, z)
        return {"label": self.label, "n": n, "fooled": k, "fooling_rate": k / n if n else float("nan"),
                "ci_low": lo, "ci_high": hi}

    def format_summary(self) -> str:
        s = self.summary()
        if s["n"] == 0:
            return "no answers yet"
        return (f"{s['label']}: fooled {s['fooled']} of {s['n']} times, fooling rate {s['fooling_rate']:.1%} "
                f"(95% Wilson interval {s['ci_low']:.1%} to {s['ci_high']:.1%}; 50% = indistinguishable)")

    def save_csv(self, path) -> Path:
        """Write one row per answer (trial, indices, real side, choice, fooled)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = ["trial", "real_index", "fake_index", "real_side", "choice", "fooled"]
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.answers)
        return path

    @staticmethod
    def _png(image: torch.Tensor, scale: int = 6) -> bytes:
        from PIL import Image

        x = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        img = Image.fromarray(x[..., 0] if x.shape[-1] == 1 else x)
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    def widget(self, csv_path=None):
        """The live test: two images, buttons "left is real" / "right is real", a running summary."""
        import ipywidgets as w

        left, right = w.Image(format="png"), w.Image(format="png")
        b_left, b_right = w.Button(description="left is real"), w.Button(description="right is real")
        status = w.Label()

        def show():
            if self.done:
                b_left.disabled = b_right.disabled = True
                note = f"; answers saved to {self.save_csv(csv_path)}" if csv_path else ""
                status.value = "finished. " + self.format_summary() + note
                return
            l, r = self.pair()
            left.value, right.value = self._png(l), self._png(r)
            status.value = f"trial {len(self.answers) + 1} of {len(self)}. " + self.format_summary()

        def click(choice):
            def handler(_):
                if not self.done:
                    self.answer(choice)
                show()
            return handler

        b_left.on_click(click("left"))
        b_right.on_click(click("right"))
        show()
        return w.VBox([w.HBox([left, right]), w.HBox([b_left, b_right]), status])
