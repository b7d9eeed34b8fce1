"""The real-vs-generated detectors: the training generator, generators they never saw, JPEG and blur, PGD.

    python benchmarks/detector.py                       # the shipped detectors (a few minutes on one core)
    python benchmarks/detector.py --train               # train the CNN first, as shipped (runs/detector-<setup>/)
    python benchmarks/detector.py --n 500 --json runs/detector.json

For each setup (``fashion``: 28x28 grey, trained on fashion-cgan samples vs Fashion-MNIST photos;
``catalog``: 32x32 colour, trained on catalog-t2i samples vs catalogue renders) and each detector
(the CNN and the DCT logistic-regression baseline, both fitted on the same training set):

- AP and balanced accuracy on the test photos vs fresh samples of the training generator
  (target: AP >= 0.99) and of each generator it never saw;
- accuracy at logit 0 (p = 0.5, the training threshold) and at the threshold chosen on
  held-out generators (never the test generators);
- the same after JPEG q75 and after a Gaussian blur (radius 0.6) of both photos and samples;
- PGD on the CNN: the fraction of the training generator's test samples still flagged after an
  L-inf attack that lowers the detector's score.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from pgan_lib.cli.common import machine_line, write_json


def run_setup(setup: str, args, rows: list[dict]) -> None:
    from pgan_lib import pretrained
    from pgan_lib.eval import detection as D
    from pgan_lib.models.detector import FrequencyDetector
    from pgan_lib.watermark import blur, jpeg

    s = D.SETUPS[setup]
    name = f"detector-{setup}"
    if args.train or not pretrained.available(name):
        print(f"{name}: training the CNN ({args.steps} steps)", flush=True)
        cnn, train, _ = D.train_detector(setup, steps=args.steps, out=Path("runs") / name, progress=False)
        D.calibrate(cnn, setup)
    else:
        cnn = pretrained.load(name)
        train, _ = D.detector_data(setup)
    freq = FrequencyDetector(train.size).fit(train.images, train.labels)
    freq_thr, _ = 0.0, ""
    # the baseline's threshold is chosen the same way as the CNN's: on held-out generators
    real_val = D.load_dataset(s["source"], "val", limit=500, size=s["size"])
    gens = s["calibration"] or (s["train_generator"],)
    fakes = torch.cat([D.generator_samples(g, 500 // len(gens), real_val, seed=100) for g in gens])
    sc = torch.cat([freq.scores(real_val.images), freq.scores(fakes)])
    lab = torch.cat([torch.zeros(len(real_val), dtype=torch.long), torch.ones(len(fakes), dtype=torch.long)])
    freq_thr = D.choose_threshold(sc, lab)
    print(f"{setup}: CNN threshold {cnn.config.threshold:.3f} ({cnn.config.calibrated_on}); "
          f"DCT baseline threshold {freq_thr:.3f}", flush=True)
    transforms = {"as generated": lambda x: x, "JPEG q75": D.uint8_transform(jpeg),
                  "blur r=0.6": D.uint8_transform(lambda x: blur(x, 0.6))}
    table = D.generalisation_table({"CNN": cnn.scores, "DCT-LR": freq.scores},
                                   {"CNN": cnn.config.threshold, "DCT-LR": freq_thr},
                                   setup, n=args.n, transforms=transforms)
    print(D.format_table(table), flush=True)
    for r in table:
        rows.append({"setup": setup, **r})
    train_ap = next(r["AP"] for r in table if r["detector"] == "CNN" and r["role"] == "training"
                    and r["transform"] == "as generated")
    print(f"target: CNN AP >= 0.99 on the training generator's test samples: {train_ap:.4f} "
          f"{'OK' if train_ap >= 0.99 else 'MISSED'}", flush=True)
    real = D.load_dataset(s["source"], "test", limit=args.n_attack, size=s["size"])
    fake = D.generator_samples(s["train_generator"], args.n_attack, real, seed=300)
    before = D.rates(cnn.scores(fake), cnn.config.threshold)
    for eps in (1 / 255, 2 / 255, 4 / 255):
        adv = D.attack_detector(cnn, fake, eps, steps=20)
        after = D.rates(cnn.scores(adv), cnn.config.threshold)
        print(f"PGD-20 L-inf {eps * 255:.0f}/255 on {args.n_attack} {s['train_generator']} samples: flagged "
              f"{before:.1%} before, {after:.1%} after", flush=True)
        rows.append({"setup": setup, "detector": "CNN", "attack": f"PGD-20 linf {eps * 255:.0f}/255",
                     "flagged_before": before, "flagged_after": after, "n": args.n_attack})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setups", nargs="*", default=["fashion", "catalog"], choices=("fashion", "catalog"))
    p.add_argument("--n", type=int, default=1000, help="test photos (and samples of each generator)")
    p.add_argument("--n-attack", type=int, default=200, help="samples attacked with PGD")
    p.add_argument("--train", action="store_true", help="train the CNN instead of loading the shipped one")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the setup's, as shipped)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("PGAN_THREADS", "1")))
    print(f"machine: {machine_line()}", flush=True)
    rows: list[dict] = []
    for setup in args.setups:
        run_setup(setup, args, rows)
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
