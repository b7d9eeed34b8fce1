"""An exponential moving average (EMA) of a network's weights: the copy that GANs sample from.

    theta_ema <- d * theta_ema + (1 - d) * theta          after every training step

The average is smoother than the live weights, which keep moving around the
equilibrium of the two-player game, so samples from it are steadier and
usually better (Yazici et al. 2019). Early in training the decay is kept low,

    d(step) = min(decay, (1 + step) / (10 + step))

so the average forgets the random initial weights within a few dozen steps.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def ema_copy(live: nn.Module) -> nn.Module:
    """A frozen copy of ``live`` to hold the average (same weights to begin with, no gradients, eval mode)."""
    return copy.deepcopy(live).requires_grad_(False).eval()


def ema_decay_at(step: int, decay: float) -> float:
    """The decay used after ``step``: min(decay, (1 + step) / (10 + step))."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def ema_update(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta for every weight and float buffer of ``live``.

    Written as theta_ema <- lerp(theta_ema, theta, 1 - decay), on all tensors at once; integer
    buffers (BatchNorm's batch counter) are copied.
    """
    e_params: list[torch.Tensor] = list(ema.parameters())
    l_params: list[torch.Tensor] = list(live.parameters())
    for e, t in zip(ema.buffers(), live.buffers()):
        if e.is_floating_point():
            e_params.append(e)
            l_params.append(t)
        else:
            e.copy_(t)
    torch._foreach_lerp_(e_params, l_params, 1.0 - decay)
