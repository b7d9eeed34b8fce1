"""The trainer's opt-in speed settings: compile, channels-last, bf16 autocast, and the large-batch LR rule.

Small GANs are bound by per-step overhead (kernel launches, Python, host syncs) more
than by arithmetic. What the trainer can do about it, each switched on in ``TrainConfig``:

    compile         torch.compile each trained network (fewer, fused kernels); with
                    compile_mode="reduce-overhead" on CUDA also CUDA graphs (one launch
                    for a whole forward). Where compiling is impossible (no C compiler,
                    an unsupported platform) the run warns and trains uncompiled.
    channels_last   4-D weights and batches stored as (N, H, W, C) in memory: the layout
                    tensor cores and oneDNN convolutions prefer.
    amp / amp_cpu   bf16 autocast on CUDA (on by default) / on the CPU (opt-in).

The large-batch learning-rate rule (``lr_scaling``, ``base_batch_size``, ``warmup_steps``):

    lr(B) = lr * (B / B0) ** p         p = 1/2 ("sqrt"), 1 ("linear") or 0 ("none")
    lr_t  = lr(B) * min(1, (t + 1) / warmup_steps)     for the first warmup_steps steps

A batch k times larger averages away k times the gradient variance, so the same number
of images supports a larger step; for Adam the square root is the usual safe choice
(the gradient's noise scale grows as sqrt(B)), and the warm-up keeps the first, large
steps from throwing a GAN's two players out of balance.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import torch
from torch import nn

LR_SCALINGS = {"none": 0.0, "sqrt": 0.5, "linear": 1.0}

_compile_probe: dict[str, tuple[bool, str]] = {}


def scaled_lr(lr: float, batch_size: int, base_batch_size: int, rule: str) -> float:
    """lr * (batch_size / base_batch_size) ** p with p from ``rule`` ("none", "sqrt", "linear")."""
    if rule not in LR_SCALINGS:
        raise ValueError(f"lr_scaling {rule!r}: use one of {', '.join(LR_SCALINGS)}.")
    return lr * (batch_size / base_batch_size) ** LR_SCALINGS[rule]


def warmup_factor(step: int, warmup_steps: int) -> float:
    """min(1, (step + 1) / warmup_steps): the share of the learning rate used at ``step`` (counted from 0)."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, cosine: bool) -> float:
    """Warm-up, then (with ``cosine``) (1 + cos(pi * step / total)) / 2: the LambdaLR factor at ``step``."""
    f = warmup_factor(step, warmup_steps)
    if cosine:
        f *= 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
    return f


def autocast(device: torch.device, amp_cuda: bool, amp_cpu: bool) -> Any:
    """bf16 autocast on CUDA when ``amp_cuda``, on the CPU when ``amp_cpu``; else a no-op context."""
    if device.type == "cuda" and amp_cuda:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and amp_cpu:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_channels_last(module: nn.Module) -> nn.Module:
    """Every 4-D weight and buffer of ``module`` in channels-last memory layout (values unchanged)."""
    return module.to(memory_format=torch.channels_last)


def channels_last_batch(x: torch.Tensor) -> torch.Tensor:
    """A 4-D batch (N, C, H, W) stored channels-last; other tensors as they are."""
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x


def compile_available(device: torch.device) -> tuple[bool, str]:
    """Whether torch.compile works here: compiles and runs a two-operation function once per device type.

    Returns (True, "") or (False, the reason). The answer is cached per device type.
    """
    key = device.type
    if key not in _compile_probe:
        try:
            fn = torch.compile(lambda t: torch.relu(t * 2.0 + 1.0))
            out = fn(torch.linspace(-1, 1, 8, device=device))
            ok = bool(torch.allclose(out.cpu(), torch.relu(torch.linspace(-1, 1, 8) * 2.0 + 1.0)))
            _compile_probe[key] = (ok, "" if ok else "compiled code gave a wrong answer")
        except Exception as err:  # any failure (no compiler, unsupported platform) means: do not compile
            _compile_probe[key] = (False, f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}")
    return _compile_probe[key]


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


def compile_networks(model: Any, names: tuple[str, ...], device: torch.device, mode: str = "default") -> list[str]:
    """torch.compile the networks ``names`` of ``model`` in place (``nn.Module.compile``: the state dict keeps its keys).

    Returns the names compiled: none, with a warning naming the reason, where compiling
    does not work on this machine or the model lists no networks.
    """
    if not names:
        warnings.warn(f"compile: {type(model).__name__} lists no networks to compile; training uncompiled.", stacklevel=2)
        return []
    ok, reason = compile_available(device)
    if not ok:
        warnings.warn(f"compile: torch.compile does not work on this machine ({reason}); training uncompiled. "
                      "Set compile=False to silence this.", stacklevel=2)
        return []
    import torch._dynamo  # the compiler's settings; loaded only when compiling

    torch._dynamo.config.suppress_errors = True   # a graph that fails to compile later runs eagerly, not a crash
    for name in names:
        getattr(model, name).compile(mode=mode)
    return list(names)
