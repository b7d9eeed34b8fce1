"""How long the latent explorer takes from a slider change to a new image, per generator.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/explore_latency.py [--changes 200] [--threads 2]

For every shipped generator, plus untrained stand-ins with the architecture of the
32x32 colour recipes (``vae-catalog``, ``cgan-catalog``; speed does not depend on
the weights), it drives the explorer widget without a browser: sets a slider's
value and waits for the widget's PNG to be replaced. That is the kernel's share of
a slider move (latent -> image -> PNG -> widget value); the browser adds its round
trip on top (the browser test measures it: test-artifacts/browser-latency.json).

Columns: median / 95th percentile / max of the whole update, then the median of
its two parts (sampling the image, encoding the PNG), and the one-off cost of
finding a model's directions (when a model or description is chosen).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from pgan_lib import explore


def stand_ins() -> dict[str, torch.nn.Module]:
    """Untrained models shaped like the 32x32 colour recipes (for timing only)."""
    from pgan_lib.models.vae import VAE, VAEConfig

    models: dict[str, torch.nn.Module] = {
        "vae-catalog (untrained stand-in)": VAE(VAEConfig(channels=3, size=32, latent_dim=16)),
    }
    try:
        from dataclasses import replace

        from pgan_lib.models.gan import GAN
        from pgan_lib.recipes.gan import BASE

        models["cgan-catalog (untrained stand-in)"] = GAN(replace(BASE, channels=3, size=32, cond="label",
                                                                  num_classes=6))
    except (ImportError, AttributeError, TypeError) as err:  # the GAN family is optional here
        print(f"(no GAN stand-in: {err})")
    return models


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def time_model(name: str, changes: int) -> dict[str, float]:
    t = time.perf_counter()
    ex = explore.explorer(name, seed=3)                  # loads the model and finds its directions
    setup = time.perf_counter() - t
    design = ex.design
    totals, samples, pngs = [], [], []
    n = len(ex.sliders)
    for i in range(changes):
        value = round(((i * 7) % 61) / 10 - 3.0, 1)      # -3.0 ... +3.0, never twice the same in a row
        slider = ex.sliders[i % n]
        old = ex.image.value
        t = time.perf_counter()
        slider.value = value if slider.value != value else -value
        totals.append(time.perf_counter() - t)
        assert ex.image.value is not old
        # The two parts, timed separately on the same design.
        design = ex.design
        t = time.perf_counter()
        with explore.one_thread():
            img = explore.render(design)
        samples.append(time.perf_counter() - t)
        t = time.perf_counter()
        explore.png_bytes(img)
        pngs.append(time.perf_counter() - t)
    ms = lambda xs, q: 1000 * statistics.quantiles(xs, n=100)[q - 1] if q < 100 else 1000 * max(xs)
    return {"median": 1000 * statistics.median(totals), "p95": ms(totals, 95), "max": ms(totals, 100),
            "sample": 1000 * statistics.median(samples), "png": 1000 * statistics.median(pngs), "setup": setup,
            "size": int(img.shape[-1]), "channels": int(img.shape[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=200, help="slider changes per model")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as configured)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = explore.generator_names()
    for name, model in stand_ins().items():
        explore.register_model(name, model, dataset="catalog")
        names.append(name)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores visible, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch thread(s), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{args.changes} slider changes per model, explorer driven without a browser\n")
    print("| model | image | slider -> new image: median | p95 | max | sample | PNG | find directions (once) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in dict.fromkeys(names):
        r = time_model(name, args.changes)
        print(f"| {name} | {r['size']}x{r['size']}x{r['channels']} | {r['median']:.1f} ms | {r['p95']:.1f} ms | "
              f"{r['max']:.1f} ms | {r['sample']:.1f} ms | {r['png']:.1f} ms | {r['setup']:.2f} s |")


if __name__ == "__main__":
    main()
