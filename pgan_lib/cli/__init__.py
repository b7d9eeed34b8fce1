"""The ``pgan`` command line: data, train, sample, generate, eval, attack, inspect, detect.

Each group of commands lives in its own module of this package with a
``register(subparsers)`` function; this file only gathers them and turns
user-caused failures into one ``pgan COMMAND: error: ...`` line (exit code 2).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..checkpoint import CheckpointError
from ..data.fashion_mnist import FashionMNISTNotFound
from .common import UserError

#: The command groups, one module each.
COMMAND_MODULES = ("data", "train", "sample", "eval", "attack", "responsible")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgan", description="pgan-kit: product image generation from the command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, CheckpointError, FashionMNISTNotFound, FileNotFoundError, ValueError, KeyError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"pgan {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pgan {args.command}: interrupted", file=sys.stderr)
        return 130


__all__ = ["COMMAND_MODULES", "UserError", "build_parser", "main"]
