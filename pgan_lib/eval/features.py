"""The kit's yardstick: a frozen product classifier that maps images to features, and the cached real side.

The yardstick is a frozen product classifier shipped with the kit
(``fashion-classifier`` for Fashion-MNIST, ``catalog-classifier`` for the colour
catalogue at 32x32, ``catalog64-classifier`` for it at 64x64), not ImageNet's InceptionV3: its weights cannot be downloaded here,
and Inception features fit 28x28 grey products poorly. Numbers computed with it
are therefore *not* comparable with FIDs in papers; they are comparable with
each other as long as the feature extractor version (printed with every
report, e.g. ``fashion-classifier@1a2b3c4d5e6f/penultimate-128``) is the same.
"""
from __future__ import annotations

import hashlib
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import pretrained
from ..config import cache_dir, cache_write_failed
from ..data import load_dataset
from ..images import to_float_images
from ..models.classifier import Classifier
from ..safety import clean_stale_temps, write_atomically
from ..train import data_fingerprint
from . import metrics as M

EXTRACTORS = {"fashion-mnist": "fashion-classifier", "catalog": "catalog-classifier"}
#: Yardsticks that see a dataset at a higher resolution: (dataset, image side) -> shipped classifier.
SIZED_EXTRACTORS = {("catalog", 64): "catalog64-classifier"}
PRIMARY_HEAD = {"fashion-mnist": "label", "catalog": "category"}


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
        model = pretrained.load(name, device=device)
        if not isinstance(model, Classifier):
            raise ValueError(f"{name} is a {model.arch}, not a classifier")
        return cls(model, name, pretrained.SHIPPED[name].sha256)

    @classmethod
    def for_dataset(cls, dataset: str, device: str | torch.device = "cpu", size: int | None = None) -> "FeatureExtractor":
        """The shipped classifier that measures ``dataset`` ("fashion-mnist" or "catalog"); with ``size``, the one
        made for images of that side when there is one (64x64 catalogue images: ``catalog64-classifier``)."""
        if dataset not in EXTRACTORS:
            raise ValueError(f"no kit classifier for dataset {dataset!r}; evaluation supports {', '.join(EXTRACTORS)}")
        return cls.shipped(SIZED_EXTRACTORS.get((dataset, size or 0), EXTRACTORS[dataset]), device=device)

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
        feats: list[torch.Tensor] = []
        logits: dict[str, list[torch.Tensor]] = {h: [] for h in self.heads}
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
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
            ref = None   # a damaged cache file (e.g. truncated): measure again, and replace it below
    if ref is None:
        ext = extractor(data.images)
        radii = M.knn_radii(ext.features, k) if k else torch.zeros(0)
        ref = Reference(dataset, split, extractor.version, ext, radii, k or 0, data.labels.clone(), list(data.class_names))
        if use_cache:
            arrays: dict[str, Any] = {"features": ext.features.numpy(), "radii": ref.radii.numpy(),
                                      **{f"logits_{h}": v.numpy() for h, v in ext.logits.items()}}
            try:   # a private temporary name per process: two first runs never rename each other's file
                path.parent.mkdir(parents=True, exist_ok=True)
                clean_stale_temps(path.parent)
                write_atomically(path, lambda f: np.savez(f, **arrays))
            except OSError as err:
                cache_write_failed(path, err)
    _REFERENCES[key] = ref
    return ref




_LOADED: dict[tuple[str, str], FeatureExtractor] = {}


def shipped_extractor(name: str, device: str | torch.device = "cpu") -> FeatureExtractor:
    """The shipped classifier ``name`` (e.g. "fashion-classifier") as a ``FeatureExtractor``,
    verified and loaded once per process."""
    key = (name, str(device))
    if key not in _LOADED:
        _LOADED[key] = FeatureExtractor.shipped(name, device=device)
    return _LOADED[key]
