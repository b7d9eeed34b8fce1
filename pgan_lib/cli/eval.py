"""``pgan eval``: measure a file of generated samples against real data."""
from __future__ import annotations

import argparse

from ..data.base import SPLITS
from ..eval import evaluate_samples, format_report, load_samples
from .common import UserError, device_arg, int_arg, output_path, write_json


def register(sub) -> None:
    ev = sub.add_parser(
        "eval", help="FID, KID, precision/recall, density/coverage and more for a samples .npz",
        description="Measure generated samples against a real split with the kit's own product classifier "
                    "(not InceptionV3: numbers compare with each other, not with papers).")
    ev.add_argument("--samples", required=True, help=".npz with images uint8 (N,H,W,C), optional labels, prompts")
    ev.add_argument("--dataset", default="fashion-mnist", choices=("fashion-mnist", "catalog"),
                    help="the real data to compare with (default: fashion-mnist)")
    ev.add_argument("--split", default="test", help="the real split (default: test)")
    ev.add_argument("--json", default=None, help="also write the results to this JSON file")
    ev.add_argument("--limit", type=int_arg(2, 10**7), default=None,
                    help="use at most this many real images (default: all)")
    ev.add_argument("--k", type=int_arg(1, 1000), default=5,
                    help="neighbours for precision/recall/density/coverage (default: 5)")
    ev.add_argument("--kid-subsets", type=int_arg(1, 10000), default=50, help="random subsets for KID (default: 50)")
    ev.add_argument("--memorisation", action="store_true",
                    help="also check for near-copies of training images (measures the training split once)")
    ev.add_argument("--mode", choices=("quick", "full"), default=None,
                    help="for the catalog: the catalogue size to compare with (default: $PGAN_MODE or quick)")
    ev.add_argument("--device", default="cpu", type=device_arg, help="cpu, cuda, mps (default: cpu)")
    ev.set_defaults(func=eval_command)


def eval_command(args: argparse.Namespace) -> int:
    splits = SPLITS + (("heldout",) if args.dataset == "catalog" else ())
    if args.split not in splits:
        raise UserError(f"--split {args.split!r}: {args.dataset} has the splits {', '.join(splits)}")
    if args.limit is not None and args.limit < args.k + 1:
        raise UserError(f"--limit must be at least k + 1 = {args.k + 1}, got {args.limit}")
    if args.json:
        output_path(args.json, "JSON file")
    try:
        images, labels, prompts = load_samples(args.samples)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from None
    try:
        result = evaluate_samples(images, dataset=args.dataset, split=args.split, labels=labels, prompts=prompts,
                                  limit=args.limit, k=args.k, kid_subsets=args.kid_subsets,
                                  memorisation=args.memorisation, mode=args.mode, device=args.device)
    except ValueError as err:
        raise UserError(f"{args.samples}: {err}") from None
    result["samples"] = str(args.samples)
    print(format_report(result))
    if args.json:
        write_json(args.json, result)
    return 0
