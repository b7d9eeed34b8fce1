"""Checks for notebook 05 (text to image): masked mean pooling and the symmetric InfoNCE loss.

Exercises (references: ``pgan_lib.text.encoder.masked_mean``, ``pgan_lib.models.clip.contrastive_loss``):

    masked_mean(words, keep) -> (N, d)          mean of the word vectors over the words only,
                                                a row without words gives zeros       check_masked_mean
    info_nce(u, v, scale) -> ()                 L = 1/2 [mean_i CE(S_i., i) + mean_j CE(S_.j, j)],
                                                S = scale * u v^T (unit rows)         check_info_nce

Both are compared with the library on small fixed inputs; the hints say which
part is off (padding counted, one direction missing, the temperature, a sum
instead of a mean) without giving the formula away.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.clip import contrastive_loss
from ..text.encoder import masked_mean
from .check import Fail, as_tensor_or_fail, compare, exercise_check, expect


def _pooling_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    words = torch.randn(4, 7, 6, generator=g)                    # (N, L, d)
    lengths = torch.tensor([7, 3, 1, 5])                         # words per row; the rest is padding
    keep = torch.arange(7)[None, :] < lengths[:, None]           # (N, L) True at words
    words = words.masked_fill(~keep[..., None], 2.5)             # padding rows hold junk, as in a real encoder
    return words, keep


@exercise_check("masked_mean")
def check_masked_mean(masked_mean_fn) -> str:
    words, keep = _pooling_inputs()
    out = as_tensor_or_fail(masked_mean_fn(words.clone(), keep.clone()), "pooled")
    ref = masked_mean(words, keep)
    if out.shape == words.shape[:2]:
        raise Fail(f"pooled: shape {tuple(out.shape)}: average over the words (axis 1), not over the features")
    expect(out.shape == ref.shape, f"pooled: shape {tuple(out.shape)}, expected {tuple(ref.shape)} (one vector per description)")
    try:
        compare(out, ref, "pooled")
    except Fail:
        o, m = out.detach().double(), keep[..., None].double()              # name the usual mistakes
        if torch.allclose(o, words.double().mean(1), atol=1e-5):
            raise Fail("pooled: the padding positions are averaged in as well; use only the positions where keep "
                       "is True") from None
        if torch.allclose(o, (words.double() * m).sum(1), atol=1e-5):
            raise Fail("pooled: that is the sum over the words; divide by how many words each row has") from None
        if torch.allclose(o, (words.double() * m).sum(1) / words.shape[1], atol=1e-5):
            raise Fail("pooled: divided by the padded length L for every row; divide by each row's own number "
                       "of words") from None
        raise
    # padding must not change anything: the same words with more padding
    more = torch.cat([words, torch.full((4, 3, 6), -7.0)], 1)
    more_keep = torch.cat([keep, torch.zeros(4, 3, dtype=torch.bool)], 1)
    compare(masked_mean_fn(more, more_keep), ref, "pooled, with three more padding positions")
    # a description without a single known word: zeros, not nan
    empty = as_tensor_or_fail(masked_mean_fn(words[:1].clone(), torch.zeros(1, 7, dtype=torch.bool)), "pooled")
    expect(bool(torch.isfinite(empty).all()), "a row without any word gives nan: keep the divisor at least 1")
    compare(empty, torch.zeros(1, 6), "pooled, a row without words")
    return "matches the encoder's pooling; padding never changes it; a row without words gives zeros"


def _nce_inputs() -> tuple[torch.Tensor, torch.Tensor, float]:
    g = torch.Generator().manual_seed(11)
    u = F.normalize(torch.randn(6, 8, generator=g), dim=1)
    v = F.normalize(u + 0.8 * torch.randn(6, 8, generator=g), dim=1)   # matching pairs, roughly aligned
    return u, v, 7.0


def _diagnose_info_nce(value: float, u: torch.Tensor, v: torch.Tensor, scale: float) -> None:
    """Raise Fail naming the mistake when ``value`` is a known wrong version of the loss."""
    s = scale * u @ v.T
    target = torch.arange(len(u))
    i2t, t2i = float(F.cross_entropy(s, target)), float(F.cross_entropy(s.T, target))
    unscaled = u @ v.T
    no_scale = float(F.cross_entropy(unscaled, target) + F.cross_entropy(unscaled.T, target)) / 2
    if abs(value - i2t) < 1e-5 or abs(value - t2i) < 1e-5:
        raise Fail("loss: only one direction: average image->text (softmax over each row of S) and text->image "
                   "(over each column)")
    if abs(value - no_scale) < 1e-5:
        raise Fail("loss: the inverse temperature `scale` is missing; the similarities are multiplied by it")
    if abs(value - (i2t + t2i)) < 1e-5:
        raise Fail("loss: twice too large: the two directions are averaged, not added")
    if abs(value - (i2t + t2i) / 2 * len(u)) < 1e-4:
        raise Fail("loss: a sum over the batch; take the mean over the pairs")


@exercise_check("info_nce")
def check_info_nce(info_nce) -> str:
    u, v, scale = _nce_inputs()
    out = as_tensor_or_fail(info_nce(u.clone(), v.clone(), scale), "loss")
    ref = contrastive_loss(u, v, scale)
    if out.ndim == 1 and out.shape[0] == len(u):
        raise Fail(f"loss: shape {tuple(out.shape)}: one number per pair; average over the batch to get one loss")
    expect(out.numel() == 1, f"loss: shape {tuple(out.shape)}, expected a single number")
    out = out.reshape(())
    try:
        compare(out, ref, "loss")
    except Fail:
        _diagnose_info_nce(float(out), u, v, scale)
        raise
    # behaviour: perfectly matched, well separated pairs give a loss near 0; swapped pairs a large one
    eye = torch.eye(6, 8)
    good = float(as_tensor_or_fail(info_nce(eye, eye.clone(), 20.0), "loss"))
    bad = float(as_tensor_or_fail(info_nce(eye, eye.roll(1, 0), 20.0), "loss"))
    expect(good < 0.01 < 10 < bad, "matched pairs should give a loss near 0 and mismatched ones a large loss: "
                                   "is the target the diagonal (pair i with pair i)?")
    return "matches the library's symmetric InfoNCE; near 0 for matched pairs, large for mismatched ones"


__all__ = ["check_masked_mean", "check_info_nce"]
