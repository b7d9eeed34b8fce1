"""``pgan train``: run one of the kit's recipes, in one process or data-parallel with ``--nproc N`` (torchrun)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

from ..recipes import all_recipes, get_recipe, run_recipe
from .common import UserError, device_arg, int_arg, seed_arg


def register(sub) -> None:
    train = sub.add_parser("train", help="train a model with one of the kit's recipes")
    train.add_argument("recipe", help="recipe name, e.g. vae-fashion (pgan train --list shows all)", nargs="?")
    train.add_argument("--list", action="store_true", help="list the recipes and exit")
    train.add_argument("--mode", choices=("quick", "full"), default=None, help="run size (default: $PGAN_MODE or quick)")
    train.add_argument("--out", default=None, help="run folder (default: runs/RECIPE-MODE)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the run folder's newest valid checkpoint (last, else best)")
    train.add_argument("--force", action="store_true",
                       help="start over in a run folder that already holds a run (its checkpoints are replaced)")
    train.add_argument("--device", default=None, type=device_arg,
                       help="cpu, cuda, cuda:1, mps (default: best available); checked against this machine")
    train.add_argument("--steps", type=int_arg(1, 10**9), default=None, help="override the number of training steps")
    train.add_argument("--seed", type=seed_arg, default=None, help="override the seed")
    train.add_argument("--batch-size", type=int_arg(1, 2**20), default=None,
                       help="override the (global) batch size; with --nproc N each process takes batch-size / N")
    train.add_argument("--lr-scaling", choices=("none", "sqrt", "linear"), default=None,
                       help="large-batch rule: lr * (batch / 64) ** (0, 1/2, 1)")
    train.add_argument("--warmup-steps", type=int_arg(0, 10**9), default=None, help="linear learning-rate warm-up")
    train.add_argument("--compile", action="store_true", help="torch.compile the networks (falls back with a warning)")
    train.add_argument("--channels-last", action="store_true", help="channels-last memory layout")
    train.add_argument("--amp-cpu", action="store_true", help="bf16 autocast on the CPU")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--nproc", type=int_arg(1, 1024), default=1,
                       help="train data-parallel in N processes (torchrun: nccl between GPUs, gloo on the CPU)")
    train.set_defaults(func=train_command)


def torchrun_command(argv: list[str], nproc: int) -> list[str]:
    """The torchrun command line that runs ``pgan train`` (``argv`` without --nproc) in ``nproc`` processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "pgan_lib.cli", "train", *argv]


def _forwarded(args: argparse.Namespace) -> list[str]:
    """This command's arguments again, for the worker processes."""
    out = [args.recipe]
    for flag in ("mode", "out", "device", "steps", "seed", "batch_size", "lr_scaling", "warmup_steps"):
        value = getattr(args, flag)
        if value is not None:
            out += [f"--{flag.replace('_', '-')}", str(value)]
    for flag in ("resume", "force", "compile", "channels_last", "amp_cpu", "no_progress"):
        if getattr(args, flag):
            out.append(f"--{flag.replace('_', '-')}")
    return out


def train_command(args: argparse.Namespace) -> int:
    if args.list or not args.recipe:
        for name, r in sorted(all_recipes().items()):
            print(f"{name:22s} {r.summary}")
        return 0 if args.list else 2
    if args.resume and args.force:
        raise UserError("give --resume (continue the run) or --force (start over), not both")
    if args.nproc > 1:
        get_recipe(args.recipe)     # an unknown name is reported here, not once per process
        if "WORLD_SIZE" in os.environ:
            raise UserError("--nproc inside a torchrun job: give one or the other")
        cmd = torchrun_command(_forwarded(args), args.nproc)
        print(f"pgan train: starting {args.nproc} processes: torchrun --nproc_per_node {args.nproc} "
              f"-m pgan_lib.cli train {' '.join(_forwarded(args))}", flush=True)
        return subprocess.call(cmd)
    if os.environ.get("RANK", "0") != "0":      # a torchrun worker other than rank 0: rank 0 reports
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of this process
    overrides: dict[str, Any] = {}
    for key, value in (("max_steps", args.steps), ("seed", args.seed), ("batch_size", args.batch_size),
                       ("lr_scaling", args.lr_scaling), ("warmup_steps", args.warmup_steps)):
        if value is not None:
            overrides[key] = value
    for key, flag in (("compile", args.compile), ("channels_last", args.channels_last), ("amp_cpu", args.amp_cpu)):
        if flag:
            overrides[key] = True
    if args.no_progress:
        overrides["progress"] = False
    run_recipe(args.recipe, mode=args.mode, out=args.out, resume=args.resume, device=args.device, overrides=overrides,
               force=args.force)
    return 0
