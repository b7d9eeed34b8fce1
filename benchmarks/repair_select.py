"""Choose the adversarial weight of the Fashion-MNIST pix2pix repair on VALIDATION photos.

    python benchmarks/repair_select.py                    # weights 0 (L1 only), 1, 2, 4, 8; 200 steps each
    python benchmarks/repair_select.py --steps 600 --weights 0 4 8 16     # full-length runs (how 8 was chosen)

Each weight trains the ``repair-fashion`` U-Net + PatchGAN (same data, masks, batch, learning
rate and seed as the recipe; ``--steps`` steps with their own cosine schedule: 600 is the
recipe's length, fewer a cheaper proxy, which favours larger weights since the hole PSNR gap to the
L1-only U-Net widens with training) and is measured on ``--n`` validation photos (a fixed subset) (never the test split) with the
centre hole: hole PSNR, edge energy in the hole, FID and accuracy of the fashion-classifier on the
repaired photos.

The rule, fixed before any number was seen: among the weights > 0 whose validation hole PSNR is
within 1 dB of the L1-only U-Net's (weight 0), take the one with the highest classifier accuracy
on the repaired photos; accuracies within 0.005 count as equal and the lower FID decides.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from pgan_lib.cli.common import machine_line
from pgan_lib.data import load_dataset
from pgan_lib.data.masks import centre_box
from pgan_lib.eval import repair as R
from pgan_lib.eval.features import FeatureExtractor
from pgan_lib.recipes import Recipe, get_recipe, register, run_recipe
from pgan_lib.recipes.repair import fashion_repair


def choose(rows: dict[float, dict[str, float]]) -> float:
    """The rule of the module docstring; ``rows`` maps weight -> validation scores (weight 0 = L1 only)."""
    floor = rows[0.0]["hole_psnr"] - 1.0
    ok = [w for w in rows if w > 0 and rows[w]["hole_psnr"] >= floor]
    if not ok:
        raise SystemExit("no adversarial weight keeps the hole PSNR within 1 dB of the L1-only U-Net")
    best_acc = max(rows[w]["accuracy"] for w in ok)
    tied = [w for w in ok if rows[w]["accuracy"] >= best_acc - 0.005]
    return min(tied, key=lambda w: rows[w]["fid"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0, 8.0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--n", type=int, default=1000, help="validation photos measured")
    p.add_argument("--out", default="runs/repair-select")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {machine_line()}", flush=True)
    base = get_recipe("repair-fashion")
    val = load_dataset("fashion-mnist", "val", mode="full").take(args.n)
    x = val.float_images()
    masks = centre_box(len(x), 28)
    extractor = FeatureExtractor.shipped("fashion-classifier")
    rows: dict[float, dict[str, float]] = {}
    for w in sorted(set(args.weights) | {0.0}):
        name = f"repair-fashion-adv{w:g}"
        register(Recipe(name, f"repair-fashion with adversarial weight {w:g}", base.source, fashion_repair(w),
                        base.quick, replace(base.full, max_steps=args.steps, val_every=args.steps,
                                            checkpoint_every=args.steps, tensorboard=False)))
        t0 = time.time()
        model, _ = run_recipe(name, "full", out=Path(args.out) / name, resume=True, device="cpu")
        model.eval()
        with torch.no_grad():
            table = R.compare_repairs({"model": model.repair}, x, masks, extractor,
                                      val.labels, "label")
        rows[w] = {k: table["model"][k] for k in ("hole_psnr", "edge", "fid", "accuracy")}
        rows[w]["seconds"] = time.time() - t0
        print(f"adv {w:g}: {rows[w]}", flush=True)
    ref = R.compare_repairs({}, x, masks, extractor, val.labels, "label")
    print(f"\n{len(x)} validation photos, centre hole; {args.steps} steps per weight")
    print(f"{'adv weight':>10} {'hole PSNR':>10} {'edge':>8} {'FID':>7} {'accuracy':>9} {'seconds':>8}")
    for w, r in rows.items():
        print(f"{w:>10g} {r['hole_psnr']:>10.2f} {r['edge']:>8.4f} {r['fid']:>7.2f} {r['accuracy']:>9.3f} {r['seconds']:>8.0f}")
    print(f"{'original':>10} {'':>10} {ref['original']['edge']:>8.4f} {'':>7} {ref['original']['accuracy']:>9.3f}")
    print(f"{'damaged':>10} {ref['damaged']['hole_psnr']:>10.2f} {ref['damaged']['edge']:>8.4f} "
          f"{ref['damaged']['fid']:>7.2f} {ref['damaged']['accuracy']:>9.3f}")
    print(f"\nchosen by the rule: adversarial weight {choose(rows):g}")


if __name__ == "__main__":
    main()
