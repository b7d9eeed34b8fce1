"""Data-parallel speed-up: the kit's trainer in 1 process vs N processes (torchrun) on the same global batch.

    python benchmarks/ddp_speed.py                          # CPU: 1 process x 2 threads vs 2 processes x 1 thread
    python benchmarks/ddp_speed.py --nproc 2 --steps 100 --batch-size 128 --json runs/bench/ddp.json

Each run trains the ``cgan-fashion`` model for ``--steps`` steps (global batch ``--batch-size``;
under N processes each takes batch / N items), no validation, one final checkpoint, and
reports images per second of training time after the process group is up. On a CPU the
processes share the cores the single process would use, so expect little: the gradient
all-reduce (gloo) and the global BatchNorm statistics cost time that more cores would
have to pay back. Timings on a shared machine are upper bounds; the load average is
printed with them.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def worker(args: argparse.Namespace) -> None:
    import torch

    from pgan_lib.config import get_mode
    from pgan_lib.data import load_dataset
    from pgan_lib.recipes import get_recipe
    from pgan_lib.train import Trainer

    recipe = get_recipe("cgan-fashion")
    settings = get_mode(args.mode)
    data = load_dataset(recipe.source, "train", mode=settings.name)
    cfg = replace(recipe.train_config(settings.name), max_steps=args.steps, batch_size=args.batch_size,
                  early_stop_metric=None, val_every=10**9, checkpoint_every=10**9, tensorboard=False, progress=False)
    torch.manual_seed(cfg.seed)
    model = recipe.build(data, settings)
    model.judges = []
    marks: dict[int, float] = {}
    after = model.after_step

    def timed_after_step(step: int) -> None:   # the clock runs from the end of the warm-up to the last step
        after(step)
        if step in (args.warmup, args.steps):
            marks[step] = time.perf_counter()

    model.after_step = timed_after_step  # type: ignore[method-assign]
    trainer = Trainer(cfg, args.out, device=args.device)
    result = trainer.fit(model, data, None, force=True)
    seconds = marks[args.steps] - marks[args.warmup]
    if os.environ.get("RANK", "0") == "0":
        print("RESULT " + json.dumps({"steps": result.steps - args.warmup, "seconds": seconds,
                                      "img_per_s": (result.steps - args.warmup) * args.batch_size / seconds,
                                      "threads": torch.get_num_threads()}), flush=True)


def launch(nproc: int, args: argparse.Namespace, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    common = [str(Path(__file__).resolve()), "--worker", "--out", str(out), "--steps", str(args.steps),
              "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--mode", args.mode, "--device", args.device]
    if nproc == 1:
        env["OMP_NUM_THREADS"] = str(args.threads)
        cmd = [sys.executable, *common]
    else:
        env["OMP_NUM_THREADS"] = str(max(1, args.threads // nproc))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *common]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5, help="steps before the clock starts")
    p.add_argument("--batch-size", type=int, default=64, help="the global batch")
    p.add_argument("--threads", type=int, default=2, help="CPU threads in all (split among the processes)")
    p.add_argument("--mode", default="full", choices=("quick", "full"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not 0 < args.warmup < args.steps:
        p.error(f"--warmup {args.warmup} must be between 0 and --steps {args.steps}")
    if args.worker:
        worker(args)
        return 0
    from pgan_lib.cli.common import machine_line, write_json

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, args.nproc):
            before = machine_line()
            r = launch(n, args, Path(tmp) / f"n{n}")
            rows.append({"processes": n, **r, "load_before": before.split("load ")[-1],
                         "load_after": machine_line().split("load ")[-1]})
    print(machine_line())
    print(f"cgan-fashion, global batch {args.batch_size}, {args.steps - args.warmup} timed steps after {args.warmup}, "
          f"{args.threads} threads in all\n")
    print(f"{'processes':>9s} {'threads each':>12s} {'img/s':>8s} {'load':>10s}")
    for r in rows:
        print(f"{r['processes']:9d} {r['threads']:12d} {r['img_per_s']:8.0f} {r['load_before'] + '/' + r['load_after']:>10s}")
    speedup = rows[1]["img_per_s"] / rows[0]["img_per_s"]
    print(f"\n{args.nproc}-process speed-up: {speedup:.2f}x (timings on a shared machine are upper bounds)")
    if args.json:
        write_json(args.json, {"machine": machine_line(), "batch_size": args.batch_size, "steps": args.steps,
                               "runs": rows, "speedup": speedup})
    return 0


if __name__ == "__main__":
    sys.exit(main())
