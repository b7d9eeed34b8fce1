"""Training and measuring the real-vs-generated detectors (``pgan_lib.models.detector``).

A detector is trained on real photos (label 0) against samples of *one* generator
(label 1) and then tested on generators it never saw. Two numbers per generator,
because they fail differently:

- average precision (AP), threshold-free: do generated images score higher than
  real ones? AP = sum_k (R_k - R_{k-1}) P_k over the ranking by score;
- accuracy at a threshold: how many real and generated images are called right,
  (TNR + TPR) / 2 on balanced sets. At the training threshold (logit 0, p = 0.5)
  a detector often keeps a high AP on an unseen generator but calls most of its
  images real: the scores still rank, but they moved.

So the threshold is chosen on *held-out generators* (neither the training one
nor the test ones): the logit that maximises balanced accuracy there.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..attacks import pgd_maximise
from ..data import load_dataset
from ..data.base import ProductData
from ..images import to_float_images, to_uint8
from ..models.base import GeneratorModel, draw_samples
from ..models.detector import LUMA, Detector, DetectorConfig
from ..pretrained import export, load
from ..train import TrainConfig, Trainer, data_fingerprint

#: per image format: the data, the generator it is trained on, held-out generators for the threshold, test generators.
#: The Fashion CNN's length and data: 2,000 steps on 8,000 photos reached validation AP 0.994 against the 4,000-step
#: fashion-cgan, but only 0.89 on test against the 16,000-step one that replaced it (closer to the photos, harder to
#: tell apart). On 500 validation photos vs 500 samples, the cheapest variant with AP >= 0.99 was chosen: 8,000 steps
#: gave 0.963 (8,000 or 30,000 photos), 8,000 at twice the width 0.986, 20,000 steps on 30,000 photos 0.992.
SETUPS: dict[str, dict[str, Any]] = {
    "fashion": {"source": "fashion-mnist", "size": None, "train_generator": "fashion-cgan", "steps": 20_000,
                "n_train": 30_000,
                "calibration": ("cvae-fashion-clip", "fashion-cgan-no-sn"),
                "unseen": ("vae-fashion", "cvae-fashion", "fashion-t2i")},
    "catalog": {"source": "catalog", "size": 32, "train_generator": "catalog-t2i", "steps": 1000, "n_train": 4000,
                "calibration": (), "unseen": ()},
}


@torch.no_grad()
def generator_samples(name: str, n: int, reference: ProductData, seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """n samples (uint8 (N, C, H, W)) of the shipped generator ``name``, conditioned like ``reference``
    (the labels of random items for a class-conditional model, their descriptions for a text-conditional one)."""
    model = load(name)
    if not isinstance(model, GeneratorModel):
        raise ValueError(f"{name} is a {model.arch} model, not a generator")
    cond = getattr(model, "condition", None)
    pick = torch.randint(len(reference), (n,), generator=torch.Generator().manual_seed(seed)).tolist()
    labels = [int(reference.labels[i]) for i in pick] if cond is not None and cond.kind == "label" else None
    prompts = [reference.descriptions[i] for i in pick] if cond is not None and cond.kind != "label" else None
    return to_uint8(draw_samples(model, n, labels, prompts, seed=seed, batch_size=batch_size))


def labelled(real: torch.Tensor, fake: torch.Tensor, name: str, split: str) -> ProductData:
    """Real (label 0) and generated (label 1) uint8 images as one ProductData split."""
    images = torch.cat([real, fake])
    labels = torch.cat([torch.zeros(len(real), dtype=torch.long), torch.ones(len(fake), dtype=torch.long)])
    return ProductData(name=name, split=split, images=images, descriptions=[""] * len(images), labels=labels,
                       class_names=["real", "generated"])


# -- metrics ---------------------------------------------------------------------------------------

def average_precision(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """AP of ranking positives (label 1) above negatives by score: sum over positives of precision at its rank / P."""
    order = torch.argsort(scores, descending=True, stable=True)
    y = labels[order].float()
    hits = torch.cumsum(y, 0)
    precision = hits / torch.arange(1, len(y) + 1)
    return float((precision * y).sum() / y.sum().clamp_min(1))


def balanced_accuracy(scores: torch.Tensor, labels: torch.Tensor, threshold: float) -> float:
    """(true-negative rate + true-positive rate) / 2 with 'generated' = score > threshold."""
    pred = scores > threshold
    tpr = pred[labels == 1].float().mean() if (labels == 1).any() else torch.tensor(float("nan"))
    tnr = (~pred[labels == 0]).float().mean() if (labels == 0).any() else torch.tensor(float("nan"))
    return float((tpr + tnr) / 2)


def choose_threshold(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """The threshold (midway between two sorted scores) with the highest balanced accuracy."""
    s = torch.sort(scores).values
    candidates = torch.cat([s[:1] - 1, (s[1:] + s[:-1]) / 2, s[-1:] + 1])
    accs = torch.tensor([balanced_accuracy(scores, labels, float(t)) for t in candidates])
    return float(candidates[int(accs.argmax())])


def rates(scores: torch.Tensor, threshold: float) -> float:
    """Fraction of scores above the threshold (called 'generated')."""
    return float((scores > threshold).float().mean())


# -- training -----------------------------------------------------------------------------------------

def detector_data(setup: str = "fashion", n_train: int | None = None, n_val: int = 500,
                  seed: int = 0) -> tuple[ProductData, ProductData]:
    """Train and validation splits for a detector: real photos vs the setup's training generator
    (``n_train`` photos, default the setup's, and as many samples)."""
    s = SETUPS[setup]
    n_train = n_train or s["n_train"]
    real_train = load_dataset(s["source"], "train", limit=n_train, size=s["size"])
    real_val = load_dataset(s["source"], "val", limit=n_val, size=s["size"])
    fake_train = generator_samples(s["train_generator"], len(real_train), real_train, seed=seed)
    fake_val = generator_samples(s["train_generator"], len(real_val), real_val, seed=seed + 1)
    name = f"{s['source']} vs {s['train_generator']}"
    return labelled(real_train.images, fake_train, name, "train"), labelled(real_val.images, fake_val, name, "val")


def train_detector(setup: str = "fashion", steps: int | None = None, out: str | Path | None = None,
                   n_train: int | None = None, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                   progress: bool = True, augment: float = 0.0, widths: tuple[int, int, int] = (16, 32, 64)):
    """Train the CNN detector of ``setup`` with the shared trainer; returns (model, train split, val split).

    ``steps`` and ``n_train`` default to the setup's (how the shipped detectors were made);
    ``augment``: the fraction of each batch blurred and the fraction given noise (0: none, as shipped).
    """
    s = SETUPS[setup]
    steps = steps or s["steps"]
    n_train = n_train or s["n_train"]
    train, val = detector_data(setup, n_train=n_train, seed=seed)
    torch.manual_seed(seed)
    model = Detector(DetectorConfig(channels=train.channels, size=train.size, widths=widths,
                                    blur_prob=augment, noise_prob=augment,
                                    trained_on=f"{s['source']} train photos vs {s['train_generator']} samples"))
    cfg = TrainConfig(max_steps=steps, batch_size=batch_size, lr=lr, seed=seed, log_every=50,
                      val_every=max(steps // 4, 1), checkpoint_every=steps, lr_schedule="cosine",
                      tensorboard=False, progress=progress)
    out = Path(out) if out is not None else Path("runs") / f"detector-{setup}"
    Trainer(cfg, out, device="cpu", data_fingerprint=data_fingerprint(train), recipe=f"detector-{setup}").fit(model, train, val)
    return model, train, val


def calibrate(model, setup: str = "fashion", n: int = 500, seed: int = 100) -> tuple[float, str]:
    """Choose the logit threshold on held-out generators (real validation photos vs their samples).

    Falls back to the training generator's validation samples when the setup has no held-out generator.
    Sets ``model.config.threshold`` and ``calibrated_on``; returns both.
    """
    s = SETUPS[setup]
    real = load_dataset(s["source"], "val", limit=n, size=s["size"])
    gens = s["calibration"] or (s["train_generator"],)
    fakes = torch.cat([generator_samples(g, n // len(gens), real, seed=seed) for g in gens])
    scores = torch.cat([model.scores(real.images), model.scores(fakes)])
    labels = torch.cat([torch.zeros(len(real), dtype=torch.long), torch.ones(len(fakes), dtype=torch.long)])
    thr = choose_threshold(scores, labels)
    what = (f"balanced accuracy on {len(real)} {s['source']} validation photos vs {len(fakes)} samples of "
            f"{', '.join(gens)}" + ("" if s["calibration"] else " (the training generator: no held-out one exists)"))
    model.config = replace(model.config, threshold=thr, calibrated_on=what)
    return thr, what


def generalisation_table(score_fns: dict[str, Callable[[torch.Tensor], torch.Tensor]], thresholds: dict[str, float],
                         setup: str = "fashion", n: int = 1000, seed: int = 200,
                         transforms: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None) -> list[dict]:
    """AP and balanced accuracy (at logit 0 and at the calibrated threshold) of each detector on the test
    photos against each generator's test samples, under each transform (e.g. JPEG, blur).

    score_fns: detector name -> images (uint8) -> logits; thresholds: detector name -> calibrated threshold.
    """
    s = SETUPS[setup]
    real = load_dataset(s["source"], "test", limit=n, size=s["size"])
    gens = [(s["train_generator"], "training"), *[(g, "held-out (threshold)") for g in s["calibration"]],
            *[(g, "unseen") for g in s["unseen"]]]
    fakes = {g: generator_samples(g, len(real), real, seed=seed) for g, _ in gens}
    transforms = transforms or {"as generated": lambda x: x}
    rows = []
    for tname, tf in transforms.items():
        real_x = tf(real.images)
        for det, fn in score_fns.items():
            real_s = fn(real_x)
            for g, role in gens:
                fake_s = fn(tf(fakes[g]))
                scores = torch.cat([real_s, fake_s])
                labels = torch.cat([torch.zeros(len(real_s), dtype=torch.long), torch.ones(len(fake_s), dtype=torch.long)])
                rows.append({"detector": det, "transform": tname, "generator": g, "role": role, "n": len(labels),
                             "AP": average_precision(scores, labels),
                             "acc@0": balanced_accuracy(scores, labels, 0.0),
                             "acc@calibrated": balanced_accuracy(scores, labels, thresholds[det]),
                             "flagged real": rates(real_s, thresholds[det]),
                             "flagged generated": rates(fake_s, thresholds[det])})
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """The rows of ``generalisation_table`` as text."""
    head = f"{'detector':<10s} {'transform':<14s} {'generator':<20s} {'role':<22s} {'AP':>6s} {'acc@0':>7s} {'acc@thr':>8s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['detector']:<10s} {r['transform']:<14s} {r['generator']:<20s} {r['role']:<22s} "
                     f"{r['AP']:>6.3f} {r['acc@0']:>7.1%} {r['acc@calibrated']:>8.1%}")
    return "\n".join(lines)


def attack_detector(model, images: torch.Tensor, eps: float, steps: int = 20, seed: int = 0) -> torch.Tensor:
    """PGD (``attacks.pgd_maximise``) that lowers the detector's logit: generated images made to look real.
    images uint8 or float (N, C, H, W) -> attacked float images on the uint8 grid."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images
    thr = float(model.config.threshold)
    model.eval()

    def objective(xa: torch.Tensor, idx: torch.Tensor):
        s = model(xa)
        return -s, (s.detach() < thr)

    x_adv, _ = pgd_maximise(objective, x, eps, "linf", steps, restarts=1, early_stop=False, seed=seed)
    return torch.round(x_adv * 255) / 255


def uint8_transform(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap a float->float image transform (e.g. ``watermark.jpeg``) to map uint8 -> uint8."""
    return lambda x: to_uint8(fn(x.float() / 255))


def normalise_input(images, where: str = "input") -> tuple[torch.Tensor, str]:
    """Any batch of 28x28 grey or 32x32 colour images (uint8 or floats in [0, 1], (N, H, W[, C]) or
    (N, C, H, W)) -> (uint8 (N, C, H, W), the setup whose detector reads them).

    A 28x28 colour image is turned grey (luminance), a 32x32 grey one is repeated on three channels;
    other sizes are refused with the sizes that work.
    """
    try:
        x = to_uint8(to_float_images(images))
    except ValueError as err:
        raise ValueError(f"{where}: {err}; the detectors read uint8 or floats in [0, 1]") from None
    side, c = x.shape[-1], x.shape[1]
    if x.shape[-2] != side:
        raise ValueError(f"{where}: images must be square; got {tuple(x.shape[-2:])}")
    if side == 28:
        if c == 3:
            w = torch.tensor(LUMA).view(1, 3, 1, 1)
            x = to_uint8((x.float() / 255 * w).sum(1, keepdim=True))
        return x, "fashion"
    if side == 32:
        return x.expand(-1, 3, -1, -1).contiguous(), "catalog"
    raise ValueError(f"{where}: the detectors read 28x28 grey (Fashion-MNIST-like) or 32x32 colour "
                     f"(catalogue-like) images; got {side}x{side}. Resize the images to one of these first.")


def export_detector(run_dir: str | Path, name: str, model, console_log: str | Path | None = None,
                    notes: tuple[str, ...] = ()) -> tuple[Path, str]:
    """Ship a trained detector run (its ``last`` checkpoint) as ``checkpoints/<name>`` in fp16, with the
    calibrated threshold of ``model.config`` written into the sidecar. Returns (stem, sha256 of the weights)."""
    changes = {"threshold": model.config.threshold, "calibrated_on": model.config.calibrated_on}
    return export(Path(run_dir) / "last", name, dtype=torch.float16, console_log=console_log,
                  config_changes=changes, notes=notes)
