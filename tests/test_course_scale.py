"""Notebook 11's exercise checks: PASS on the reference, NOT DONE on the stub, FAIL (with the right hint) on
typical wrong answers."""
from __future__ import annotations

import math

import torch

from pgan_lib import acceleration
from pgan_lib.course import scale
from pgan_lib.profiling import training_state_bytes


def stub(*args):
    raise NotImplementedError()


# -- shard_indices ---------------------------------------------------------------------------------


def shard_ref(idx, rank, world):
    k = len(idx) // world
    return idx[rank * k:(rank + 1) * k]


def test_shard_check():
    assert scale.check_shard_indices(shard_ref, quiet=True).passed
    assert scale.check_shard_indices(stub, quiet=True).not_done
    strided = scale.check_shard_indices(lambda idx, r, w: idx[r::w], quiet=True)
    assert not strided.passed and "contiguous block" in strided.message
    whole = scale.check_shard_indices(lambda idx, r, w: idx, quiet=True)
    assert not whole.passed and "batch_size / world_size" in whole.message
    reversed_ranks = scale.check_shard_indices(lambda idx, r, w: shard_ref(idx, w - 1 - r, w), quiet=True)
    assert not reversed_ranks.passed and "rank-th block" in reversed_ranks.message
    assert not scale.check_shard_indices(lambda idx, r, w: shard_ref(idx, 0, w), quiet=True).passed


# -- lr_at ---------------------------------------------------------------------------------------------


def lr_ref(step, lr, batch, base, warm):
    return lr * math.sqrt(batch / base) * (min(1.0, (step + 1) / warm) if warm else 1.0)


def test_lr_check():
    assert scale.check_lr_at(lr_ref, quiet=True).passed
    assert scale.check_lr_at(stub, quiet=True).not_done
    cases = {
        "square root": lambda s, lr, b, b0, w: lr * (b / b0) * (min(1.0, (s + 1) / w) if w else 1.0),
        "upside down": lambda s, lr, b, b0, w: lr * math.sqrt(b0 / b) * (min(1.0, (s + 1) / w) if w else 1.0),
        "no warm-up": lambda s, lr, b, b0, w: lr * math.sqrt(b / b0),
        "one step late": lambda s, lr, b, b0, w: lr * math.sqrt(b / b0) * (min(1.0, s / w) if w else 1.0),
    }
    for hint, wrong in cases.items():
        result = scale.check_lr_at(wrong, quiet=True)
        assert not result.passed and hint in result.message, (hint, result.message)
    assert "returned None" in scale.check_lr_at(lambda *a: None, quiet=True).message


def test_lr_reference_is_the_trainers_rule():
    assert lr_ref(7, 2e-4, 256, 64, 10) == acceleration.scaled_lr(2e-4, 256, 64, "sqrt") * acceleration.warmup_factor(7, 10)


# -- training_state_bytes ---------------------------------------------------------------------------------


def test_memory_check():
    assert scale.check_training_state_bytes(training_state_bytes, quiet=True).passed
    assert scale.check_training_state_bytes(stub, quiet=True).not_done

    def times(k, numbers=False, frozen_too=False, float32=False):
        def f(m):
            ps = [p for p in m.parameters() if p.requires_grad or frozen_too]
            return k * sum(p.numel() * (1 if numbers else 4 if float32 else p.element_size()) for p in ps)
        return f

    for wrong, hint in ((times(1), "only the weights"), (times(2), "two moments"), (times(3), "missing"),
                        (times(4, numbers=True), "not bytes"), (times(4, frozen_too=True), "frozen"),
                        (times(4, float32=True), "element_size")):
        result = scale.check_training_state_bytes(wrong, quiet=True)
        assert not result.passed and hint in result.message, (hint, result.message)


def test_library_memory_count():
    lin = torch.nn.Linear(3, 2)
    assert training_state_bytes(lin) == 4 * 8 * 4
