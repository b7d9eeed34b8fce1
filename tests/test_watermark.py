"""The watermark: blind decoding of 32-bit payloads in 28x28 grey and 32x32 colour images, invisibility,
robustness to JPEG / resize / noise, false matches on unmarked images, and the PGD removal and forgery."""
from __future__ import annotations

import math

import pytest
import torch

from pgan_lib import watermark as wm
from pgan_lib.data import load_dataset


@pytest.fixture(scope="module")
def catalogue():
    return load_dataset("catalog", "test", limit=64).float_images()


def _smooth_images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    """Blobs on a plain background: product-like images with edges, no data files needed."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    out = torch.zeros(n, c, size, size)
    for i in range(n):
        cy, cx, r = (torch.rand(3, generator=gen) * torch.tensor([size / 2, size / 2, size / 4]) + size / 4).tolist()
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2).float()
        colour = torch.rand(c, 1, 1, generator=gen) * 0.7 + 0.15
        out[i] = 0.9 * (1 - mask) + colour * mask
    return torch.round(out * 255) / 255


def test_payload_bits_round_trip():
    bits = wm.payload_bits(0xBEEF, 123456)
    assert bits.shape == (32,) and set(bits.tolist()) <= {0, 1}
    assert wm.bits_to_int(bits) == (0xBEEF << 16) | (123456 & 0xFFFF)
    assert 0 <= wm.model_id_of("fashion-cgan") < 2 ** 16
    with pytest.raises(ValueError, match="model_id"):
        wm.payload_bits(70000, 0)


@pytest.mark.parametrize("c,size", [(1, 28), (3, 32)])
def test_clean_decode_is_exact_and_invisible(c, size):
    x = _smooth_images(16, c, size)
    bits = torch.randint(0, 2, (16, 32), generator=torch.Generator().manual_seed(1))
    y = wm.embed(x, bits)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert torch.allclose(y * 255, torch.round(y * 255), atol=1e-4)          # on the uint8 grid
    assert wm.psnr(y, x).mean() >= 38
    d = wm.decode(y)
    assert wm.bit_accuracy(d.bits, bits).mean() == 1.0
    assert (d.fit > 0.9).all()
    assert wm.matches(y, bits).all()
    other = 1 - bits
    assert not wm.matches(y, other).any()                                 # the wrong payload is not "found"


def test_catalogue_targets_under_everyday_attacks(catalogue):
    x = catalogue
    bits = torch.randint(0, 2, (len(x), 32), generator=torch.Generator().manual_seed(2))
    y = wm.embed(x, bits)
    assert wm.psnr(y, x).mean() >= 38
    for name, attack in wm.ATTACKS.items():
        acc = wm.bit_accuracy(wm.decode(attack(y)).bits, bits).mean()
        assert acc >= (0.99 if name == "clean" else 0.90), f"{name}: bit accuracy {acc:.3f}"


def test_unmarked_images_rarely_match(catalogue):
    bits = torch.randint(0, 2, (len(catalogue), 32), generator=torch.Generator().manual_seed(3))
    assert wm.matches(catalogue, bits).float().mean() <= 0.05
    assert wm.decode(catalogue).fit.mean() < 0.3
    assert math.isclose(wm.false_match_rate(24), sum(math.comb(32, k) for k in range(24, 33)) / 2 ** 32)
    assert wm.false_match_rate(32) == 2.0 ** -32


def test_other_key_reads_nothing():
    x = _smooth_images(8, 3, 32)
    bits = torch.randint(0, 2, (8, 32), generator=torch.Generator().manual_seed(4))
    y = wm.embed(x, bits)
    other = wm.WatermarkConfig.for_size(32, key=1)
    acc = wm.bit_accuracy(wm.decode(y, other).bits, bits).mean()
    assert 0.3 < acc < 0.7


def test_attacks_change_the_images():
    x = _smooth_images(4, 3, 32)
    for f in (wm.jpeg, wm.resize_down_up, wm.gaussian_noise, wm.blur):
        out = f(x)
        assert out.shape == x.shape and 0 < (out - x).abs().max() < 0.5


def test_pgd_removes_and_forges_within_budget():
    x = _smooth_images(8, 1, 28, seed=5)
    bits = torch.randint(0, 2, (8, 32), generator=torch.Generator().manual_seed(6))
    y = wm.embed(x, bits)
    eps = 4 / 255
    removed = wm.remove_pgd(y, bits, eps=eps, steps=30)
    assert (removed - y).abs().max() <= eps + 1e-6
    assert wm.matches(removed, bits).float().mean() < wm.matches(y, bits).float().mean()
    target = wm.payload_bits(wm.model_id_of("fashion-cgan"), 1)
    assert not wm.matches(x, target).any()
    forged = wm.forge_pgd(x, target, eps=eps, steps=30)
    assert (forged - x).abs().max() <= eps + 1e-6
    assert wm.matches(forged, target).float().mean() >= 0.5


def test_bad_shapes_are_explained():
    with pytest.raises(ValueError, match="28, 28"):
        wm.decode(torch.zeros(2, 1, 28, 20), wm.WatermarkConfig.for_size(28))
    with pytest.raises(ValueError, match="bits must be"):
        wm.embed(torch.zeros(2, 1, 28, 28), torch.zeros(3, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="band"):
        wm.WatermarkConfig(band=(1, 3))


def test_notebook_exercise_check_for_the_decoder(capsys):
    from pgan_lib.course.responsible import check_decoder

    def right(lum, W, d, step):
        return torch.round((lum @ W - d) / (step / 2)).long().remainder(2)

    def floor_instead_of_round(lum, W, d, step):
        return torch.floor((lum @ W - d) / (step / 2)).long().remainder(2)

    def todo(lum, W, d, step):
        raise NotImplementedError

    assert check_decoder(right) and "PASS" in capsys.readouterr().out
    assert not check_decoder(floor_instead_of_round) and "FAIL" in capsys.readouterr().out
    assert not check_decoder(todo) and "not written yet" in capsys.readouterr().out
