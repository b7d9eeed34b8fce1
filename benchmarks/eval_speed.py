"""Time ``pgan eval`` on 10,000 samples (real Fashion-MNIST training images, written to an .npz).

Run from the repository root:

    python benchmarks/eval_speed.py              # cold (empty feature cache) and warm runs
    python benchmarks/eval_speed.py -n 2000      # fewer samples
    python benchmarks/eval_speed.py --threads 1  # limit torch's CPU threads

Each run is a fresh ``pgan eval`` process, so start-up, data loading and the
classifier's feature extraction are all counted. The "cold" run starts with an
empty cache folder, as on a fresh clone; the "warm" run finds the real split's
features cached by the cold run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_samples(path: Path, n: int) -> None:
    """``n`` real training images (samples "from a perfect generator") with their labels."""
    from pgan_lib.data import load_dataset

    data = load_dataset("fashion-mnist", "train", limit=False)
    k = min(n, len(data))
    reps = -(-n // k)
    images = data.images[:k].permute(0, 2, 3, 1).numpy()
    np.savez(path, images=np.concatenate([images] * reps)[:n], labels=np.concatenate([data.labels[:k].numpy()] * reps)[:n])


def time_eval(samples: Path, cache: Path, out: Path, threads: int | None) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, all threads) of one ``pgan eval`` process."""
    env = dict(os.environ, PGAN_CACHE_DIR=str(cache))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "pgan_lib.cli", "eval", "--samples", str(samples), "--json", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--samples", type=int, default=10_000, help="number of samples (default 10000)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the eval process")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        samples = tmp / "samples.npz"
        write_samples(samples, args.samples)
        rows = []
        for run in ("cold", "warm"):
            wall, cpu = time_eval(samples, tmp / "cache", tmp / f"{run}.json", args.threads)
            result = json.loads((tmp / f"{run}.json").read_text())
            rows.append((run, wall, cpu, result))
    first = rows[0][3]
    print(f"pgan eval on {args.samples} samples vs {first['n_real']} real test images "
          f"({first['feature_extractor']}), {os.cpu_count()} CPUs, threads={args.threads or 'default'}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'run':6s} {'wall s':>8s} {'cpu s':>7s} {'eval s':>7s} {'FID':>8s} {'KIDx1000':>9s} {'precision':>9s} {'recall':>7s}")
    for run, wall, cpu, r in rows:
        print(f"{run:6s} {wall:8.1f} {cpu:7.1f} {r['seconds']:7.1f} {r['fid']:8.3f} {1000 * r['kid']:9.3f} "
              f"{r['precision']:9.3f} {r['recall']:7.3f}")
    print("wall s: the whole process; cpu s: its user + system time; eval s: evaluate_samples itself")


if __name__ == "__main__":
    main()
