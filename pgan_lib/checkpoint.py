"""Checkpoints that are safe to share: safetensors weights plus a JSON sidecar.

A checkpoint ``run/last`` is two files:

    run/last.safetensors   every tensor: model weights, optimiser moments, RNG states
    run/last.json          everything else: architecture and config, step, metric
                           history, optimiser hyper-parameters, versions, data fingerprint

Neither format can run code when loaded (a pickled ``.pt`` file can), so the
loader refuses anything else. Both files are written to a temporary name and
renamed into place, and the JSON (written last) names the sha256 of the weights,
so a run killed half-way through a save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT = "pgan-kit-checkpoint/1"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupt, pickled, or for another model."""


@dataclass
class Checkpoint:
    """What a checkpoint holds once loaded: named tensors and the JSON metadata."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path = field(default=Path("."))

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors stored under ``prefix/``, with the prefix removed (e.g. ``model``)."""
        p = prefix + "/"
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}


def stem_of(path: str | Path) -> Path:
    """``run/last``, ``run/last.json`` and ``run/last.safetensors`` all name the checkpoint ``run/last``."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: refusing to load a pickled file ({path.suffix}); unpickling can run arbitrary code. "
            "pgan-kit checkpoints are a .safetensors file with a .json sidecar."
        )
    if path.suffix in (".json", ".safetensors"):
        return path.with_suffix("")
    if path.is_dir():
        return path / "last"
    return path


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json_safe(obj: Any) -> Any:
    """Tuples to lists and non-finite floats to strings, so the sidecar is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    return obj


def _from_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__float__"}:
            return float(obj["__float__"])
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


def split_state(state: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Move every tensor of a nested state dict into ``tensors`` and leave a reference in its place."""
    if isinstance(state, torch.Tensor):
        key = prefix
        tensors[key] = state.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(state, dict):
        return {str(k): split_state(v, f"{prefix}/{k}", tensors) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [split_state(v, f"{prefix}/{i}", tensors) for i, v in enumerate(state)]
    return state


def join_state(state: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of ``split_state``."""
    if isinstance(state, dict):
        if set(state) == {"__tensor__"}:
            return tensors[state["__tensor__"]]
        return {k: join_state(v, tensors) for k, v in state.items()}
    if isinstance(state, list):
        return [join_state(v, tensors) for v in state]
    return state


def optimizer_state_from_json(state: dict) -> dict:
    """Optimizer state dicts key parameter state by int; JSON turned those keys into strings."""
    state = dict(state)
    state["state"] = {int(k): v for k, v in state["state"].items()}
    return state


def versions() -> dict[str, str]:
    from . import __version__  # the package root imports config, which must not wait for this module

    return {"pgan_lib": __version__, "torch": torch.__version__, "python": platform.python_version()}


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Atomically write ``path.safetensors`` and ``path.json``; returns the stem."""
    stem = stem_of(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = stem.with_suffix(".safetensors")
    sidecar = stem.with_suffix(".json")
    tmp_w = weights.with_name(weights.name + f".tmp{os.getpid()}")
    tmp_j = sidecar.with_name(sidecar.name + f".tmp{os.getpid()}")
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp_w))
        os.chmod(tmp_w, 0o644)
        full_meta = {"format": FORMAT, "versions": versions(), **meta, "weights_sha256": file_sha256(tmp_w)}
        with open(tmp_j, "w") as f:
            json.dump(_json_safe(full_meta), f, indent=1, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        # Commit in an order where a crash at any point leaves a loadable pair:
        # the old weights step aside as .prev (still matching the old sidecar),
        # the new weights move in, then the new sidecar; only then .prev goes.
        prev = weights.with_name(weights.name + ".prev")
        if weights.exists():
            os.replace(weights, prev)
        os.replace(tmp_w, weights)
        os.replace(tmp_j, sidecar)
        prev.unlink(missing_ok=True)
    finally:  # a failed save leaves no half-written files behind
        for tmp in (tmp_w, tmp_j):
            tmp.unlink(missing_ok=True)
    return stem


def load_checkpoint(path: str | Path, verify: bool = True) -> Checkpoint:
    """Load a checkpoint written by ``save_checkpoint``; refuses pickles, checks the weights' hash."""
    stem = stem_of(path)
    weights, sidecar = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    prev = weights.with_name(weights.name + ".prev")
    if not weights.is_file() and prev.is_file():
        weights = prev  # a save was interrupted before its new weights moved in
    for p in (weights, sidecar):
        if not p.is_file():
            raise CheckpointError(
                f"{p}: not found. A checkpoint is a pair {stem.name}.safetensors + {stem.name}.json; "
                "pass the path of either (or of the run folder to use its 'last' checkpoint)."
            )
    try:
        with open(sidecar) as f:
            meta = _from_json(json.load(f))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{sidecar}: the JSON sidecar is corrupt ({err}). Use an earlier checkpoint.") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{sidecar}: not a pgan-kit checkpoint (format {found!r}, expected {FORMAT!r}).")
    if verify and meta.get("weights_sha256") and prev.is_file() and file_sha256(weights) != meta["weights_sha256"]:
        weights = prev  # interrupted between moving the new weights in and the new sidecar
    if verify and meta.get("weights_sha256") and file_sha256(weights) != meta["weights_sha256"]:
        raise CheckpointError(
            f"{weights}: sha256 does not match the one recorded in {sidecar.name}; the file is corrupt or was changed. "
            "Use an earlier checkpoint or retrain."
        )
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: cannot read the safetensors file ({err}).") from err
    return Checkpoint(tensors=tensors, meta=meta, path=stem)


def check_compatible(meta: dict[str, Any], arch: str, config: dict[str, Any], where: str = "checkpoint",
                     defaults: dict[str, Any] | None = None) -> None:
    """Raise CheckpointError naming every difference in architecture or config.

    ``defaults``: values for config fields a checkpoint lacks because it was written before
    the field existed (a new field's default keeps the old behaviour).
    """
    problems = []
    if meta.get("arch") != arch:
        problems.append(f"architecture is {meta.get('arch')!r}, expected {arch!r}")
    saved = {**(defaults or {}), **meta.get("config", {})}
    for key in sorted(set(saved) | set(config)):
        if _json_safe(saved.get(key)) != _json_safe(config.get(key)):
            problems.append(f"config {key!r} is {saved.get(key)!r} in the {where} but {config.get(key)!r} here")
    if problems:
        raise CheckpointError(f"{where} does not fit this model: " + "; ".join(problems) + ".")
