"""The ``pgan`` command line: data, train, sample, generate, eval, attack.

Each group of commands lives in its own ``cli_*.py`` module with a
``register(subparsers)`` function; this file only gathers them.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("cli_data", "cli_train", "cli_eval", "cli_attack")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgan", description="pgan-kit: product image generation from the command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"pgan_lib.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"pgan_lib.{name}":
                raise
            continue
        module.register(sub)
    return parser


class UserError(Exception):
    """An error caused by the input; printed as one clear message, without a traceback."""


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .data.fashion_mnist import FashionMNISTNotFound

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


if __name__ == "__main__":
    sys.exit(main())
