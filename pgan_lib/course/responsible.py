"""Checks for the exercises of notebook 12 (responsible generation).

Each ``check_*`` runs the student's function on fixed inputs, compares it with the
library (``pgan_lib.watermark``, ``pgan_lib.eval.detection``) and prints one line:
``PASS: ...`` or ``FAIL: ...`` with a hint. It returns True or False.
"""
from __future__ import annotations

from typing import Callable

import torch

from .. import watermark as wm
from ..eval import detection as D


def _fail(message: str) -> bool:
    print(f"FAIL: {message}")
    return False


def check_decoder(decoder: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """``decoder(luminance (N, P), W (P, 32), dither (32,), step) -> bits (N, 32)``, against ``watermark.decode``
    on 12 marked 32x32 images (and on the same images after JPEG, where the readings are not exactly on a lattice)."""
    gen = torch.Generator().manual_seed(12)
    x = torch.rand(12, 3, 32, 32, generator=gen) * 0.3 + 0.4
    bits = torch.randint(0, 2, (12, 32), generator=gen)
    cfg = wm.WatermarkConfig.for_size(32)
    W, dither, step = wm.reading_parts(cfg)
    for name, images in (("clean", wm.embed(x, bits, cfg)), ("JPEG q75", wm.jpeg(wm.embed(x, bits, cfg)))):
        lum = wm.luminance(images.double())
        try:
            got = decoder(lum, W, dither, step)
        except NotImplementedError:
            return _fail("the decoder is not written yet (it raises NotImplementedError)")
        got = torch.as_tensor(got)
        if got.shape != (12, 32):
            return _fail(f"{name}: expected bits of shape (12, 32), got {tuple(got.shape)}; one row per image")
        want = torch.round(((lum @ W) - dither) / (step / 2)).long().remainder(2)
        if not torch.equal(got.long(), want):
            wrong = int((got.long() != want).sum())
            hint = ("project first: c = luminance @ W gives 32 numbers per image" if name == "clean" else
                    "round to the nearest lattice point: which multiple of step/2 above the dither is closest?")
            return _fail(f"{name}: {wrong} of {want.numel()} bits differ from the library's reading. Hint: {hint}")
    print("PASS: your decoder reads the same 32 bits as the library, clean and after JPEG")
    return True


def check_threshold(choose: Callable[[torch.Tensor, torch.Tensor], float]) -> bool:
    """``choose(scores (N,), labels (N,)) -> threshold`` must reach the best balanced accuracy on fixed scores."""
    gen = torch.Generator().manual_seed(3)
    scores = torch.cat([torch.randn(300, generator=gen) - 1.0, torch.randn(100, generator=gen) * 0.7 + 0.8])
    labels = torch.cat([torch.zeros(300, dtype=torch.long), torch.ones(100, dtype=torch.long)])
    try:
        thr = float(choose(scores, labels))
    except NotImplementedError:
        return _fail("the threshold choice is not written yet (it raises NotImplementedError)")
    best = D.balanced_accuracy(scores, labels, D.choose_threshold(scores, labels))
    got = D.balanced_accuracy(scores, labels, thr)
    if got < best - 1e-9:
        plain = sum(((scores > thr) == labels.bool()).tolist()) / len(labels)
        hint = ("the classes are unbalanced (300 real, 100 generated): maximise (TPR + TNR) / 2, not the plain "
                "accuracy" if plain >= D.balanced_accuracy(scores, labels, 0.0) else
                "try every midpoint between two sorted scores and keep the best")
        return _fail(f"balanced accuracy {got:.3f} at your threshold {thr:.3f}, the best is {best:.3f}. Hint: {hint}")
    print(f"PASS: threshold {thr:.3f} reaches the best balanced accuracy {best:.3f}")
    return True
