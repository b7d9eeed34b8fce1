"""Progressive growing vs a fixed-resolution GAN at 64x64, and minibatch stddev on vs off.

Three runs on the 64x64 colour catalogue, one after the other (one training job at a time):

  progan          progan-catalog64's model, ``--phase-images`` images per phase (9 phases)
  progan-no-mbstd the same without the minibatch standard deviation feature
  control         cgan-catalog64's model (the kit's DCGAN at 64x64, same loss, same batch), trained to
                  the same number of images shown, measured, then resumed (exactly) until it has used
                  the progressive run's wall-clock time, and measured again

Each generator draws ``--n`` samples (categories cycling through the six) scored in the
features of the shipped ``catalog64-classifier`` against the 64x64 test split of the run mode's catalogue
(``PGAN_MODE``; quick, the default: 600 images; the count is printed as ``real_images``): FID,
category accuracy (by that classifier; '-' for an unconditional generator), ``cat_min`` (the rarest
category's share of the samples times six: 1 when every category is drawn equally often, 0 when one is
never drawn), precision / recall / density / coverage (k = 5).
Wall-clock times are of a shared machine (the load average is printed with each run):
upper bounds, and the equal-wall-clock row inherits their noise.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/progan_compare.py --phase-images 2500
    python benchmarks/progan_compare.py --table-only --publish   # print the table; copy the results to
                                                                 # benchmarks/progan_compare.json (read by notebook 10)

``--measure RUN ...`` scores finished run folders instead (e.g. the full recipes, ``pgan train
progan-catalog64 --mode full`` and ``progan-catalog64-no-mbstd``) with as many samples as real test
images (``--n 0``, the default there): with k-NN balls, a set of 2,000 samples against 600 real images
has smaller balls than the real set, which lowers recall and raises precision, so equal sizes compare
fairly. They are kept under ``"measured"`` in the results.

    PGAN_MODE=full OMP_NUM_THREADS=1 python benchmarks/progan_compare.py --measure \
        runs/progan-catalog64-full runs/progan-catalog64-no-mbstd-full --out runs/progan-full
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

import torch

from pgan_lib.cli.common import machine_line
from pgan_lib.data import load_dataset
from pgan_lib.eval import evaluate_generator
from pgan_lib.eval.features import shipped_extractor
from pgan_lib.eval.report import format_rows
from pgan_lib.models.base import GeneratorModel, load_model
from pgan_lib.models.gan import GAN
from pgan_lib.models.progan import ProGAN
from pgan_lib.recipes.progan import BATCH, CONTROL, CONTROL_LR, FEATURE_MODEL, PROGAN_LR, progan_config
from pgan_lib.train import TrainConfig, Trainer, data_fingerprint

PUBLISHED = Path(__file__).with_suffix(".json")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def train(model, data, out: Path, steps: int, lr: float, recipe: str, resume: bool = False) -> dict:
    """Train (or continue) a run to ``steps``; returns its steps, seconds and the load average around it."""
    before = _load()
    cfg = TrainConfig(max_steps=steps, batch_size=BATCH, lr=lr, seed=0, log_every=50, val_every=10**6,
                      checkpoint_every=max(1, steps // 4), tensorboard=False, progress=True)
    torch.manual_seed(0)
    result = Trainer(cfg, out, data_fingerprint=data_fingerprint(data), recipe=recipe).fit(model, data, resume=resume)
    return {"steps": result.steps, "seconds": round(result.seconds, 1), "load_before": before, "load_after": _load()}


def measure(model: GeneratorModel, n: int) -> dict[str, float]:
    """FID, category accuracy and precision/recall/density/coverage of n samples against the 64x64 test split
    (of the run mode's catalogue: the same real images for every run of one comparison); n = 0: as many
    samples as real images."""
    r = evaluate_generator(model, n or None, "catalog", extractor=shipped_extractor(FEATURE_MODEL), k=5)
    out = {key: r[key] for key in ("fid", "precision", "recall", "density", "coverage")}
    if "conditional_accuracy" in r:
        out["cat_acc"] = r["conditional_accuracy"]
    out["cat_min"] = r["class_balance"]
    out["real_images"] = float(r["n_real"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phase-images", type=int, default=2000, help="images shown in each of the 9 growing phases")
    ap.add_argument("--n", type=int, default=2000, help="samples per generator")
    ap.add_argument("--out", default="runs/progan-compare", help="folder of the runs and results.json")
    ap.add_argument("--table-only", action="store_true", help="print the table from results.json")
    ap.add_argument("--publish", action="store_true", help=f"copy the results to {PUBLISHED.name} (notebook 10 reads it)")
    ap.add_argument("--skip-equal-time", action="store_true", help="leave out the equal-wall-clock control run")
    ap.add_argument("--measure", nargs="+", metavar="RUN", help="score these finished run folders (their last checkpoint)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.out)
    results_path = out / "results.json"
    results: dict = json.loads(results_path.read_text()) if results_path.exists() else {}

    def save() -> None:
        out.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=1))

    if args.measure:
        n = 0 if args.n == ap.get_default("n") else args.n
        for run in args.measure:
            results.setdefault("measured", {})[Path(run).name] = measure_run(Path(run), n)
            save()
    elif not args.table_only:
        data = load_dataset("catalog", "train", mode="full", size=64)
        k = data.num_classes
        pcfg = progan_config(k, args.phase_images, BATCH)
        images = pcfg.schedule.total_images()
        results["setup"] = {"machine": machine_line(), "phase_images": args.phase_images, "images_shown": images, "batch": BATCH,
                            "samples": args.n, "threads": torch.get_num_threads(), "feature_model": FEATURE_MODEL}

        def progressive(name: str, mbstd: bool) -> None:
            if name in results:
                return
            torch.manual_seed(0)
            model = ProGAN(progan_config(k, args.phase_images, BATCH, minibatch_stddev=mbstd))
            run = train(model, data, out / name, pcfg.schedule.steps_total(), PROGAN_LR, "progan-catalog64"
                        + ("" if mbstd else "-no-mbstd"))
            run["params_g"] = sum(p.numel() for p in model.generator.parameters())
            results[name] = {**run, "images": int(model.images_shown), **measure(model, args.n)}
            save()

        # order: the main comparison first, then the ablation, then the (longest) equal-wall-clock extension
        progressive("progan", True)
        if "control-equal-images" not in results:
            torch.manual_seed(0)
            model = GAN(replace(CONTROL, num_classes=k))
            steps = images // BATCH
            run = train(model, data, out / "control", steps, CONTROL_LR, "cgan-catalog64")
            run["params_g"] = sum(p.numel() for p in model.generator.parameters())
            results["control-equal-images"] = {**run, "images": steps * BATCH, **measure(model, args.n)}
            save()
        progressive("progan-no-mbstd", False)
        if "control-equal-time" not in results and not args.skip_equal_time:
            first = results["control-equal-images"]
            per_step = first["seconds"] / first["steps"]
            steps = max(first["steps"], round(results["progan"]["seconds"] / per_step))
            torch.manual_seed(0)
            model = GAN(replace(CONTROL, num_classes=k))
            run = train(model, data, out / "control", steps, CONTROL_LR, "cgan-catalog64", resume=True)
            results["control-equal-time"] = {**run, "images": steps * BATCH, **measure(model, args.n)}
            save()
    print_table(results)
    if args.publish:
        PUBLISHED.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {PUBLISHED}")


def measure_run(run: Path, n: int) -> dict:
    """Scores of a finished run's last checkpoint, with its images shown and its training time."""
    model = load_model(run / "last")
    meta = json.loads((run / "last.json").read_text())
    out = {"run": str(run), "mode": os.environ.get("PGAN_MODE", "quick"), "steps": meta.get("step"),
           "seconds": meta.get("seconds"), "validation_seconds": meta.get("validation_seconds"),
           "images": int(getattr(model, "images_shown", 0)),
           "params_g": sum(p.numel() for p in model.generator.parameters())}
    out.update(measure(model, n))
    out["samples"] = out["real_images"] if n == 0 else float(n)
    return out


def print_table(results: dict) -> None:
    s = results.get("setup", {})
    if s:
        print(f"64x64 catalogue, {s.get('phase_images')} images per growing phase ({s.get('images_shown')} shown), batch "
              f"{s.get('batch')}, {s.get('samples')} samples per generator, features {s.get('feature_model')}, "
              f"{s.get('threads')} thread(s)")
    cols = ("images", "steps", "seconds", "fid", "cat_acc", "cat_min", "precision", "recall", "density", "coverage")
    names = [n for n in ("progan", "progan-no-mbstd", "control-equal-images", "control-equal-time") if n in results]
    measured = results.get("measured", {})
    rows = {**{n: results[n] for n in names}, **measured}
    notes = {n: f"load average {results[n].get('load_before')} -> {results[n].get('load_after')}" for n in names}
    notes.update({n: f"({r['mode']} test split, {r['samples']:.0f} samples for {r['real_images']:.0f} real images)"
                  for n, r in measured.items()})
    print(format_rows(rows, cols, notes=notes))
    if "progan" in results and "control-equal-images" in results:
        p, c = results["progan"]["fid"], results["control-equal-images"]["fid"]
        print(f"FID, progressive vs fixed at equal images: {p:.2f} vs {c:.2f} ({100 * (c - p) / c:+.1f}% lower; target >= 10%)")
    if "progan" in results and "progan-no-mbstd" in results:
        a, b = results["progan"], results["progan-no-mbstd"]
        print(f"minibatch stddev on vs off: recall {a['recall']:.3f} vs {b['recall']:.3f}, "
              f"coverage {a['coverage']:.3f} vs {b['coverage']:.3f}")


if __name__ == "__main__":
    main()
