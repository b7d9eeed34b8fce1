"""Checkpoints that are safe to share: safetensors weights plus a JSON sidecar.

A checkpoint ``run/last`` is two files:

    run/last.safetensors   every tensor: model weights, optimiser moments, RNG states
    run/last.json          everything else: architecture and config, step, metric
                           history, optimiser hyper-parameters, versions, data fingerprint

Neither format can run code when loaded (a pickled ``.pt`` file can), so the
loader refuses anything else. Both files are written to a private temporary name
(``name.<pid>.<random>.tmp``) and renamed into place, and the JSON (written last)
names the sha256 of the weights, so a run killed half-way through a save leaves the
previous checkpoint intact; temporary files of killed saves are removed by the next save.

Loading trusts neither file:

* the sidecar is read with a size and nesting limit, and every field the kit uses is
  checked for its type and range (:func:`validate_meta`);
* ``weights_sha256`` is required, and the weights are read once, hashed, and
  deserialised from exactly those bytes, so a file replaced meanwhile cannot slip in;
* the safetensors header is checked (dtypes, shapes, offsets inside the file) before
  any tensor is made, and :attr:`Checkpoint.shapes` lets a model compare the saved
  shapes with the ones its config would build before it allocates anything;
* non-finite weights load, with a :class:`NonFiniteWeightsWarning` naming them.

Every failure to load is one :class:`CheckpointError` whose message names the file,
what is wrong and what to do.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from .safety import MAX_JSON_DEPTH, MAX_SIDECAR_BYTES, PathError, clean_stale_temps, format_bytes, safe_text, temp_name

FORMAT = "pgan-kit-checkpoint/1"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")
#: Bytes per element of every dtype a safetensors header may name.
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_MAX_HEADER_BYTES = 100 * 2**20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Sidecar fields an export may write as null (it copies what the training checkpoint had).
_MAY_BE_NULL = frozenset({"step", "train_config", "history", "versions", "optimizers", "schedulers", "rng",
                          "seconds", "bad_validations"})


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupt, tampered with, pickled, or for another model."""


class CheckpointSaveError(PathError):
    """A checkpoint could not be written (full disk, read-only folder); the previous one is intact."""


class NonFiniteWeightsWarning(UserWarning):
    """A checkpoint holds NaN or infinite weights: the model will produce garbage (e.g. black images)."""


@dataclass
class Checkpoint:
    """What a checkpoint holds once loaded: named tensors and the JSON metadata.

    ``sha256`` holds the digests of the bytes actually loaded ("weights", "sidecar").
    """

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path = field(default=Path("."))
    sha256: dict[str, str] = field(default_factory=dict)

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors stored under ``prefix/``, with the prefix removed (e.g. ``model``)."""
        p = prefix + "/"
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}

    def shapes(self, prefix: str = "model") -> dict[str, tuple[int, ...]]:
        """The saved shape of every tensor under ``prefix/``."""
        return {k: tuple(v.shape) for k, v in self.group(prefix).items()}


def stem_of(path: str | Path) -> Path:
    """``run/last``, ``run/last.json`` and ``run/last.safetensors`` all name the checkpoint ``run/last``."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{safe_text(path, 300)}: refusing to load a pickled file ({safe_text(path.suffix, 20)}); "
            "unpickling can run arbitrary code. "
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
    """Inverse of ``split_state``; a reference to a tensor the file lacks is a CheckpointError."""
    if isinstance(state, dict):
        if set(state) == {"__tensor__"}:
            key = state["__tensor__"]
            if not isinstance(key, str) or key not in tensors:
                raise CheckpointError(f"the sidecar refers to a tensor {safe_text(repr(key), 80)} that the weights file lacks")
            return tensors[key]
        return {k: join_state(v, tensors) for k, v in state.items()}
    if isinstance(state, list):
        return [join_state(v, tensors) for v in state]
    return state


def optimizer_state_from_json(state: dict) -> dict:
    """Optimizer state dicts key parameter state by int; JSON turned those keys into strings."""
    if not isinstance(state, dict) or not isinstance(state.get("state"), dict):
        raise CheckpointError("the sidecar's optimiser state is not a mapping with a 'state' entry")
    state = dict(state)
    try:
        state["state"] = {int(k): v for k, v in state["state"].items()}
    except ValueError:
        raise CheckpointError("the sidecar's optimiser state has keys that are not parameter numbers") from None
    return state


def versions() -> dict[str, str]:
    from . import __version__  # the package root imports config, which must not wait for this module

    return {"pgan_lib": __version__, "torch": torch.__version__, "python": platform.python_version()}


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Atomically write ``path.safetensors`` and ``path.json``; returns the stem.

    Raises :class:`CheckpointSaveError` (an OSError) naming the file when the disk is full or
    the folder cannot be written; the previous checkpoint, if any, is left intact.
    """
    stem = stem_of(path)
    weights = stem.with_suffix(".safetensors")
    sidecar = stem.with_suffix(".json")
    tmp_w, tmp_j = temp_name(weights), temp_name(sidecar)
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(stem.parent)
        data = save_bytes({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
        full_meta = {"format": FORMAT, "versions": versions(), **meta, "weights_sha256": hashlib.sha256(data).hexdigest()}
        text = json.dumps(_json_safe(full_meta), indent=1, allow_nan=False)
        for tmp, payload in ((tmp_w, data), (tmp_j, text.encode())):
            with open(tmp, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
        # Commit in an order where a crash at any point leaves a loadable pair:
        # the old weights step aside as .prev (still matching the old sidecar),
        # the new weights move in, then the new sidecar; only then .prev goes.
        prev = weights.with_name(weights.name + ".prev")
        if weights.exists():
            os.replace(weights, prev)
        os.replace(tmp_w, weights)
        os.replace(tmp_j, sidecar)
        prev.unlink(missing_ok=True)
    except OSError as err:
        raise CheckpointSaveError(
            f"cannot write checkpoint {safe_text(stem, 300)} ({err.strerror or err}); "
            "free some disk space or choose a writable --out folder. Any earlier checkpoint there is intact.", err.errno
        ) from err
    finally:  # a failed save leaves no half-written files behind
        for tmp in (tmp_w, tmp_j):
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
    return stem


# ---------------------------------------------------------------------------
# Reading: bounded, validated, hashed bytes
# ---------------------------------------------------------------------------


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    """A regular file's bytes (at most ``limit``), or a CheckpointError naming it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise CheckpointError(f"{safe_text(path, 300)}: not found.") from None
    except OSError as err:
        raise CheckpointError(f"{safe_text(path, 300)}: cannot be read ({err.strerror or err}).") from None
    try:
        st = os.fstat(fd)
        if not os.path.isfile(path) or (st.st_mode & 0o170000) != 0o100000:
            raise CheckpointError(f"{safe_text(path, 300)}: not a regular file.")
        if limit is not None and st.st_size > limit:
            raise CheckpointError(f"{safe_text(path, 300)}: {format_bytes(st.st_size)}, over the limit of "
                                  f"{format_bytes(limit)} for this file; it is not a pgan-kit sidecar.")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except OSError as err:
        raise CheckpointError(f"{safe_text(path, 300)}: cannot be read ({err.strerror or err}).") from None
    finally:
        os.close(fd)
    if limit is not None and len(data) > limit:
        raise CheckpointError(f"{safe_text(path, 300)}: over the limit of {format_bytes(limit)}.")
    return data


def _json_depth(obj: Any) -> int:
    """Nesting depth of parsed JSON, computed without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                return depth
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_sidecar(data: bytes, where: str = "sidecar", require_hash: bool = True) -> dict[str, Any]:
    """Sidecar bytes as a validated dict; CheckpointError for anything else (see :func:`validate_meta`)."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise CheckpointError(f"{where}: the JSON sidecar is nested too deeply to be a pgan-kit sidecar.") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"{where}: the JSON sidecar is corrupt ({safe_text(err, 200)}). Use an earlier checkpoint.") from None
    if _json_depth(raw) > MAX_JSON_DEPTH:
        raise CheckpointError(f"{where}: the JSON sidecar is nested more than {MAX_JSON_DEPTH} levels deep; "
                              "it is not a pgan-kit sidecar.")
    try:
        meta = _from_json(raw)
    except (ValueError, TypeError):
        raise CheckpointError(f"{where}: the JSON sidecar holds an invalid number.") from None
    validate_meta(meta, where, require_hash=require_hash)
    return meta


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate_meta(meta: Any, where: str = "sidecar", require_hash: bool = True) -> dict[str, Any]:
    """Check every sidecar field the kit reads for its type and range; CheckpointError naming all problems.

    Fields the kit does not read (notes added by an export) are allowed. Returns ``meta``.
    """
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: not a pgan-kit checkpoint (the sidecar is a JSON {type(meta).__name__}, not an object).")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a pgan-kit checkpoint (format {safe_text(repr(meta.get('format')), 80)}, "
                              f"expected {FORMAT!r}).")
    problems: list[str] = []

    def want(key: str, ok: bool, what: str) -> None:
        if key in meta and not ok and not (meta[key] is None and key in _MAY_BE_NULL):
            problems.append(f"{key!r} must be {what}, got {safe_text(repr(meta[key]), 60)}")

    digest = meta.get("weights_sha256")
    if digest is None:
        if require_hash:
            problems.append("'weights_sha256' is missing, so the weights cannot be checked (re-save the checkpoint "
                            "with pgan-kit, or re-export it)")
    else:
        want("weights_sha256", isinstance(digest, str) and bool(_SHA256.match(digest)), "64 lowercase hex digits")
    def g(key: str) -> Any:
        return meta.get(key)

    want("arch", isinstance(g("arch"), str) and 0 < len(g("arch")) <= 100, "a model name")
    want("config", isinstance(g("config"), dict), "an object")
    want("train_config", isinstance(g("train_config"), dict), "an object")
    want("step", isinstance(g("step"), int) and not isinstance(g("step"), bool) and 0 <= g("step") < 2**53,
         "a whole number >= 0")
    want("bad_validations", isinstance(g("bad_validations"), int) and not isinstance(g("bad_validations"), bool)
         and 0 <= g("bad_validations") < 2**31, "a whole number >= 0")
    want("seconds", _is_number(g("seconds")) and 0 <= g("seconds") < 1e12, "a number of seconds >= 0")
    want("best_metric", g("best_metric") is None or _is_number(g("best_metric")), "a number or null")
    want("history", isinstance(g("history"), list) and all(isinstance(h, dict) for h in g("history")),
         "a list of objects")
    for key in ("recipe", "data_fingerprint"):
        want(key, g(key) is None or (isinstance(g(key), str) and len(g(key)) <= 1000), "a short text or null")
    want("versions", isinstance(g("versions"), dict) and all(isinstance(v, str) for v in g("versions").values()),
         "an object of version texts")
    for key in ("optimizers", "schedulers"):
        want(key, isinstance(g(key), dict) and all(isinstance(v, dict) for v in g(key).values()),
             "an object of objects")
    want("rng", isinstance(g("rng"), dict), "an object")
    if problems:
        raise CheckpointError(f"{where}: the sidecar is not valid: " + "; ".join(problems) + ". Use an earlier checkpoint.")
    return meta


def parse_header(data: bytes, where: str = "weights") -> dict[str, tuple[str, tuple[int, ...]]]:
    """The safetensors header of ``data`` as {name: (dtype, shape)}, checked against the file's length.

    Nothing is allocated from it: a header that claims more data than the file holds, or
    overlapping or out-of-range offsets, is a CheckpointError.
    """
    if len(data) < 8:
        raise CheckpointError(f"{where}: too short to be a safetensors file ({len(data)} bytes).")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(len(data) - 8, _MAX_HEADER_BYTES):
        raise CheckpointError(f"{where}: the safetensors header claims {n} bytes but the file has {len(data)}; "
                              "the file is truncated or not safetensors.")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CheckpointError(f"{where}: the safetensors header is not valid JSON; the file is corrupt.") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: the safetensors header is not an object; the file is corrupt.")
    body = len(data) - 8 - n
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            ok = (dtype in DTYPE_BYTES and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
                  and isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= body
                  and end - begin == DTYPE_BYTES[dtype] * math.prod(shape))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise CheckpointError(f"{where}: the safetensors entry {safe_text(repr(name), 80)} is inconsistent "
                                  "(dtype, shape and byte range do not agree, or lie outside the file); the file is corrupt.")
        spans.append((begin, end))
        out[name] = (dtype, shape)
    spans.sort()
    if any(b < a_end for (_, a_end), (b, _) in zip(spans, spans[1:])):
        raise CheckpointError(f"{where}: tensors in the safetensors file overlap; the file is corrupt or crafted.")
    return out


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Only the validated JSON sidecar of a checkpoint (cheap: no weights are read)."""
    sidecar = stem_of(path).with_suffix(".json")
    return parse_sidecar(_read_bytes(sidecar, MAX_SIDECAR_BYTES), safe_text(sidecar, 300))


def load_checkpoint(path: str | Path, verify: bool = True, weights_sha256: str | None = None,
                    sidecar_sha256: str | None = None) -> Checkpoint:
    """Load a checkpoint written by ``save_checkpoint``; refuses pickles, checks everything (module docstring).

    ``weights_sha256`` / ``sidecar_sha256``: digests published elsewhere (e.g. a manifest of
    shipped models) that the bytes loaded must also match. ``verify=False`` skips the
    sidecar's own ``weights_sha256`` (for tools that repair checkpoints; never for loading models).
    """
    stem = stem_of(path)
    weights, sidecar = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    prev = weights.with_name(weights.name + ".prev")
    for p in (weights if weights.exists() or not prev.is_file() else prev, sidecar):
        if not p.exists():
            raise CheckpointError(
                f"{safe_text(p, 300)}: not found. A checkpoint is a pair {safe_text(stem.name, 100)}.safetensors + "
                f"{safe_text(stem.name, 100)}.json; pass the path of either (or of the run folder to use its 'last' checkpoint)."
            )
    shown_w, shown_j = safe_text(weights, 300), safe_text(sidecar, 300)
    for attempt in range(3):  # a save may replace the pair while we read it: read again
        side_bytes = _read_bytes(sidecar, MAX_SIDECAR_BYTES)
        side_digest = hashlib.sha256(side_bytes).hexdigest()
        if sidecar_sha256 is not None and side_digest != sidecar_sha256:
            raise CheckpointError(f"{shown_j}: sha256 {side_digest[:16]}... does not match the published "
                                  f"{sidecar_sha256[:16]}...; the file was changed. Restore it (e.g. git checkout).")
        meta = parse_sidecar(side_bytes, shown_j, require_hash=verify)
        data, digest = b"", ""
        for candidate in (weights, prev):   # .prev: a save was interrupted between its renames
            if not candidate.exists():
                continue
            data = _read_bytes(candidate)
            digest = hashlib.sha256(data).hexdigest()
            if not verify or digest == meta["weights_sha256"]:
                break
        else:
            if _read_bytes(sidecar, MAX_SIDECAR_BYTES) != side_bytes and attempt < 2:
                continue
            raise CheckpointError(
                f"{shown_w}: sha256 does not match the one recorded in {safe_text(sidecar.name, 100)}; the file is "
                "corrupt or was changed. Use an earlier checkpoint or retrain."
            )
        break
    if weights_sha256 is not None and digest != weights_sha256:
        raise CheckpointError(f"{shown_w}: sha256 {digest[:16]}... does not match the published {weights_sha256[:16]}...; "
                              "the file was changed or is corrupt. Restore it (e.g. git checkout).")
    parse_header(data, shown_w)
    try:
        tensors = load_bytes(data)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{shown_w}: cannot read the safetensors file ({safe_text(err, 200)}).") from err
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        warnings.warn(f"{shown_w}: {len(bad)} tensor(s) hold NaN or infinite values ({', '.join(bad[:5])}"
                      f"{', ...' if len(bad) > 5 else ''}); a model built from them gives garbage. Use an earlier checkpoint.",
                      NonFiniteWeightsWarning, stacklevel=2)
    return Checkpoint(tensors=tensors, meta=meta, path=stem, sha256={"weights": digest, "sidecar": side_digest})


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
