"""Quality of the kit's conditional GAN, measured with the kit's own Fashion-MNIST classifier.

Two tables:

1. the validation history of a run (default: the one that made the shipped
   ``fashion-cgan``): FID, class accuracy and classes present at every
   validation, to check that FID falls or holds until early stopping;
2. the shipped generator (or any GAN checkpoint): class accuracy per class of
   ``--n`` samples (labels cycling through the ten classes), the class
   histogram, and FID on the classifier's features against the test split,
   beside the real-vs-real FID (10,000 training images vs the test split).

3. the diagnosis table (``--diagnose``): on the 10,000-image test split, in the
   kit classifier's features, without truncation unless asked: FID, precision,
   recall, density, coverage and class accuracy of the model, beside real
   training photos; per class recall, coverage and the share of samples the
   classifier puts in the class; then the same headline numbers for several
   truncations psi (``--psi``), and EMA versus raw generator weights when a
   training checkpoint is given (``--raw runs/.../last``; a shipped sampler
   keeps only the EMA weights).

    python benchmarks/gan_quality.py                       # tables 1 and 2 for fashion-cgan
    python benchmarks/gan_quality.py --diagnose --history-only   # table 1 and the diagnosis
    python benchmarks/gan_quality.py --run runs/cgan-fashion --history-only
    python benchmarks/gan_quality.py --samples s.npz       # score `pgan sample` output instead
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from pgan_lib import pretrained
from pgan_lib.data import load_dataset
from pgan_lib.eval import metrics
from pgan_lib.eval.features import shipped_extractor as load_feature_model
from pgan_lib.eval.metrics import class_accuracy


def history_of(path: str | Path) -> tuple[list[dict], dict]:
    """The validation history and sidecar of a run folder, a checkpoint, or a shipped model name."""
    p = Path(path)
    if not p.exists() and str(path) in pretrained.SHIPPED:
        p = pretrained.path_of(str(path)).with_suffix(".json")
    if p.is_dir():
        p = p / "last.json"
    if p.suffix != ".json":
        p = p.with_suffix(".json")
    meta = json.loads(p.read_text())
    return meta.get("history", []), meta


def print_history(path: str | Path) -> None:
    history, meta = history_of(path)
    best = meta.get("best_metric")
    print(f"validation history of {path} (recipe {meta.get('recipe')}, {meta.get('step')} steps; "
          f"FID of {meta.get('config', {}).get('val_samples', '?')} EMA samples vs the validation split)")
    print(f"{'step':>6s} {'val FID':>8s} {'class acc':>9s} {'classes':>7s} {'worst cls':>9s} {'D(real)':>8s} {'D(fake)':>8s}")
    for e in history:
        mark = "  <- best" if best is not None and abs(e.get("val_fid", float("nan")) - best) < 1e-9 else ""
        print(f"{e['step']:6d} {e.get('val_fid', float('nan')):8.2f} {e.get('val_class_acc', float('nan')):9.3f} "
              f"{e.get('val_classes_present', float('nan')):7.0f} {e.get('val_worst_class_acc', float('nan')):9.3f} "
              f"{e.get('val_d_real', float('nan')):8.3f} {e.get('val_d_fake', float('nan')):8.3f}{mark}")
    print()


def samples_of(args) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(images uint8 (N, 1, 28, 28), labels (N,), seconds) from --samples or by sampling --model."""
    if args.samples:
        with np.load(args.samples, allow_pickle=False) as f:
            return torch.from_numpy(f["images"]).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(f["labels"]), 0.0
    from pgan_lib.cli.sample import sample_images
    from pgan_lib.models.base import load_model

    model = pretrained.load(args.model) if args.model in pretrained.SHIPPED else load_model(args.model)
    labels = [i % model.config.num_classes for i in range(args.n)]
    t = time.perf_counter()
    images = sample_images(model, args.n, labels=labels, seed=args.seed)
    return images.permute(0, 3, 1, 2).contiguous(), torch.tensor(labels), time.perf_counter() - t


def print_quality(args) -> None:
    torch.manual_seed(0)
    ext = load_feature_model("fashion-classifier")
    head = ext.heads[0]
    names = ext.model.names_of(head)
    images, labels, seconds = samples_of(args)
    test = load_dataset("fashion-mnist", "test", limit=None)
    train = load_dataset("fashion-mnist", "train", limit=len(test), seed=1, mode="full")
    fake_ext, test_ext, train_ext = ext(images), ext(test.images), ext(train.images)
    test_stats = metrics.feature_stats(test_ext.features)
    fid = metrics.frechet_distance(*metrics.feature_stats(fake_ext.features), *test_stats)
    real_fid = metrics.frechet_distance(*metrics.feature_stats(train_ext.features), *test_stats)
    acc = class_accuracy(fake_ext.predicted(head), labels, len(names))
    real_acc = class_accuracy(test_ext.predicted(head), test.labels, len(names))
    print(f"feature extractor: {ext.version}")
    source = args.samples or args.model
    print(f"{source}: {len(images)} samples" + (f" drawn in {seconds:.1f} s" if seconds else ""))
    print(f"{'class':12s} {'sample acc':>10s} {'test acc':>9s} {'predicted':>9s}")
    for k, name in enumerate(names):
        print(f"{name:12s} {acc['per_class'][k]:10.3f} {real_acc['per_class'][k]:9.3f} {acc['histogram'][k]:9d}")
    print(f"{'all':12s} {acc['accuracy']:10.3f} {real_acc['accuracy']:9.3f}   classes present: {acc['classes_present']}/10")
    print()
    print(f"FID (kit classifier features) vs the test split ({len(test)} images):")
    print(f"  {source:40s} {fid:8.3f}   ({len(images)} samples)")
    print(f"  {'real vs real (train vs test)':40s} {real_fid:8.3f}   ({len(train)} training images)")


def _headline(ext, head, images: torch.Tensor, labels: torch.Tensor, test, test_ext, radii) -> dict:
    """FID, precision/recall/density/coverage (k = 5) and class accuracy of images against the test split."""
    fake = ext(images)
    out = metrics.prdc(test_ext.features, fake.features, k=5, real_radii=radii)
    out["fid"] = metrics.frechet_distance(*metrics.feature_stats(fake.features), *metrics.feature_stats(test_ext.features))
    out["class_acc"] = class_accuracy(fake.predicted(head), labels, 10)["accuracy"]
    out["_fake"] = fake
    return out


def _draw(model, n: int, seed: int, psi: float | None = None, ema: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """n samples (uint8 (N, 1, 28, 28)) with labels cycling through the classes, at truncation psi."""
    from pgan_lib.images import to_uint8

    labels = torch.arange(n) % model.config.num_classes
    old = model.config.truncation
    if psi is not None:
        model.config.truncation = psi
    try:
        z = model.latents(n, seed)
        with torch.no_grad():
            x = torch.cat([model.generate(z[i:i + 1000], model.cond_inputs(labels=labels[i:i + 1000].tolist(),
                                                                            n=len(labels[i:i + 1000])), ema=ema).cpu()
                           for i in range(0, n, 1000)])
    finally:
        model.config.truncation = old
    return to_uint8(x), labels


def print_diagnosis(args) -> None:
    """The diagnosis table of the module docstring (section 3)."""
    from pgan_lib.models.base import load_model

    torch.manual_seed(0)
    t0 = time.perf_counter()
    ext = load_feature_model("fashion-classifier")
    head = ext.heads[0]
    names = ext.model.names_of(head)
    test = load_dataset("fashion-mnist", "test", limit=None)
    train = load_dataset("fashion-mnist", "train", limit=len(test), seed=1, mode="full")
    test_ext = ext(test.images)
    radii = metrics.knn_radii(test_ext.features, 5)
    model = pretrained.load(args.model) if args.model in pretrained.SHIPPED else load_model(args.model)
    rows: list[tuple[str, dict]] = [("real training photos", _headline(ext, head, train.images, train.labels, test,
                                                                       test_ext, radii))]
    images, labels = _draw(model, args.n, args.seed, psi=1.0)
    main_row = _headline(ext, head, images, labels, test, test_ext, radii)
    rows.append((f"{args.model}, psi 1 (no truncation)", main_row))
    real_acc = class_accuracy(test_ext.predicted(head), test.labels, 10)["accuracy"]
    print(f"\nDiagnosis of {args.model} on the {len(test)}-image test split (kit features, {ext.version}); "
          f"{args.n} samples, labels cycling, seed {args.seed}")
    print(f"kit classifier accuracy on real test photos: {real_acc:.3f}")
    header = f"{'':38s} {'FID':>7s} {'prec':>6s} {'recall':>6s} {'dens':>6s} {'cover':>6s} {'cls acc':>7s}"

    def line(name: str, r: dict) -> str:
        return (f"{name:38s} {r['fid']:7.2f} {r['precision']:6.3f} {r['recall']:6.3f} {r['density']:6.3f} "
                f"{r['coverage']:6.3f} {r['class_acc']:7.3f}")

    print(header)
    for name, r in rows:
        print(line(name, r))
    # per class: real photos of class k vs samples asked for class k
    fake = main_row["_fake"]
    pred = fake.predicted(head)
    print(f"\n{'class':12s} {'recall':>6s} {'cover':>6s} {'prec':>6s} {'share':>6s} {'share/0.1':>9s}")
    for k, name in enumerate(names):
        real_k, fake_k = test.labels == k, labels == k
        r = metrics.prdc(test_ext.features[real_k], fake.features[fake_k], k=5)
        share = float((pred == k).float().mean())
        print(f"{name:12s} {r['recall']:6.3f} {r['coverage']:6.3f} {r['precision']:6.3f} {share:6.3f} {share / 0.1:9.2f}")
    print("\ntruncation (samples use psi * z):")
    print(header)
    for psi in args.psi:
        x, y = _draw(model, args.n, args.seed, psi=psi)
        print(line(f"{args.model}, psi {psi:g}", _headline(ext, head, x, y, test, test_ext, radii)))
    if args.raw:
        raw_model = load_model(args.raw)
        print(f"\nEMA versus raw generator weights of {args.raw} (psi 1):")
        print(header)
        for ema in (True, False):
            x, y = _draw(raw_model, args.n, args.seed, psi=1.0, ema=ema)
            print(line(f"{'EMA' if ema else 'raw'} weights", _headline(ext, head, x, y, test, test_ext, radii)))
    else:
        print("\nEMA versus raw weights: the shipped sampler keeps only the EMA generator; "
              "give --raw runs/<run>/last (a training checkpoint) to compare.")
    try:
        load = os.getloadavg()
        print(f"\n{time.perf_counter() - t0:.0f} s, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
              f"{torch.get_num_threads()} thread(s)")
    except OSError:
        pass


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", default="fashion-cgan", help="run folder, checkpoint or shipped name for the history table")
    p.add_argument("--model", default="fashion-cgan", help="shipped name or GAN checkpoint to score")
    p.add_argument("--samples", default=None, help="score an .npz written by `pgan sample` instead of sampling")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--history-only", action="store_true")
    p.add_argument("--diagnose", action="store_true", help="also print the diagnosis table (section 3 above)")
    p.add_argument("--psi", type=float, nargs="*", default=[0.9, 0.7, 0.5], help="truncations for the diagnosis")
    p.add_argument("--raw", default=None, help="a GAN training checkpoint: compare its EMA and raw generators")
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print_history(args.run)
    if not args.history_only:
        print_quality(args)
    if args.diagnose:
        print_diagnosis(args)


if __name__ == "__main__":
    main()
