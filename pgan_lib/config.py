"""Run modes and device choice, shared by every notebook, recipe and test.

``PGAN_MODE=quick`` (the default) is what tests, CI and a laptop use: small data
subsets and few steps, so that each notebook runs in well under a minute on two
CPU cores. ``PGAN_MODE=full`` is a real classroom run, meant for a GPU.
"""
from __future__ import annotations

import os
import stat
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from . import classroom

MODES = ("quick", "full")


@dataclass(frozen=True)
class ModeSettings:
    """How big a run is in one mode.

    ``max_train`` / ``max_eval`` cap the number of items taken from a training
    split and from an evaluation split (None: all of them); ``catalog_items`` is
    how many products the built-in catalogue renders in total.
    """

    name: str
    max_train: int | None
    max_eval: int | None
    catalog_items: int


QUICK = ModeSettings("quick", max_train=4096, max_eval=1024, catalog_items=6000)
FULL = ModeSettings("full", max_train=None, max_eval=None, catalog_items=60000)


def get_mode(mode: str | None = None) -> ModeSettings:
    """Return the settings for ``mode``, or for ``$PGAN_MODE`` (default ``quick``)."""
    name = (mode or os.environ.get("PGAN_MODE") or "quick").strip().lower()
    if name not in MODES:
        raise ValueError(
            f"Unknown run mode {name!r} (from PGAN_MODE or --mode). "
            f"Use one of {', '.join(MODES)}: e.g. `export PGAN_MODE=quick`."
        )
    return QUICK if name == "quick" else FULL


_announced: set[str] = set()


def pick_device(device: str | torch.device | None = None, announce: bool = True) -> torch.device:
    """Choose where tensors live: cuda > mps > cpu, unless told otherwise.

    ``device`` (or ``$PGAN_DEVICE``) overrides the automatic choice; a device this machine
    does not have (or a misspelt one) is a :class:`DeviceError` listing the ones it has.
    With ``$PGAN_CLASS_SIZE`` set, a CUDA device is capped to this process's share of it
    (``classroom.share_gpu``).
    The choice is printed once per process in a readable line.
    """
    wanted = device if device is not None else os.environ.get("PGAN_DEVICE")
    if wanted in (None, "", "auto"):
        if torch.cuda.is_available():
            dev = torch.device("cuda")
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            dev = torch.device("mps")
        else:
            dev = torch.device("cpu")
    else:
        dev = check_device(wanted)
    if dev.type == "cuda" and os.environ.get(classroom.CLASS_SIZE_ENV):
        classroom.share_gpu(device=dev, announce=announce)     # PGAN_CLASS_SIZE: take this process's share only
    key = str(dev)
    if announce and key not in _announced:
        _announced.add(key)
        print(describe_device(dev))
    return dev


class DeviceError(ValueError, RuntimeError):
    """A device that this machine does not have (or a name that is no device); the message lists what it has."""


def available_devices() -> list[str]:
    """The devices this machine can run on, e.g. ["cpu"] or ["cpu", "cuda", "cuda:0", "cuda:1"]."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def check_device(wanted: str | torch.device) -> torch.device:
    """``wanted`` as a torch.device, if this machine has it; DeviceError naming what it has otherwise."""
    have = ", ".join(available_devices())
    shown = repr(str(wanted))[:80]
    try:
        dev = torch.device(wanted)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceError(f"{shown} is not a device name; this machine has: {have}. "
                          "Use --device cpu (or unset PGAN_DEVICE).") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"Device {shown} was asked for, but this machine has no usable CUDA GPU "
                              f"(it has: {have}). Use --device cpu (or unset PGAN_DEVICE) to run on the CPU.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"Device {shown} does not exist: this machine has {torch.cuda.device_count()} "
                              f"CUDA GPU(s) ({have}). Use one of those.")
        return dev
    if dev.type == "mps":
        if "mps" not in available_devices():
            raise DeviceError(f"Device {shown} (an Apple GPU) is not available on this machine (it has: {have}). "
                              "Use --device cpu.")
        return dev
    raise DeviceError(f"Device {shown} is not supported by pgan-kit; this machine has: {have}.")


def describe_device(dev: torch.device) -> str:
    """One readable line about a device: its name, memory and thread count."""
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return f"pgan-kit device: cuda:{idx} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    if dev.type == "mps":
        return "pgan-kit device: mps (Apple GPU)"
    return f"pgan-kit device: cpu ({torch.get_num_threads()} threads; no GPU found, runs will be slower)"


class CacheWarning(UserWarning):
    """The cache folder cannot be written: another one is used, or results are not cached."""


_cache_notes: set[str] = set()


def _note_once(message: str) -> None:
    if message not in _cache_notes:
        _cache_notes.add(message)
        warnings.warn(message, CacheWarning, stacklevel=3)


def _usable_dir(path: Path, private: bool = False) -> bool:
    """Create ``path`` if needed; True when it is a folder we can write (a private one must be ours alone)."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
        if private:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
                return False
        return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
    except OSError:
        return False


def cache_dir(create: bool = True) -> Path:
    """Where the kit caches rendered data and downloads: ``$PGAN_CACHE_DIR`` or ~/.cache/pgan-kit.

    When that folder cannot be created or written (a read-only HOME, a shared machine), a
    private folder in the system's temporary directory is used instead, with a
    :class:`CacheWarning`; when neither works the preferred path is returned and every
    cache write is skipped with a note (nothing needs the cache to be writable).
    ``create=False`` only names the preferred folder (for looking up files).
    """
    root = os.environ.get("PGAN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pgan-kit"
    )
    path = Path(root)
    if not create or _usable_dir(path):
        return path
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    fallback = Path(tempfile.gettempdir()) / f"pgan-kit-cache-{uid}"
    if _usable_dir(fallback, private=True):
        _note_once(f"cannot write the cache folder {path}; using {fallback} instead "
                   "(set PGAN_CACHE_DIR to a writable folder to keep the cache)")
        return fallback
    _note_once(f"cannot write the cache folder {path} nor {fallback}; results are not cached "
               "(set PGAN_CACHE_DIR to a writable folder)")
    return path


def cache_write_failed(path: Path, err: OSError) -> None:
    """The one note for a cache file that could not be written (the work goes on without it)."""
    _note_once(f"could not write the cache file {path} ({err.strerror or err}); going on without caching it")
