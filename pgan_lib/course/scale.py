"""Checks for notebook 11 (training at scale): a data-parallel shard, the large-batch learning rate, training memory.

Exercises (references in ``pgan_lib.data.batches``, ``pgan_lib.acceleration``, ``pgan_lib.profiling``):

    shard_indices(idx, rank, world_size) -> (N / world_size,)
        the items of a global batch (N,) that process ``rank`` trains on: the rank-th of
        world_size equal contiguous blocks                                    check_shard_indices
    lr_at(step, lr, batch_size, base_batch_size, warmup_steps) -> float
        lr * sqrt(batch_size / base_batch_size) * min(1, (step + 1) / warmup_steps)
                                                                              check_lr_at
    training_state_bytes(module) -> int
        what Adam training holds for the trainable parameters: weights, gradients and
        Adam's two moments, in bytes                                          check_training_state_bytes
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import acceleration
from ..data.base import ProductData
from ..data.batches import BatchIterator
from ..profiling import training_state_bytes as library_training_state_bytes
from .check import Fail, as_tensor_or_fail, exercise_check, expect


def _reference_shard(idx: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """The kit's shard, taken from BatchIterator itself (not a copy of its arithmetic)."""
    n = len(idx)
    data = ProductData(name="ids", split="train", images=torch.zeros(n, 1, 1, 1, dtype=torch.uint8),
                       descriptions=[""] * n, labels=idx.clone(), class_names=["x"])
    it = BatchIterator(data, n, shuffle=False, shard=(rank, world))
    return next(iter(it)).y


@exercise_check("shard of a global batch")
def check_shard_indices(shard_indices) -> str:
    g = torch.Generator().manual_seed(11)
    for n, world in ((12, 2), (12, 3), (16, 4)):
        idx = torch.randperm(100, generator=g)[:n]
        shards = []
        for rank in range(world):
            out = as_tensor_or_fail(shard_indices(idx.clone(), rank, world), f"shard {rank} of {world}")
            ref = _reference_shard(idx, rank, world)
            if out.shape != ref.shape:
                raise Fail(f"shard {rank} of {world} for a batch of {n}: {out.numel()} items, expected {n // world} "
                           "(each process takes batch_size / world_size items)")
            if torch.equal(out, idx[rank::world]) and not torch.equal(out, ref):
                raise Fail("your shards interleave the batch (every world_size-th item): the kit gives each process "
                           "one contiguous block, the rank-th one")
            shards.append(out)
        both = torch.cat(shards)
        expect(sorted(both.tolist()) == sorted(idx.tolist()),
               f"with {world} processes the shards do not cover the batch exactly once (an item is missing or twice)")
        for rank, out in enumerate(shards):
            expect(torch.equal(out, _reference_shard(idx, rank, world)),
                   f"shard {rank} of {world} holds the right number of items but not the rank-th block")
    return "every rank takes its own block; together they are the global batch"


@exercise_check("large-batch learning rate")
def check_lr_at(lr_at) -> str:
    cases = [(0, 2e-4, 256, 64, 100), (49, 2e-4, 256, 64, 100), (99, 2e-4, 256, 64, 100), (500, 2e-4, 256, 64, 100),
             (3, 1e-3, 64, 64, 4), (10, 1e-3, 1024, 64, 0)]
    for step, lr, batch, base, warm in cases:
        out = lr_at(step, lr, batch, base, warm)
        if out is None:
            raise Fail("lr_at returned None; did you forget `return`?")
        try:
            v = float(out)
        except (TypeError, ValueError):
            raise Fail(f"lr_at should return a number, got {type(out).__name__}") from None
        want = acceleration.scaled_lr(lr, batch, base, "sqrt") * acceleration.warmup_factor(step, warm)
        if math.isclose(v, want, rel_tol=1e-6):
            continue
        w = acceleration.warmup_factor(step, warm)
        where = f"at step {step} (lr {lr:g}, batch {batch}, base {base}, warm-up {warm})"
        if math.isclose(v, acceleration.scaled_lr(lr, batch, base, "linear") * w, rel_tol=1e-6):
            raise Fail(f"{where}: the rate grows with the batch size itself; the rule here grows with its square root")
        if math.isclose(v, lr * math.sqrt(base / batch) * w, rel_tol=1e-6):
            raise Fail(f"{where}: the ratio is upside down: a larger batch gets a larger rate")
        if math.isclose(v, acceleration.scaled_lr(lr, batch, base, "sqrt"), rel_tol=1e-6):
            raise Fail(f"{where}: no warm-up: the first steps should use a share of the rate")
        if warm and math.isclose(v, acceleration.scaled_lr(lr, batch, base, "sqrt") * min(1.0, step / warm), rel_tol=1e-6):
            raise Fail(f"{where}: the warm-up is one step late: step 0 (the first) already takes 1 / warmup_steps "
                       "of the rate, so that no step is taken with rate 0")
        raise Fail(f"{where}: {v:.4g} is not the rate the rule gives")
    return "square-root scaling and the linear warm-up, at every step"


class _Frozen(nn.Module):
    """A small network with a frozen part (a pre-trained encoder, say) and a float16 layer."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(10, 6).requires_grad_(False)
        self.head = nn.Linear(6, 3)
        self.extra = nn.Linear(3, 3).half()


def _bytes(module: nn.Module, copies: int, trainable_only: bool = True, size: int | None = None) -> int:
    """copies x the parameters' bytes (``size`` bytes per number when given; frozen ones too unless trainable_only)."""
    ps = [p for p in module.parameters() if p.requires_grad or not trainable_only]
    return copies * sum(p.numel() * (p.element_size() if size is None else size) for p in ps)


#: Typical wrong answers, each told apart from the others on the three test networks.
_WRONG = (
    (lambda m: _bytes(m, 1), "only the weights: gradients and Adam's two moments are as large again, each"),
    (lambda m: _bytes(m, 2), "weights and gradients: Adam also keeps two moments per weight"),
    (lambda m: _bytes(m, 3), "one of the four copies is missing (weights, gradients, first and second moments)"),
    (lambda m: _bytes(m, 4, size=1), "you counted numbers, not bytes: multiply by each tensor's element_size()"),
    (lambda m: _bytes(m, 1, size=1), "you counted numbers, not bytes: multiply by each tensor's element_size()"),
    (lambda m: _bytes(m, 4, trainable_only=False), "frozen parameters (requires_grad False) have no gradient and "
                                                   "no optimiser state"),
    (lambda m: _bytes(m, 4, size=4), "not every tensor is float32: use each tensor's own element_size()"),
)


@exercise_check("training memory")
def check_training_state_bytes(training_state_bytes) -> str:
    modules = (nn.Linear(7, 5).double(), nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)), _Frozen())
    outs = []
    for module in modules:
        out = training_state_bytes(module)
        if out is None:
            raise Fail("your function returned None; did you forget `return`?")
        try:
            outs.append(int(out))
        except (TypeError, ValueError):
            raise Fail(f"expected a whole number of bytes, got {type(out).__name__}") from None
    if outs == [library_training_state_bytes(m) for m in modules]:
        return "weights, gradients and both moments of the trainable parameters, in bytes"
    for formula, hint in _WRONG:
        if outs == [formula(m) for m in modules]:
            raise Fail(hint)
    raise Fail(f"{outs[0]} bytes for a 7 -> 5 linear layer in float64: not what Adam training holds for it")


__all__ = ["check_shard_indices", "check_lr_at", "check_training_state_bytes"]
