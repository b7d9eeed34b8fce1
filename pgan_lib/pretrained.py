"""Pretrained models shipped with the kit, each made by one of the kit's own recipes.

Every shipped checkpoint lives in ``checkpoints/<name>.safetensors`` (+ ``.json``
sidecar and ``.log`` training log) and its sha256 is written below, in the
library, so a file changed on disk is refused rather than silently used.

>>> from pgan_lib import pretrained
>>> clf = pretrained.load("fashion-classifier")
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import CheckpointError, file_sha256
from .models.base import KitModel, load_model


@dataclass(frozen=True)
class Shipped:
    name: str
    recipe: str
    sha256: str
    summary: str


# name -> the recipe that made it and the sha256 of its .safetensors file.
SHIPPED: dict[str, Shipped] = {}


def ship(name: str, recipe: str, sha256: str, summary: str) -> None:
    SHIPPED[name] = Shipped(name, recipe, sha256, summary)


def checkpoint_dir() -> Path:
    """``$PGAN_CHECKPOINT_DIR`` or the repository's ``checkpoints/`` folder."""
    env = os.environ.get("PGAN_CHECKPOINT_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "checkpoints"


def path_of(name: str) -> Path:
    return checkpoint_dir() / name


def verify(name: str) -> Path:
    """Check that a shipped checkpoint is present and unchanged; returns its stem path."""
    if name not in SHIPPED:
        raise KeyError(f"No shipped model named {name!r}. Shipped: {', '.join(sorted(SHIPPED)) or 'none yet'}.")
    stem = path_of(name)
    weights = stem.with_suffix(".safetensors")
    if not weights.is_file():
        raise CheckpointError(
            f"{weights} is missing. Shipped checkpoints come with the repository (checkpoints/); "
            f"re-create it with `pgan train {SHIPPED[name].recipe} --mode full --out runs/{name}`."
        )
    digest = file_sha256(weights)
    if digest != SHIPPED[name].sha256:
        raise CheckpointError(
            f"{weights}: sha256 {digest[:16]}... does not match the published {SHIPPED[name].sha256[:16]}...; "
            "the file was changed or is corrupt. Restore it with `git checkout checkpoints/`."
        )
    return stem


def available(name: str) -> bool:
    """True if the shipped checkpoint is present and verifies."""
    try:
        verify(name)
        return True
    except (KeyError, CheckpointError):
        return False


def load(name: str, device: str | torch.device = "cpu") -> KitModel:
    """A shipped model, verified and in eval mode."""
    return load_model(verify(name), device=device)


def load_or_train(name: str, recipe: str | None = None, mode: str | None = None,
                  device: str | torch.device | None = None, overrides: dict | None = None) -> KitModel:
    """The shipped model if it is present, else train ``recipe`` now (quick mode on a laptop).

    ``overrides`` change the fallback run's TrainConfig, e.g. ``{"progress": False}``.
    """
    if available(name):
        return load(name, device=device or "cpu")
    from .recipes import run_recipe

    print(f"{name}: no verified shipped checkpoint; training recipe {recipe or SHIPPED[name].recipe} instead.")
    model, _ = run_recipe(recipe or SHIPPED[name].recipe, mode=mode, device=device, overrides=overrides)
    return model


from . import _shipped  # noqa: E402,F401  (fills SHIPPED)


def export(src: str | Path, name: str, dtype: torch.dtype | None = None, console_log: str | Path | None = None) -> tuple[Path, str]:
    """Write a trained checkpoint as a shippable one: ``checkpoints/<name>``.

    Keeps the model weights (optionally cast to ``dtype``, e.g. float16) and the
    training metadata (config, step, metric history, versions, data fingerprint),
    drops optimiser and RNG state, and writes ``<name>.log`` (``write_log``).
    Returns (stem, sha256) — put the sha256 in ``_shipped.py``.
    """
    from .checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(src)
    tensors = {}
    for key, value in ckpt.group("model").items():
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[f"model/{key}"] = value
    keep = ("arch", "config", "step", "recipe", "train_config", "history", "best_metric", "data_fingerprint", "versions")
    meta = {k: ckpt.meta[k] for k in keep if k in ckpt.meta}
    meta["exported_from"] = str(ckpt.path)
    meta["weights_dtype"] = str(dtype or "as trained").replace("torch.", "")
    stem = save_checkpoint(checkpoint_dir() / name, tensors, meta)
    return stem, write_log(stem, console_log)


def write_log(stem: Path, console_log: str | Path | None = None, notes: tuple[str, ...] = ()) -> str:
    """Write ``<stem>.log`` beside a shipped checkpoint: what made it, ``notes``, the validation
    history, the run's console lines (progress bars left out) and the weights' sha256, which it returns."""
    name = stem.name
    meta = json.loads(stem.with_suffix(".json").read_text())
    lines = [f"# {name}: made by recipe {meta.get('recipe')} (step {meta.get('step')}), exported from "
             f"{meta.get('exported_from')}", f"# versions: {meta.get('versions')}", *notes, "# validation history:"]
    for entry in meta.get("history", []):
        lines.append("  " + "  ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()))
    if console_log is not None:
        text = Path(console_log).read_text(errors="replace").replace("\r", "\n")
        lines += ["# console:"] + [l for l in text.splitlines() if l.strip() and "step/s" not in l and "s/step" not in l]
    digest = file_sha256(stem.with_suffix(".safetensors"))
    lines.append(f"# sha256 of {name}.safetensors: {digest}")
    stem.with_suffix(".log").write_text("\n".join(lines) + "\n")
    return digest
