"""``pgan attack``: clean and robust accuracy of a product classifier under one attack."""
from __future__ import annotations

import argparse

from ..attacks import Attack, robust_accuracy
from ..data import load_dataset
from ..models.classifier import Classifier
from .common import UserError, add_model_args, batch_size_arg, int_arg, output_path, resolve_model, seed_arg, write_json


def register(sub) -> None:
    at = sub.add_parser(
        "attack", help="clean and robust accuracy of a classifier under FGSM or PGD",
        description="Attack a classifier on the Fashion-MNIST test split and print its clean and robust "
                    "accuracy, with every setting of the attack. Example: "
                    "pgan attack --model fashion-classifier-robust --attack pgd --eps 0.1 --steps 20 --restarts 1")
    add_model_args(at)
    at.add_argument("--attack", choices=("fgsm", "pgd"), default="pgd", help="default: pgd")
    at.add_argument("--norm", choices=("linf", "l2"), default="linf", help="the budget's norm (default: linf)")
    at.add_argument("--eps", type=float, default=0.1, help="budget, pixels in [0, 1] (default: 0.1)")
    at.add_argument("--steps", type=int_arg(1, 100_000), default=20, help="PGD steps (default: 20)")
    at.add_argument("--step-size", type=float, default=None,
                    help="step size (default: 2.5 * eps / steps for PGD, eps for FGSM)")
    at.add_argument("--restarts", type=int_arg(1, 1000), default=1, help="PGD random restarts (default: 1)")
    at.add_argument("--loss", choices=("ce", "margin"), default="ce", help="the loss the attack climbs (default: ce)")
    at.add_argument("--random-start", choices=("auto", "on", "off"), default="auto",
                    help="auto: on for PGD, off for FGSM")
    at.add_argument("--n", type=int_arg(1, 10_000), default=None, help="test images to attack (default: all 10,000)")
    at.add_argument("--seed", type=seed_arg, default=0, help="seed of the random starts (default: 0)")
    at.add_argument("--batch-size", type=batch_size_arg, default=500)
    at.add_argument("--json", default=None, help="also write the results to this JSON file")
    at.set_defaults(func=attack_command)


def _load_classifier(args: argparse.Namespace) -> tuple[Classifier, str]:
    try:
        model, where = resolve_model(args)
    except KeyError as err:
        raise UserError(err.args[0]) from None
    if not isinstance(model, Classifier):
        raise UserError(f"{where} is not a classifier (architecture {model.arch!r})")
    if (model.config.channels, model.config.size) != (1, 28):
        raise UserError(f"{where} is not a Fashion-MNIST classifier (it takes {model.config.channels}x{model.config.size}"
                        f"x{model.config.size} images)")
    return model, where


def attack_command(args: argparse.Namespace) -> int:
    if args.json:
        output_path(args.json, "JSON file")
    if not args.eps >= 0:
        raise UserError(f"--eps must be >= 0, got {args.eps}")
    if args.steps < 1 or args.restarts < 1:
        raise UserError("--steps and --restarts must be at least 1")
    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.step_size is not None and not args.step_size > 0:
        raise UserError(f"--step-size must be > 0, got {args.step_size}")
    random_init = None if args.random_start == "auto" else args.random_start == "on"
    attack = Attack(args.attack, eps=args.eps, norm=args.norm, steps=args.steps, step_size=args.step_size,
                    restarts=args.restarts, random_init=random_init, loss=args.loss, seed=args.seed)
    model, where = _load_classifier(args)
    test = load_dataset("fashion-mnist", "test", limit=args.n if args.n is not None else False)
    print(f"model:  {where}")
    print(f"data:   fashion-mnist test split, {len(test)} images" + (" (a fixed random subset)" if len(test) < 10000 else ""))
    print(f"attack: {attack.describe()}")
    report = robust_accuracy(model, test.float_images(), test.labels, attack, batch_size=args.batch_size, progress=True)
    print(f"clean accuracy:  {report.clean_acc:.2%}")
    print(f"robust accuracy: {report.robust_acc:.2%}   ({report.seconds:.1f} s; mean perturbation "
          f"L-inf {report.mean_linf:.4f}, L2 {report.mean_l2:.3f})")
    if args.json:
        write_json(args.json, {"model": where, "data": f"fashion-mnist:test ({len(test)} images)", **report.as_dict()})
    return 0
