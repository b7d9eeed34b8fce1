"""Text-to-image targets: measure the shipped text models and print the targets table.

    .venv/bin/python benchmarks/t2i_targets.py            # full size (a few minutes on a CPU)
    .venv/bin/python benchmarks/t2i_targets.py --quick    # fewer samples, for a smoke test

What is measured (all on data the models never trained on):

* retrieval: the shipped CLIPs (``catalog-clip``, ``fashion-clip``) find each
  test description's own image among 100 candidates (99 images of other
  attribute combinations): text -> image R@1 and R@5.
* attribute accuracy: ``catalog-t2i`` draws ``--per`` images for each of the
  160 seen and the 20 held-out (category, colour, pattern) combinations; the
  catalogue classifier reads each attribute back. ``fashion-t2i`` draws images
  for all 90 (class, shade, fit) combinations; the Fashion-MNIST classifier
  reads the class, the pixel rules that wrote the descriptions read shade and fit.
  Each once with the training phrasings and once with the held-out ones (paraphrases).
* R-precision: the CLIP finds each generated image's own prompt among 100.
* FID against the test split, in the kit classifier's features (samples drawn
  for the test split's descriptions).

``--json PATH`` also writes every number as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

from pgan_lib import pretrained
from pgan_lib.data import load_dataset
from pgan_lib.eval import FeatureExtractor, evaluate_samples
from pgan_lib.eval.prompts import evaluate_prompts
from pgan_lib.models.base import draw_samples
from pgan_lib.text import TextWarning

TARGETS = {
    ("catalog", "seen", "category"): 0.90, ("catalog", "seen", "colour"): 0.90, ("catalog", "seen", "pattern"): 0.90,
    ("catalog", "heldout", "category"): 0.70, ("catalog", "heldout", "colour"): 0.70,
    ("catalog", "heldout", "pattern"): 0.70,
    ("fashion-mnist", "seen", "label"): 0.90, ("fashion-mnist", "seen", "shade"): 0.85,
    ("catalog-clip", "t2i_R@1"): 0.60,
}


def retrieval(name: str, source: str, quick: bool) -> dict:
    clip = pretrained.load(name)
    test = load_dataset(source, "test", mode="full", limit=2000 if quick else False, size=32 if source == "catalog" else None)
    return {"n": len(test), **clip.retrieval(test, n_candidates=100, seed=0)}


def fid_for_test_prompts(model, source: str, n: int) -> float:
    test = load_dataset(source, "test", mode="full", limit=n, size=32 if source == "catalog" else None)
    images = draw_samples(model, len(test), prompts=test.descriptions, seed=1)
    return evaluate_samples(images, dataset=source, split="test", kid_subsets=10)["fid"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke test, not the reported numbers)")
    ap.add_argument("--per", type=int, default=None, help="images per attribute combination (default 20, quick 3)")
    ap.add_argument("--catalog-classifier", default=None,
                    help="checkpoint of a catalogue classifier, when catalog-classifier is not shipped")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--store", action="store_true",
                    help="also store the table in the shipped t2i checkpoints' JSON sidecars (shown by notebook 05)")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    per = args.per or (3 if args.quick else 20)
    start = time.time()
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
                                f"{torch.get_num_threads()} threads", "per_combination": per}

    catalog_clf = None
    if args.catalog_classifier:
        from pgan_lib.models.base import load_model

        catalog_clf = FeatureExtractor.from_model(load_model(args.catalog_classifier), "catalog-classifier(run)")
    elif not pretrained.available("catalog-classifier"):
        print("catalog-classifier is not shipped: pass --catalog-classifier PATH to measure the catalogue", file=sys.stderr)

    for name, source in (("catalog-clip", "catalog"), ("fashion-clip", "fashion-mnist")):
        if pretrained.available(name):
            results[name] = retrieval(name, source, args.quick)
            print(f"{name}: {results[name]}", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TextWarning)
        if pretrained.available("catalog-t2i") and (catalog_clf is not None or pretrained.available("catalog-classifier")):
            model = pretrained.load("catalog-t2i")
            for combos in ("seen", "heldout"):
                for phrasing in ("train", "paraphrase"):
                    n = per if combos == "seen" else per * 4        # 20 held-out combinations: more of each
                    r = evaluate_prompts(model, "catalog", combos, phrasing, n, seed=0, classifier=catalog_clf)
                    results[f"catalog-t2i/{combos}/{phrasing}"] = {"n": r["n"], **r["accuracy"],
                                                                    "r_precision": r["r_precision"]}
                    print(f"catalog-t2i {combos}/{phrasing}: {results[f'catalog-t2i/{combos}/{phrasing}']}", flush=True)
            if catalog_clf is None:
                results["catalog-t2i/fid"] = fid_for_test_prompts(model, "catalog", 500 if args.quick else 2000)
        if pretrained.available("fashion-t2i"):
            model = pretrained.load("fashion-t2i")
            for phrasing in ("train", "paraphrase"):
                r = evaluate_prompts(model, "fashion-mnist", "seen", phrasing, per, seed=0)
                results[f"fashion-t2i/seen/{phrasing}"] = {"n": r["n"], **r["accuracy"], "r_precision": r["r_precision"]}
                print(f"fashion-t2i {phrasing}: {results[f'fashion-t2i/seen/{phrasing}']}", flush=True)
            results["fashion-t2i/fid"] = fid_for_test_prompts(model, "fashion-mnist", 500 if args.quick else 2000)

    results["seconds"] = round(time.time() - start, 1)
    print()
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.store and not args.quick:
        for name in ("catalog-t2i", "fashion-t2i"):
            sidecar = pretrained.path_of(name).with_suffix(".json")
            if sidecar.exists():           # the weights (and their sha256) are untouched
                meta = json.loads(sidecar.read_text())
                meta["targets_table"] = format_table(results)
                meta["targets"] = {k: v for k, v in results.items() if k.startswith((name, name.split("-")[0] + "-clip"))}
                sidecar.write_text(json.dumps(meta, indent=1))
    return 0


def format_table(results: dict) -> str:
    """The targets table as Markdown: measured value, target, met or not."""
    rows = ["| what | measured | target | met |", "|---|---|---|---|"]

    def row(label: str, value: float | None, target: float | None) -> None:
        if value is None:
            rows.append(f"| {label} | not measured | {'' if target is None else f'>= {target:.0%}'} | |")
            return
        met = "" if target is None else ("yes" if value >= target else "no")
        rows.append(f"| {label} | {value:.1%} | {'' if target is None else f'>= {target:.0%}'} | {met} |")

    clip = results.get("catalog-clip", {})
    row("catalogue retrieval text->image R@1 (test, 100 candidates)", clip.get("t2i_R@1"), TARGETS[("catalog-clip", "t2i_R@1")])
    row("catalogue retrieval text->image R@5", clip.get("t2i_R@5"), None)
    for combos in ("seen", "heldout"):
        for phrasing in ("train", "paraphrase"):
            r = results.get(f"catalog-t2i/{combos}/{phrasing}", {})
            for attr in ("category", "colour", "pattern"):
                target = TARGETS[("catalog", combos, attr)] if phrasing == "train" else None
                row(f"catalogue {combos} combinations, {attr} ({'training' if phrasing == 'train' else 'new'} phrasings)",
                    r.get(attr), target)
            row(f"catalogue {combos} combinations, all three ({phrasing})", r.get("all"), None)
            row(f"catalogue {combos} combinations, R-precision ({phrasing})", r.get("r_precision"), None)
    fclip = results.get("fashion-clip", {})
    row("Fashion-MNIST retrieval text->image R@1", fclip.get("t2i_R@1"), None)
    for phrasing in ("train", "paraphrase"):
        r = results.get(f"fashion-t2i/seen/{phrasing}", {})
        words = "training" if phrasing == "train" else "new"
        row(f"Fashion-MNIST class accuracy ({words} phrasings)", r.get("label"),
            TARGETS[("fashion-mnist", "seen", "label")] if phrasing == "train" else None)
        row(f"Fashion-MNIST shade agreement ({words} phrasings)", r.get("shade"),
            TARGETS[("fashion-mnist", "seen", "shade")] if phrasing == "train" else None)
        row(f"Fashion-MNIST fit agreement ({words} phrasings)", r.get("fit"), None)
        row(f"Fashion-MNIST R-precision ({words} phrasings)", r.get("r_precision"), None)
    lines = rows + [""]
    for key in ("catalog-t2i/fid", "fashion-t2i/fid"):
        if key in results:
            lines.append(f"{key}: FID {results[key]:.2f} (kit classifier features, test split)")
    lines.append(f"machine: {results.get('machine')}; {results.get('per_combination')} images per combination; "
                 f"{results.get('seconds')} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
