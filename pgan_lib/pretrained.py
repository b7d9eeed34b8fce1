"""Pretrained models shipped with the kit, each made by one of the kit's own recipes.

Every shipped checkpoint lives in ``checkpoints/<name>.safetensors`` (+ ``.json``
sidecar and ``.log`` training log). ``checkpoints/manifest.json`` lists them:
the recipe that made each, a one-line summary, and the sha256 of both the
weights and the sidecar, so a file changed on disk (weights, or a config such as
the vocabulary) is refused rather than silently used.

>>> from pgan_lib import pretrained
>>> clf = pretrained.load("fashion-classifier")

``export`` and ``export_sampler`` turn a training run into such a checkpoint;
``add_to_manifest`` records it.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .checkpoint import CheckpointError, file_sha256, load_checkpoint, save_checkpoint
from .models.base import KitModel, load_model

MANIFEST = "manifest.json"
#: What an exported checkpoint keeps of its run's metadata (optimiser and RNG state are dropped).
EXPORT_META_KEYS = ("arch", "config", "step", "recipe", "train_config", "history", "best_metric", "data_fingerprint",
                    "versions", "seconds")


@dataclass(frozen=True)
class Shipped:
    """One entry of the manifest."""

    name: str
    recipe: str             # the recipe that made it; "" when it was made by a script (see ``remake``)
    sha256: str             # of <name>.safetensors
    sidecar_sha256: str     # of <name>.json
    summary: str
    remake: str = ""        # the command that re-creates it when no recipe does

    def remake_command(self) -> str:
        """The command that re-creates this checkpoint."""
        return self.remake or f"pgan train {self.recipe} --mode full --out runs/{self.name}"


def checkpoint_dir() -> Path:
    """``$PGAN_CHECKPOINT_DIR`` or the repository's ``checkpoints/`` folder."""
    env = os.environ.get("PGAN_CHECKPOINT_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "checkpoints"


def read_manifest(folder: Path | None = None) -> dict[str, Shipped]:
    """The shipped models listed in ``<folder>/manifest.json`` (empty when there is no manifest)."""
    path = (folder or checkpoint_dir()) / MANIFEST
    if not path.is_file():
        return {}
    try:
        models = json.loads(path.read_text(encoding="utf-8"))["models"]
        return {name: Shipped(name, e["recipe"], e["weights_sha256"], e["sidecar_sha256"], e["summary"], e.get("remake", ""))
                for name, e in models.items()}
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not a readable manifest ({err}); restore it with `git checkout {path}`") from None


# name -> its manifest entry, read once at import.
SHIPPED: dict[str, Shipped] = read_manifest()


def path_of(name: str) -> Path:
    return checkpoint_dir() / name


def verify(name: str) -> Path:
    """Check that a shipped checkpoint is present and unchanged (weights and sidecar); returns its stem path."""
    if name not in SHIPPED:
        raise KeyError(f"No shipped model named {name!r}. Shipped: {', '.join(sorted(SHIPPED)) or 'none yet'}.")
    return verify_entry(SHIPPED[name])


def verify_entry(entry: Shipped, folder: Path | None = None) -> Path:
    """Check one manifest entry's files in ``folder`` (default ``checkpoint_dir()``); CheckpointError with the fix."""
    name = entry.name
    stem = (folder or checkpoint_dir()) / name
    for suffix, published in ((".safetensors", entry.sha256), (".json", entry.sidecar_sha256)):
        path = stem.with_suffix(suffix)
        if not path.is_file():
            raise CheckpointError(
                f"{path} is missing. Shipped checkpoints come with the repository (checkpoints/); "
                f"re-create it with `{entry.remake_command()}`."
            )
        digest = file_sha256(path)
        if digest != published:
            raise CheckpointError(
                f"{path}: sha256 {digest[:16]}... does not match the published {published[:16]}...; "
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


def weights_sha256(name_or_path: str | Path) -> str:
    """The sha256 of a model's weights: the published one for a shipped name, else the hash of
    ``<path>.safetensors`` (a checkpoint stem); "" when neither exists (e.g. a model made in memory)."""
    if str(name_or_path) in SHIPPED:
        return SHIPPED[str(name_or_path)].sha256
    weights = Path(name_or_path).with_suffix(".safetensors")
    return file_sha256(weights) if weights.is_file() else ""


def load(name: str, device: str | torch.device = "cpu") -> KitModel:
    """A shipped model, verified and in eval mode.

    The manifest's digests are checked again on the very bytes that are loaded, so a file
    replaced between ``verify`` and loading cannot slip in.
    """
    entry = SHIPPED.get(name)
    stem = verify(name)
    return load_model(stem, device=device, weights_sha256=entry.sha256 if entry else None,
                      sidecar_sha256=entry.sidecar_sha256 if entry else None)


# ----------------------------------------------------------------------------- making shipped checkpoints


def export(src: str | Path, name: str, dtype: torch.dtype | None = None, console_log: str | Path | None = None,
           keep: tuple[str, ...] | None = None, config_changes: dict | None = None,
           notes: tuple[str, ...] = ()) -> tuple[Path, str]:
    """Write a trained checkpoint as a shippable one: ``checkpoints/<name>`` (or ``name`` if it is a path).

    Keeps the model weights whose names start with one of ``keep`` (all when None),
    optionally cast to ``dtype`` (e.g. float16), and the run's metadata
    (``EXPORT_META_KEYS``), with ``config_changes`` applied to the config; drops
    optimiser and RNG state, and writes ``<name>.log`` (``write_log``).
    Returns (stem, sha256 of the weights); ``add_to_manifest`` publishes it.
    """
    ckpt = load_checkpoint(src)
    tensors = {}
    for key, value in ckpt.group("model").items():
        if keep is not None and not key.startswith(keep):
            continue
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[f"model/{key}"] = value
    meta = {k: ckpt.meta[k] for k in EXPORT_META_KEYS if k in ckpt.meta}
    if config_changes:
        meta["config"] = {**meta["config"], **config_changes}
    meta["exported_from"] = str(ckpt.path)
    meta["weights_dtype"] = str(dtype or "as trained").replace("torch.", "")
    out = Path(name) if os.sep in str(name) else checkpoint_dir() / name
    stem = save_checkpoint(out, tensors, meta)
    return stem, write_log(stem, console_log, notes)


def export_sampler(src: str | Path, name: str, dtype: torch.dtype = torch.float16, truncation: float | None = None,
                   console_log: str | Path | None = None, notes: tuple[str, ...] = ()) -> tuple[Path, str]:
    """A generator-only checkpoint (what a GAN samples from: its EMA generator, and the frozen text
    encoder of a text-to-image GAN) from a training checkpoint, in half precision by default.

    The model names what it keeps (``sampler_keys``); the config is marked
    ``generator_only`` (such a model samples but cannot be trained further) and,
    if given, gets another sampling ``truncation``.
    """
    model = load_model(src)
    keys = getattr(model, "sampler_keys", None)
    if keys is None or model.config.generator_only:
        raise CheckpointError(f"{src}: not a GAN training checkpoint (nothing to cut down to a sampler)")
    config = replace(model.config, generator_only=True)
    if truncation is not None:
        config = replace(config, truncation=truncation)
    return export(src, name, dtype=dtype, console_log=console_log, keep=keys, config_changes=asdict(config), notes=notes)


def add_to_manifest(name: str, recipe: str, summary: str, folder: Path | None = None, remake: str = "") -> Shipped:
    """Record ``<folder>/<name>`` (weights and sidecar hashes) in the manifest, replacing an older entry.

    ``recipe`` names the kit recipe that made it; a model made by a script instead gets ``recipe=""``
    and the script's command line as ``remake``.
    """
    if not recipe and not remake:
        raise ValueError(f"{name}: give the recipe that made it, or the command that re-creates it (remake)")
    folder = folder or checkpoint_dir()
    path = folder / MANIFEST
    doc: dict[str, Any] = (json.loads(path.read_text(encoding="utf-8")) if path.is_file()
                           else {"format": "pgan-kit-manifest/1", "models": {}})
    stem = folder / name
    entry = {"recipe": recipe, "weights_sha256": file_sha256(stem.with_suffix(".safetensors")),
             "sidecar_sha256": file_sha256(stem.with_suffix(".json")), "summary": summary}
    if remake:
        entry["remake"] = remake
    doc["models"][name] = entry
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    shipped = Shipped(name, recipe, entry["weights_sha256"], entry["sidecar_sha256"], summary, remake)
    if folder == checkpoint_dir():
        SHIPPED[name] = shipped
    return shipped


def write_log(stem: Path, console_log: str | Path | None = None, notes: tuple[str, ...] = ()) -> str:
    """Write ``<stem>.log`` beside a shipped checkpoint: what made it, ``notes``, the validation
    history, the run's console lines (progress bars left out) and the weights' sha256, which it returns."""
    name = stem.name
    meta = json.loads(stem.with_suffix(".json").read_text())
    lines = [f"# {name}: made by recipe {meta.get('recipe')} (step {meta.get('step')}), exported from "
             f"{meta.get('exported_from')}", f"# versions: {meta.get('versions')}", *notes, "# validation history:"]
    for entry in meta.get("history") or []:
        lines.append("  " + "  ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()))
    if console_log is not None:
        text = Path(console_log).read_text(errors="replace").replace("\r", "\n")
        lines += ["# console:"] + [ln for ln in text.splitlines() if ln.strip() and "step/s" not in ln and "s/step" not in ln]
    digest = file_sha256(stem.with_suffix(".safetensors"))
    lines.append(f"# sha256 of {name}.safetensors: {digest}")
    stem.with_suffix(".log").write_text("\n".join(lines) + "\n")
    return digest
