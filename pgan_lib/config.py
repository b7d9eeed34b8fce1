"""Run modes and device choice, shared by every notebook, recipe and test.

``PGAN_MODE=quick`` (the default) is what tests, CI and a laptop use: small data
subsets and few steps, so that each notebook runs in well under a minute on two
CPU cores. ``PGAN_MODE=full`` is a real classroom run, meant for a GPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

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

    ``device`` (or ``$PGAN_DEVICE``) overrides the automatic choice. The choice is
    printed once per process in a readable line.
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
        dev = torch.device(wanted)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {str(wanted)!r} was asked for, but this machine has no usable CUDA GPU. "
                "Use --device cpu (or unset PGAN_DEVICE) to run on the CPU."
            )
    key = str(dev)
    if announce and key not in _announced:
        _announced.add(key)
        print(describe_device(dev))
    return dev


def describe_device(dev: torch.device) -> str:
    """One readable line about a device: its name, memory and thread count."""
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return f"pgan-kit device: cuda:{idx} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    if dev.type == "mps":
        return "pgan-kit device: mps (Apple GPU)"
    return f"pgan-kit device: cpu ({torch.get_num_threads()} threads; no GPU found, runs will be slower)"


def cache_dir() -> Path:
    """Where the kit caches rendered data and downloads: ``$PGAN_CACHE_DIR`` or ~/.cache/pgan-kit."""
    root = os.environ.get("PGAN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pgan-kit"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
