"""What every ``pgan`` command shares: the user-error type, checked argument types and the model options.

Numbers and devices are checked when the command line is read (``int_arg``,
``seed_arg``, ``device_arg``), output paths before any long work
(``output_path``), so that a wrong value is one ``pgan COMMAND: error: ...`` line
that names the value, the allowed range and the fix.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Callable

import torch

from .. import pretrained
from ..config import DeviceError, check_device
from ..models.base import KitModel, load_model
from ..safety import MAX_SEED, OutputPathError, check_int, safe_text, writable_output


class UserError(Exception):
    """An error caused by the input; printed as one clear message, without a traceback."""


def int_arg(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], refused with the range otherwise."""
    def parse(text: str) -> int:
        try:
            return check_int("the value", text, low, high)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).replace("the value ", "", 1)) from None
    parse.__name__ = "whole number"
    return parse


#: ``--seed``: torch keeps seeds as 64-bit integers.
seed_arg = int_arg(0, MAX_SEED)
#: ``--batch-size``: images per forward pass.
batch_size_arg = int_arg(1, 65536)


def device_arg(text: str) -> str:
    """An argparse type: a device this machine has (cpu, cuda, cuda:1, mps), checked now rather than mid-run."""
    try:
        check_device(text)
    except DeviceError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def output_path(path: str | Path, what: str = "output file") -> Path:
    """``path`` if it can be written (its folder is created); a UserError naming it and the fix otherwise."""
    try:
        return writable_output(path, what)
    except OutputPathError as err:
        raise UserError(str(err)) from None


def shown(text: object, max_len: int = 120) -> str:
    """A user-given name or text as printed: control characters escaped, long text cut with '...'."""
    return safe_text(text, max_len)


def add_model_args(p: argparse.ArgumentParser, device_default: str | None = "cpu") -> None:
    """--checkpoint / --model / --device, the way every command that loads a model takes them."""
    p.add_argument("--checkpoint", default=None, help="a checkpoint (.safetensors/.json pair, or a run folder)")
    p.add_argument("--model", default=None, help="a shipped pretrained model name, e.g. fashion-cgan")
    p.add_argument("--device", default=device_default, type=device_arg,
                   help="cpu, cuda, cuda:1, mps (default: cpu); checked against this machine")


def resolve_model(args: argparse.Namespace) -> tuple[KitModel, str]:
    """The model named by --model (shipped) or --checkpoint (a file or a run folder: its best, else last),
    and a name for it to print."""
    if bool(args.checkpoint) == bool(args.model):
        raise UserError("give exactly one of --checkpoint PATH or --model NAME")
    if args.model:
        return pretrained.load(args.model, device=args.device), args.model
    path = Path(args.checkpoint)
    if path.is_dir():
        path = path / ("best" if (path / "best.json").exists() else "last")
    return load_model(path, device=args.device), shown(path, 300)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as strict, indented JSON (NaN and infinity as null) to ``path``, creating its folder."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(json_ready(obj), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return out


def machine_line() -> str:
    """One line naming the machine a measurement ran on, for benchmark tables and JSON files."""
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    gpu = f", CUDA {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{platform.machine()} {os.cpu_count()} CPU cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} thread(s){gpu}{load}")


def json_ready(obj: Any) -> Any:
    """NaN and infinity become null, so the file is strict JSON."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
