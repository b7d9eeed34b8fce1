"""``pgan train``: run one of the kit's recipes."""
from __future__ import annotations

import argparse

from ..recipes import all_recipes, run_recipe
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
    train.set_defaults(func=train_command)


def train_command(args: argparse.Namespace) -> int:
    if args.list or not args.recipe:
        for name, r in sorted(all_recipes().items()):
            print(f"{name:22s} {r.summary}")
        return 0 if args.list else 2
    overrides: dict[str, int] = {}
    if args.resume and args.force:
        raise UserError("give --resume (continue the run) or --force (start over), not both")
    if args.steps is not None:
        overrides["max_steps"] = args.steps
    if args.seed is not None:
        overrides["seed"] = args.seed
    run_recipe(args.recipe, mode=args.mode, out=args.out, resume=args.resume, device=args.device, overrides=overrides,
               force=args.force)
    return 0
