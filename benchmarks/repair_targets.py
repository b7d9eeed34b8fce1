"""Image repair against classical baselines, on the test splits with fixed masks: the table of notebook 07.

    python benchmarks/repair_targets.py                  # shipped models, 1000 Fashion-MNIST / 600 catalogue images
    python benchmarks/repair_targets.py --n 300 --catalog-n 200

1. Fashion-MNIST, centre hole (14x14 of 28x28): mean fill, biharmonic (scikit-image),
   the U-Net trained with L1 only, pix2pix (L1 + PatchGAN). FID and accuracy use the
   fashion-classifier's features and labels; FID compares the repaired test images with
   the same test images intact.
2. Catalogue (32x32 colour), right half missing: the same baselines, pix2pix without
   the description, and with it. Attribute accuracy: the catalog-classifier reads colour
   and pattern from the repaired half mirrored into a whole image (``mirror_half``),
   for each image's own description and for a contradicting one (another colour and
   another pattern, a seen combination); the same reading of the real right halves is
   the ceiling of this measure.
3. Super-resolution, Fashion-MNIST 14x14 -> 28x28 and catalogue 16x16 -> 32x32 (2x2 area
   averaging makes the input): bicubic against the shipped SR models.

Published reference, a different data set: Context Encoders (Pathak et al. 2016) report a
hole PSNR of about 18.6 dB on Paris StreetView with a quarter-area centre hole.
Models: the shipped checkpoint when present, else runs/<recipe>-full/last.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from pgan_lib import pretrained
from pgan_lib.data import load_dataset
from pgan_lib.data.catalog import CATEGORIES, COLOURS, PATTERNS, SEEN_COMBOS, describe
from pgan_lib.data.masks import centre_box, damage, half
from pgan_lib.eval import attributes as eval_attributes
from pgan_lib.eval import repair as R
from pgan_lib.eval.features import FeatureExtractor
from pgan_lib.models.base import load_model
from pgan_lib.models.classical import bicubic, biharmonic, mean_fill
from pgan_lib.models.pix2pix import sr_input


def load_repair_model(name: str):
    """The shipped model ``name`` if it verifies, else the last checkpoint of its recipe's full-mode run
    (the recipe the manifest names)."""
    if pretrained.available(name):
        return pretrained.load(name)
    run = Path("runs") / f"{pretrained.SHIPPED[name].recipe}-full" / "last"
    print(f"  ({name} is not shipped here: using {run})")
    return load_model(run)


def contradicting(attrs: dict[str, torch.Tensor], seed: int = 0) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """For each item another colour and another pattern of the same category (a seen combination)."""
    rng = np.random.default_rng(seed)
    seen = set(SEEN_COMBOS)
    prompts, cols, pats = [], [], []
    for c, k, p in zip(attrs["category"].tolist(), attrs["colour"].tolist(), attrs["pattern"].tolist()):
        while True:
            k2, p2 = int(rng.integers(len(COLOURS))), int(rng.integers(len(PATTERNS)))
            if k2 != k and p2 != p and (c, k2, p2) in seen:
                break
        prompts.append(describe(CATEGORIES[c], COLOURS[k2], PATTERNS[p2]))
        cols.append(k2)
        pats.append(p2)
    return prompts, torch.tensor(cols), torch.tensor(pats)


def read_halves(images: torch.Tensor, ext) -> dict[str, torch.Tensor]:
    """The colour and pattern the catalog-classifier reads in each mirrored right half: {"colour": (N,), "pattern": (N,)}."""
    out = ext(R.mirror_half(images, "right"))
    return {"colour": out.predicted("colour"), "pattern": out.predicted("pattern")}


def attribute_accuracy(observed: dict[str, torch.Tensor], colour: torch.Tensor, pattern: torch.Tensor) -> dict[str, float]:
    """Colour / pattern / both accuracy of what ``read_halves`` observed, against the requested values."""
    acc = eval_attributes.attribute_accuracy(observed, {"colour": colour, "pattern": pattern})
    return {"colour": acc["colour"], "pattern": acc["pattern"], "both": acc["all"]}


def pattern_breakdown(got: torch.Tensor, real: torch.Tensor, requested: torch.Tensor, visible: torch.Tensor) -> None:
    """Print, per requested pattern, how often the repaired half is read as it (``got``: patterns read), beside how
    often real halves of that pattern are read right (``real``: their patterns read; the measure's own ceiling);
    then how many misses copy the visible half's pattern."""
    print("\nby requested pattern, description contradicting the visible half:")
    print("pattern".ljust(12) + "items".rjust(7) + "read as requested".rjust(19) + "real halves read right".rjust(24))
    for k, name in enumerate(PATTERNS):
        asked, has = requested == k, visible == k
        print(name.ljust(12) + f"{int(asked.sum()):7d}" + f"{float((got[asked] == k).float().mean()):19.3f}"
              + f"{float((real[has] == k).float().mean()):24.3f}")
    miss = got != requested
    print(f"misses read as the visible half's own pattern: {int((got[miss] == visible[miss]).sum())} of {int(miss.sum())}")


def fashion(n: int) -> dict:
    print(f"\n== Fashion-MNIST test split, first {n} images, centre hole 14x14 (a quarter of the area) ==")
    data = load_dataset("fashion-mnist", "test", limit=n)
    x, y = data.float_images(), data.labels
    masks = centre_box(len(x), 28)
    l1_model, gan_model = load_repair_model("fashion-repair-l1"), load_repair_model("fashion-repair")
    methods = {"mean fill": mean_fill, "biharmonic": biharmonic,
               "U-Net, L1 only": lambda d, m: l1_model.repair(d, m),
               "pix2pix (L1+GAN)": lambda d, m: gan_model.repair(d, m)}
    rows = R.compare_repairs(methods, x, masks, FeatureExtractor.shipped("fashion-classifier"), y, "label")
    print(R.format_table(rows))
    g, l1u, b = rows["pix2pix (L1+GAN)"], rows["U-Net, L1 only"], rows["biharmonic"]
    o, d = rows["original"], rows["damaged"]
    checks = [
        ("pix2pix hole PSNR >= biharmonic + 3 dB", g["hole_psnr"] >= b["hole_psnr"] + 3,
         f"{g['hole_psnr']:.2f} vs {b['hole_psnr']:.2f} + 3"),
        ("accuracy on repaired >= 95% of accuracy on originals", g["accuracy"] >= 0.95 * o["accuracy"],
         f"{g['accuracy']:.4f} vs 0.95 x {o['accuracy']:.4f} = {0.95 * o['accuracy']:.4f}"),
        ("accuracy on repaired clearly above damaged (+5 points)", g["accuracy"] >= d["accuracy"] + 0.05,
         f"{g['accuracy']:.4f} vs {d['accuracy']:.4f}"),
        ("pix2pix at least as sharp as the real photos (hole edge energy)", g["edge"] >= o["edge"],
         f"{g['edge']:.5f} vs {o['edge']:.5f}"),
        ("pix2pix FID below the L1-only U-Net", g["fid"] < l1u["fid"], f"{g['fid']:.3f} vs {l1u['fid']:.3f}"),
        ("pix2pix hole PSNR within 1 dB of the L1-only U-Net", g["hole_psnr"] >= l1u["hole_psnr"] - 1,
         f"{g['hole_psnr']:.2f} vs {l1u['hole_psnr']:.2f} (gap {l1u['hole_psnr'] - g['hole_psnr']:.3f} dB)"),
    ]
    _print_checks(checks)
    return rows


def catalog(n: int) -> dict:
    print(f"\n== Catalogue test split (the quick-mode catalogue's {n} first test items), right half missing ==")
    data = load_dataset("catalog", "test", mode="quick", limit=n, size=32)
    x = data.float_images()
    masks = half(len(x), 32, "right")
    guided, unguided = load_repair_model("catalog-repair"), load_repair_model("catalog-repair-unguided")
    own = list(data.descriptions)
    other, col2, pat2 = contradicting(data.attributes, seed=0)
    ext = FeatureExtractor.shipped("catalog-classifier")
    methods = {"mean fill": mean_fill, "biharmonic": biharmonic,
               "pix2pix, no description": lambda d, m: unguided.repair(d, m),
               "pix2pix + description": lambda d, m: guided.repair(d, m, prompts=own)}
    rows = R.compare_repairs(methods, x, masks, ext, data.labels, "category")
    print(R.format_table(rows))
    damaged = damage(x, masks)
    col, pat = data.attributes["colour"], data.attributes["pattern"]
    real, plain, as_own, contra = (read_halves(images, ext) for images in (
        x, unguided.repair(damaged, masks), guided.repair(damaged, masks, prompts=own),
        guided.repair(damaged, masks, prompts=other)))
    table = {
        "real right halves (ceiling)": (attribute_accuracy(real, col, pat), None),
        "no description, own attributes": (attribute_accuracy(plain, col, pat), None),
        "no description, contradicting attributes": (attribute_accuracy(plain, col2, pat2), None),
        "description = own": (attribute_accuracy(as_own, col, pat), None),
        "description contradicts the visible half": (attribute_accuracy(contra, col2, pat2), None),
    }
    print("\nattribute accuracy in the repaired half (catalog-classifier on the mirrored half):")
    print("case".ljust(44) + "colour".rjust(9) + "pattern".rjust(9) + "both".rjust(9))
    for name, (acc, _) in table.items():
        print(name.ljust(44) + "".join(f"{acc[k]:9.3f}" for k in ("colour", "pattern", "both")))
    pattern_breakdown(contra["pattern"], real["pattern"], pat2, pat)
    own_acc = table["description = own"][0]
    con_acc = table["description contradicts the visible half"][0]
    checks = [
        ("guided repair: requested colour and pattern >= 90% (own description)", own_acc["both"] >= 0.9,
         f"both {own_acc['both']:.3f}"),
        ("guided repair: >= 90% for descriptions that contradict the visible half", con_acc["both"] >= 0.9,
         f"both {con_acc['both']:.3f}"),
    ]
    _print_checks(checks)
    return {"rows": rows, "attributes": {k: v[0] for k, v in table.items()}}


def super_resolution(n: int, catalog_n: int) -> dict:
    """Both super-resolution models against bicubic up-sampling, each on its test split."""
    fashion_data = load_dataset("fashion-mnist", "test", limit=n)
    catalog_data = load_dataset("catalog", "test", mode="quick", limit=catalog_n, size=32)
    return {name: _sr_rows(name, data, model, classifier, attr) for name, data, model, classifier, attr in (
        ("Fashion-MNIST, 14x14 -> 28x28", fashion_data, "fashion-sr", "fashion-classifier", "label"),
        ("catalogue, 16x16 -> 32x32", catalog_data, "catalog-sr", "catalog-classifier", "category"))}


def _sr_rows(title: str, data, model_name: str, classifier: str, attr: str) -> dict:
    print(f"\n== Super-resolution, {title}, the first {len(data)} test images ==")
    x = data.float_images()
    labels = data.labels
    size = x.shape[-1]
    low, _ = sr_input(x, 2)
    model = load_repair_model(model_name)
    ext = FeatureExtractor.shipped(classifier)
    everything = torch.ones(len(x), 1, size, size)
    rows = R.compare_repairs({"bicubic": bicubic(low, size), "pix2pix SR": model.upscale(low)}, x, everything, ext,
                             labels, attr)
    rows.pop("damaged")
    print(R.format_table(rows, ("psnr", "ssim", "l1", "edge", "fid", "accuracy")))
    s, b = rows["pix2pix SR"], rows["bicubic"]
    _print_checks([("SR PSNR above bicubic", s["psnr"] > b["psnr"], f"{s['psnr']:.2f} vs {b['psnr']:.2f}"),
                   ("SR classifier accuracy above bicubic", s["accuracy"] > b["accuracy"],
                    f"{s['accuracy']:.4f} vs {b['accuracy']:.4f}")])
    return rows


def _print_checks(checks) -> None:
    for name, ok, detail in checks:
        print(f"  [{'met' if ok else 'MISSED'}] {name}: {detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="Fashion-MNIST test images (default 1000)")
    parser.add_argument("--catalog-n", type=int, default=600, help="catalogue test images (default 600)")
    parser.add_argument("--only", choices=("fashion", "catalog", "sr"), help="run one section")
    args = parser.parse_args()
    torch.manual_seed(0)
    t0 = time.time()
    if args.only in (None, "fashion"):
        fashion(args.n)
    if args.only in (None, "catalog"):
        catalog(args.catalog_n)
    if args.only in (None, "sr"):
        super_resolution(args.n, args.catalog_n)
    print("\nReference (different data): Context Encoders, Paris StreetView, quarter-area centre hole: "
          "hole PSNR about 18.6 dB (Pathak et al. 2016).")
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
