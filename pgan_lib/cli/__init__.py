"""The ``pgan`` command line: data, train, sample, generate, eval, attack, inspect, detect, course, doctor.

Each group of commands lives in its own module of this package with a
``register(subparsers)`` function; this file only gathers them and owns the one
error path: every failure the user or the machine causes (a wrong argument, a
device this machine lacks, a bad file, a full disk, a read-only folder, a run folder
in use) becomes one ``pgan COMMAND: error: ...`` line on stderr that says the fix,
with exit code 2. Names in it are escaped (``safe_text``). Anything else is a bug of
the kit and keeps its traceback.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import sys
from typing import NoReturn

import torch

from ..checkpoint import CheckpointError
from ..data.fashion_mnist import FashionMNISTNotFound
from ..safety import PathError, PromptsFileError, safe_text
from ..train import RunLockedError
from .common import UserError

#: The command groups, one module each.
COMMAND_MODULES = ("data", "train", "sample", "eval", "attack", "repair", "responsible", "course", "doctor")

#: What to do about an operating-system error, by its number.
_OS_FIXES = {
    errno.ENOSPC: "free some disk space or write somewhere else",
    errno.EDQUOT: "free some space in your quota or write somewhere else",
    errno.EROFS: "that file system is read-only: write to a folder you own (e.g. under your home folder)",
    errno.EACCES: "you may not write there: choose a folder you own",
    errno.EPERM: "you may not write there: choose a folder you own",
    errno.ENOTDIR: "a part of that path is a file, not a folder: choose another path",
    errno.EISDIR: "that is a folder: give a file name",
    errno.ENOENT: "check the path",
    errno.ENAMETOOLONG: "use a shorter path",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``pgan COMMAND: error: ...`` and exit code 2, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {safe_text(message, 600)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pgan", description="pgan-kit: product image generation from the command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def error_message(err: BaseException) -> str | None:
    """The one-line message for a failure the user or the machine caused; None for a bug of the kit."""
    if isinstance(err, KeyError):
        return str(err.args[0]) if err.args else "unknown name"
    if isinstance(err, MemoryError) and not str(err):
        return "out of memory; use a smaller --n or --batch-size"
    if isinstance(err, (UserError, CheckpointError, FashionMNISTNotFound, PromptsFileError, RunLockedError, PathError,
                        MemoryError, ValueError)):
        return str(err) or type(err).__name__
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        fix = _OS_FIXES.get(err.errno or -1, "check the path and the disk")
        return f"{where}{err.strerror or err} ({fix})"
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return "the device ran out of memory; use a smaller --batch-size or --n, or --device cpu"
    return None


def _one_line(text: str) -> str:
    """Every line of a message escaped; the first one carries the prefix, the rest are indented."""
    lines = [safe_text(line, 2000) for line in text.splitlines()] or [""]
    return "\n  ".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one ``pgan`` command; returns its exit code (2 for a wrong argument, as for every user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:      # --help, or a wrong argument already reported in one line
        return done.code if isinstance(done.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"pgan {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        message = error_message(err)
        if message is None:
            raise
        print(f"pgan {args.command}: error: {_one_line(message)}", file=sys.stderr)
        return 2


__all__ = ["COMMAND_MODULES", "UserError", "build_parser", "error_message", "main"]
