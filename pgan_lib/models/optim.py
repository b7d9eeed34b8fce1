"""Optimisers that take one step for all of a network's parameters at once.

A small network's optimiser step is dominated by per-parameter overhead: Adam
touches every tensor five times, and a Python loop over tens of tensors costs
more than the arithmetic. PyTorch has two faster implementations of the same
update,

    fused     one kernel (CUDA) or one vectorised C++ loop (CPU) for every tensor
    foreach   one ``torch._foreach_*`` call per operation over the list of tensors

and ``adam`` picks the fastest one this build supports on the parameters' device:
fused where available (CUDA, and the CPU since PyTorch 2.4), else foreach. The
update is the same Adam; only the order of floating-point operations differs.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

#: Forced choice for tests and benchmarks: None (pick), "fused", "foreach" or "loop" (PyTorch's for-loop).
FORCE_IMPLEMENTATION: str | None = None


def fused_supported(device: torch.device) -> bool:
    """Whether ``torch.optim.Adam(fused=True)`` runs on ``device`` in this PyTorch build."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    try:
        from torch.optim.optimizer import _get_fused_kernels_supported_devices  # private: may move

        return "cpu" in _get_fused_kernels_supported_devices()
    except ImportError:  # pragma: no cover - older PyTorch
        return False


def implementation(device: torch.device) -> str:
    """"fused", "foreach" or "loop": which Adam implementation ``adam`` uses on ``device``."""
    if FORCE_IMPLEMENTATION is not None:
        return FORCE_IMPLEMENTATION
    return "fused" if fused_supported(device) else "foreach"


def fast_kwargs(params: list[Any]) -> dict[str, bool]:
    """``fused=True`` or ``foreach=True`` (or neither) for an optimiser over ``params``."""
    first = next((p for g in params for p in (g["params"] if isinstance(g, dict) else [g])), None)
    if first is None:
        return {}
    kind = implementation(first.device)
    return {"fused": True} if kind == "fused" else {"foreach": True} if kind == "foreach" else {"foreach": False}


def adam(params: Iterable[Any], lr: float, betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0,
         decoupled: bool = False) -> torch.optim.Optimizer:
    """Adam (AdamW when ``decoupled``) over ``params`` (tensors or param-group dicts), in its fastest implementation."""
    params = list(params)
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    return cls(params, lr=lr, betas=betas, weight_decay=weight_decay, **fast_kwargs(params))
