"""The watermark's targets on test images: invisibility, robustness, false detections, and its limits.

    python benchmarks/watermark.py                      # 500 test images of each source (a few minutes on one core)
    python benchmarks/watermark.py --n 200 --json runs/watermark.json

For Fashion-MNIST (28x28 grey) and the colour catalogue (32x32), on the *test* split
(the scheme's settings were chosen on validation images), each image gets its own random
32-bit payload. Rows:

- PSNR of the marked image (target: >= 38 dB; mean and the worst image);
- bit accuracy clean, after JPEG q75, after 2x bilinear down-then-up, after Gaussian noise
  sigma = 0.01 (targets: >= 99% clean, >= 90% after each);
- detection of the payload (>= 24 of 32 bits match) and false detections on the unmarked
  originals against the same payloads (target: < 1%);
- blind "is there any mark" by the lattice fit, threshold at 1% false positives on unmarked
  *validation* images, measured on unmarked test images;
- its limits: PGD removal (the payload no longer detected) and PGD forgery (a payload
  written onto unmarked real photos) at small L-inf budgets.
"""
from __future__ import annotations

import argparse
import os

import torch

from pgan_lib.cli.common import machine_line, write_json


def run_source(source: str, n: int, n_attack: int, rows: list[dict]) -> None:
    from pgan_lib import watermark as wm
    from pgan_lib.data import load_dataset

    test = load_dataset(source, "test", limit=n).float_images()
    val = load_dataset(source, "val", limit=n).float_images()
    cfg = wm.WatermarkConfig.for_size(test.shape[-1])
    gen = torch.Generator().manual_seed(0)
    bits = torch.randint(0, 2, (len(test), 32), generator=gen)
    marked = wm.embed(test, bits, cfg)
    name = f"{source} {test.shape[1]}x{test.shape[-1]}x{test.shape[-1]}"

    def add(metric: str, value: float, target: str = "", met: bool | None = None, fmt: str = "{:.2%}") -> None:
        rows.append({"source": name, "metric": metric, "value": value, "target": target, "met": met, "n": len(test)})
        flag = "" if met is None else ("  OK" if met else "  MISSED")
        print(f"  {metric:<52s} {fmt.format(value):>9s}  {target}{flag}", flush=True)

    print(f"{name}: {len(test)} test images, settings {cfg}")
    p = wm.psnr(marked, test)
    add("PSNR mean (dB)", float(p.mean()), ">= 38", bool(p.mean() >= 38), "{:.2f}")
    add("PSNR worst image (dB)", float(p.min()), "", None, "{:.2f}")
    fit_threshold = float(torch.quantile(wm.decode(val, cfg).fit, 0.99))
    for attack, f in wm.ATTACKS.items():
        d = wm.decode(f(marked), cfg)
        acc = float(wm.bit_accuracy(d.bits, bits).mean())
        target = ">= 99%" if attack == "clean" else ">= 90%"
        add(f"bit accuracy, {attack}", acc, target, acc >= (0.99 if attack == "clean" else 0.90))
        add(f"  payload detected (>= {cfg.match_threshold}/32 bits), {attack}",
            float((wm.bit_accuracy(d.bits, bits) * 32 >= cfg.match_threshold).float().mean()))
        add(f"  any mark (fit > {fit_threshold:.3f}), {attack}", float((d.fit > fit_threshold).float().mean()))
    false = wm.matches(test, bits, cfg).float().mean()
    add("false payload detections on unmarked originals", float(false), "< 1%", bool(false < 0.01))
    add(f"  (theory for {cfg.match_threshold}/32 matching coin flips)", wm.false_match_rate(cfg.match_threshold), "", None,
        "{:.3%}")
    blind_false = (wm.decode(test, cfg).fit > fit_threshold).float().mean()
    add("false 'any mark' detections on unmarked test images", float(blind_false), "~1% by construction", None)

    # the limits: PGD with the decoder's own math (white box)
    xa, ba = marked[:n_attack], bits[:n_attack]
    for eps in (2 / 255, 4 / 255):
        removed = wm.remove_pgd(xa, ba, eps=eps, config=cfg)
        still = wm.matches(removed, ba, cfg).float().mean()
        add(f"PGD removal L-inf {eps * 255:.0f}/255: payload still detected", float(still))
        add("  PSNR of the attacked image vs marked (dB)", float(wm.psnr(removed, xa).mean()), "", None, "{:.2f}")
    real = test[n_attack:2 * n_attack]
    target_bits = wm.payload_bits(wm.model_id_of("fashion-cgan"), 7)
    for eps in (2 / 255, 4 / 255):
        forged = wm.forge_pgd(real, target_bits, eps=eps, config=cfg)
        ok = wm.matches(forged, target_bits, cfg).float().mean()
        add(f"PGD forgery L-inf {eps * 255:.0f}/255 onto real photos: payload detected", float(ok))
        ok_jpeg = wm.matches(wm.jpeg(forged), target_bits, cfg).float().mean()
        add("  ... and still after JPEG q75", float(ok_jpeg))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=500, help="test images of each source (default 500)")
    p.add_argument("--n-attack", type=int, default=100, help="images for the PGD removal and forgery rows")
    p.add_argument("--sources", nargs="*", default=["fashion-mnist", "catalog"])
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("PGAN_THREADS", "1")))
    print(f"machine: {machine_line()}", flush=True)
    rows: list[dict] = []
    for source in args.sources:
        run_source(source, args.n, args.n_attack, rows)
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
