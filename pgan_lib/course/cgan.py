"""Checks for notebook 04 (the class-conditional GAN): the projection discriminator and the EMA update.

Exercises (references in ``pgan_lib.models.gan``):

    projection_logit(D, x, labels) -> (N,)   D(x, y) = w . phi(x) + b + e(y) . phi(x)
                                             from D.phi, D.out and D.condition      check_projection_logit
    ema_update(ema, live, decay) -> None     theta_ema <- decay * theta_ema + (1 - decay) * theta, in place,
                                             for every weight and float buffer (BatchNorm statistics)
                                                                                     check_ema_update

The projection check uses a small label-conditioned ``Discriminator`` with
trained-looking (random, seeded) projection vectors; the EMA check uses two
small networks with BatchNorm whose weights and statistics differ.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models import gan as Gm
from ..models.ema import ema_update as library_ema_update
from ..text import LabelEncoder
from .check import Fail, as_tensor_or_fail, compare, exercise_check, expect, rel_error


def small_discriminator(seed: int = 0) -> Gm.Discriminator:
    """A label-conditioned kit discriminator (width 16, spectral norm), seeded, eval mode."""
    torch.manual_seed(seed)
    D = Gm.Discriminator(Gm.GANConfig(cond="label", d_width=16)).eval()
    with torch.no_grad():                      # class vectors as large as after training, so the term shows
        assert isinstance(D.condition, LabelEncoder)
        D.condition.embed.weight.normal_(0, 1.0)
    return D


@exercise_check("projection logit")
def check_projection_logit(projection_logit) -> str:
    D = small_discriminator()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(10, 1, 28, 28, generator=g) * 2 - 1
    y = torch.arange(10)
    with torch.no_grad():
        ref = D(x, y)
        out = as_tensor_or_fail(projection_logit(D, x.clone(), y.clone()), "D(x, y)")
        if out.shape == ref.shape and torch.isfinite(out).all():
            h = D.phi(x)
            uncond = D.out(h).squeeze(1)
            assert D.condition is not None
            proj = (D.condition(y) * h).sum(1)
            if rel_error(out, uncond) < 1e-5:
                raise Fail("your logit ignores the label: the projection term e(y) . phi(x) is missing")
            if rel_error(out, proj) < 1e-5:
                raise Fail("a term is missing: the unconditional term w . phi(x) + b (D.out)")
            if rel_error(out, uncond - proj) < 1e-5:
                raise Fail("sign: the projection term is added, not subtracted")
        # does the answer depend on the label as it should? (a constant class vector would not)
        out2 = as_tensor_or_fail(projection_logit(D, x.clone(), (y + 1) % 10), "D(x, y)")
    if out.shape == (len(x), 1):
        raise Fail(f"D(x, y): shape {tuple(out.shape)}; return one score per image, (N,) (squeeze the last axis)")
    compare(out, ref, "D(x, y)")
    compare(out2, D(x, (y + 1) % 10).detach(), "D(x, y) for other labels")
    return "matches the kit discriminator's score for every class"


class _Tiny(nn.Module):
    """(N, 3) -> (N, 2) with a BatchNorm: weights, float buffers and an integer buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.out = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.bn(self.lin(x))))


def _pair() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    ema, live = _Tiny(), _Tiny()
    live.train()
    with torch.no_grad():
        live(torch.randn(16, 3) * 3 + 1)       # live's BatchNorm statistics move away from ema's
        for p in live.parameters():             # and every weight differs (BatchNorm's start equal)
            p.add_(torch.randn_like(p) * 0.5)
    return ema, live


def _state(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


@exercise_check("EMA update")
def check_ema_update(ema_update) -> str:
    decay = 0.9
    ema, live = _pair()
    ref_ema, _ = _pair()
    library_ema_update(ref_ema, live, decay)
    before, live_before = _state(ema), _state(live)
    ema_update(ema, live, decay)
    after, want = _state(ema), _state(ref_ema)
    expect(all(torch.equal(live_before[k], v) for k, v in _state(live).items()),
           "the live network changed: only the EMA copy is updated")
    weights = [k for k, v in before.items() if v.is_floating_point() and "running" not in k]
    expect(any(not torch.equal(before[k], after[k]) for k in weights),
           "the EMA weights did not change: update them in place (p.copy_(...), p.mul_(...).add_(...), lerp_), "
           "assigning a new tensor to a loop variable changes nothing")
    for k in weights:
        swapped = (1 - decay) * before[k] + decay * live_before[k]
        if torch.allclose(after[k], swapped, atol=1e-6) and not torch.allclose(after[k], want[k], atol=1e-6):
            raise Fail(f"{k}: decay and 1 - decay are swapped: the average keeps {decay:.0%} of its old value")
        if torch.allclose(after[k], live_before[k], atol=1e-6):
            raise Fail(f"{k}: the EMA copy became the live weights: that is a copy, not an average")
        compare(after[k], want[k], f"weight {k}", tol=1e-5)
    for k in before:
        if "running" in k:
            if torch.equal(after[k], before[k]):
                raise Fail(f"{k} was not averaged: BatchNorm's running statistics are buffers, not parameters; "
                           "average them too (module.buffers())")
            compare(after[k], want[k], f"buffer {k}", tol=1e-5)
        if k.endswith("num_batches_tracked"):
            expect(torch.equal(after[k], want[k]), f"{k}: integer buffers are copied, not averaged")
    return "weights and BatchNorm statistics averaged in place with the right weights"


__all__ = ["check_projection_logit", "check_ema_update", "small_discriminator"]
