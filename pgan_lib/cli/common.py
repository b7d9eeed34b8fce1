"""What every ``pgan`` command shares: the user-error type and the model options."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from .. import pretrained
from ..models.base import KitModel, load_model


class UserError(Exception):
    """An error caused by the input; printed as one clear message, without a traceback."""


def add_model_args(p: argparse.ArgumentParser, device_default: str | None = "cpu") -> None:
    """--checkpoint / --model / --device, the way every command that loads a model takes them."""
    p.add_argument("--checkpoint", default=None, help="a checkpoint (.safetensors/.json pair, or a run folder)")
    p.add_argument("--model", default=None, help="a shipped pretrained model name, e.g. fashion-cgan")
    p.add_argument("--device", default=device_default, help="cpu, cuda, cuda:1, mps (default: cpu)")


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
    return load_model(path, device=args.device), str(path)


def json_ready(obj: Any) -> Any:
    """NaN and infinity become null, so the file is strict JSON."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
