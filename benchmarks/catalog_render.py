"""Time the catalogue renderer: 50,000 products on one CPU thread, no cache.

Run from the repository root:

    python benchmarks/catalog_render.py          # 32x32
    python benchmarks/catalog_render.py --64     # also 64x64
    python benchmarks/catalog_render.py -n 10000 # fewer images
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pgan_lib.data.catalog import CATEGORIES, COLOURS, PATTERNS, render


def time_render(n: int, size: int, seed: int = 0) -> tuple[float, float]:
    """Wall-clock and CPU seconds to render ``n`` random products at ``size`` x ``size``."""
    rng = np.random.default_rng(seed)
    cat = rng.integers(len(CATEGORIES), size=n)
    col = rng.integers(len(COLOURS), size=n)
    pat = rng.integers(len(PATTERNS), size=n)
    start, start_cpu = time.perf_counter(), time.process_time()
    images = render(cat, col, pat, size=size, seed=seed, threads=1)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    assert images.shape == (n, 3, size, size) and images.dtype == torch.uint8
    return elapsed, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--images", type=int, default=50_000, help="images per size (default 50000)")
    parser.add_argument("--64", dest="with_64", action="store_true", help="also time 64x64 images")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    sizes = [32, 64] if args.with_64 else [32]
    time_render(256, 32)  # warm-up: first calls pay for allocations and lazy setup
    print(f"catalogue render, torch {torch.__version__}, {torch.get_num_threads()} thread")
    # CPU seconds count only this process's own work: on a busy machine they stay
    # close to what an idle core would take, while wall-clock seconds grow.
    print(f"{'images':>8} {'size':>7} {'seconds':>9} {'cpu s':>7} {'images/s':>10}")
    for size in sizes:
        seconds, cpu = time_render(args.images, size)
        print(f"{args.images:>8} {f'{size}x{size}':>7} {seconds:>9.2f} {cpu:>7.2f} {args.images / seconds:>10.0f}")


if __name__ == "__main__":
    main()
