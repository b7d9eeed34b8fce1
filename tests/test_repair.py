"""Image repair: masks, the composite step, the U-Net and PatchGAN, repair metrics, classical
baselines, a quick end-to-end training run, the command line and the shipped repair models."""
import math

import numpy as np
import pytest
import torch

from pgan_lib.cli import main as pgan
from pgan_lib.data.base import ProductData
from pgan_lib.data.masks import (
    FILL,
    border_band,
    box_mask,
    brush_strokes,
    centre_box,
    composite,
    damage,
    half,
    make_masks,
    random_boxes,
)
from pgan_lib.eval import metrics as M
from pgan_lib.eval import repair as R
from pgan_lib.models.classical import biharmonic, mean_fill
from pgan_lib.models.pix2pix import Pix2Pix, Pix2PixConfig, receptive_field, sr_input
from pgan_lib.train import TrainConfig, Trainer

torch.set_num_threads(1)


# -- masks ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["centre", "boxes", "strokes", "half", "half-right", "full", "centre:2,strokes:1"])
def test_masks_are_binary_deterministic_and_shaped(kind):
    a = make_masks(kind, 16, 28, seed=3)
    b = make_masks(kind, 16, 28, seed=3)
    assert a.shape == (16, 1, 28, 28) and a.dtype == torch.float32
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, b)
    if kind in ("boxes", "strokes", "centre:2,strokes:1"):
        assert not torch.equal(a, make_masks(kind, 16, 28, seed=4))
        assert (a.flatten(1).sum(1) > 0).all()              # no empty hole
        assert (a.flatten(1).mean(1) < 1).all()             # never everything


def test_centre_box_is_a_quarter_and_half_is_half():
    m = centre_box(2, 28)
    assert m[0, 0].sum() == 14 * 14 and m[0, 0, 7:21, 7:21].all()
    assert centre_box(1, 32)[0, 0].sum() == 16 * 16
    assert half(1, 32, "right")[0, 0, :, 16:].all() and half(1, 32, "right")[0, 0, :, :16].sum() == 0
    with pytest.raises(ValueError, match="side"):
        half(1, 32, "middle")


def test_box_mask_and_its_errors():
    m = box_mask(28, 2, 3, 5, 4)
    assert m.sum() == 20 and m[0, 0, 3:7, 2:7].all()
    assert box_mask(28, 25, 25, 10, 10).sum() == 9          # clipped to the image
    with pytest.raises(ValueError, match="outside"):
        box_mask(28, 30, 0, 5, 5)
    with pytest.raises(ValueError, match="at least 1"):
        box_mask(28, 0, 0, 0, 5)


def test_strokes_and_boxes_vary_within_a_batch():
    for fn in (random_boxes, brush_strokes):
        m = fn(8, 32, seed=0)
        assert len({tuple(x.flatten().tolist()) for x in m}) > 1


def test_unknown_mask_kind_is_refused():
    with pytest.raises(ValueError, match="unknown mask kind"):
        make_masks("circle", 2, 28)


# -- damage and composite ----------------------------------------------------------------------

def test_damage_fills_the_hole_with_the_neutral_value():
    x = torch.rand(3, 1, 28, 28)
    m = centre_box(3, 28)
    d = damage(x, m)
    assert torch.all(d[m.expand_as(d) > 0] == FILL)
    assert torch.equal(d[m.expand_as(d) == 0], x[m.expand_as(x) == 0])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_composite_keeps_outside_pixels_exactly(dtype):
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(4, 3, 32, 32, generator=gen) * 255).to(dtype)
    out = (torch.rand(4, 3, 32, 32, generator=gen) * 255).to(dtype)
    m = make_masks("strokes", 4, 32, seed=1)
    y = composite(x, out, m)
    outside = (m == 0).expand_as(x)
    assert torch.equal(y[outside], x[outside])
    assert torch.equal(y[~outside], out[~outside])
    assert torch.equal(composite(x, out, m[:, 0]), y)        # (N, H, W) masks too
    with pytest.raises(ValueError, match="agree"):
        composite(x, out, m[..., :16])


def test_border_band_lies_inside_the_hole_next_to_the_kept_part():
    m = centre_box(1, 28)
    band = border_band(m, 2)
    assert (band <= m).all()
    assert band[0, 0, 7, 7] == 1 and band[0, 0, 14, 14] == 0
    assert band.sum() == 14 * 14 - 10 * 10


# -- networks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("size,channels,upsample", [(28, 1, "resize"), (32, 3, "resize"), (28, 1, "transposed"),
                                                   (64, 3, "resize")])
def test_unet_and_patchgan_shapes(size, channels, upsample):
    model = Pix2Pix(Pix2PixConfig(channels=channels, size=size, width=8, d_width=8, upsample=upsample))
    x = torch.rand(2, channels, size, size)
    m = centre_box(2, size)
    u = model.model_input(x, m)
    assert u.shape == (2, channels + 1, size, size)
    y = model.generator(u)
    assert y.shape == (2, channels, size, size) and y.abs().max() <= 1
    scores = model.discriminator(u, y)
    assert scores.ndim == 4 and scores.shape[:2] == (2, 1)


def test_l1_only_model_has_no_discriminator():
    model = Pix2Pix(Pix2PixConfig(width=8, adv_weight=0.0))
    assert model.discriminator is None
    assert set(model.configure_optimizers(1e-3)) == {"g"}
    assert set(Pix2Pix(Pix2PixConfig(width=8)).configure_optimizers(1e-3)) == {"g", "d"}


def test_receptive_field_formula_matches_the_gradient_support():
    """r = 1 + sum (k - 1) * prod(strides before): check it against the pixels one output unit depends on."""
    torch.manual_seed(0)
    d = Pix2Pix(Pix2PixConfig(width=8, d_width=8, d_down=2)).discriminator
    r = receptive_field(d)
    assert r == 1 + 3 * 1 + 3 * 2 + 3 * 4 + 3 * 4 == 34
    u = torch.randn(1, 2, 96, 96, requires_grad=True)
    y = torch.randn(1, 1, 96, 96, requires_grad=True)
    out = d(u, y)
    i, j = out.shape[-2] // 2, out.shape[-1] // 2
    out[0, 0, i, j].backward()
    support = (u.grad.abs().sum((0, 1)) + y.grad.abs().sum((0, 1))) > 0
    rows, cols = support.any(1).nonzero(), support.any(0).nonzero()
    assert int(rows.max() - rows.min() + 1) == r and int(cols.max() - cols.min() + 1) == r
    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, 2, dilation=2), torch.nn.Conv2d(1, 1, 3))
    assert receptive_field(seq) == 1 + 2 * 2 + 2 * 2


def test_film_is_the_identity_at_start_and_reads_the_description_after():
    from pgan_lib.text import TextEncoder, TextEncoderConfig

    enc = TextEncoder(TextEncoderConfig(vocab=("<pad>", "<unk>", "red", "blue", "mug"), max_len=8, d_model=16,
                                        n_layers=1, n_heads=2, embed_dim=16))
    torch.manual_seed(0)
    model = Pix2Pix.from_text_encoder(enc, channels=3, size=32, width=8, d_width=8).eval()
    x, m = torch.rand(2, 3, 32, 32), half(2, 32, "right")
    a = model.repair(x, m, prompts=["red mug", "blue mug"])
    assert torch.allclose(a[0], model.repair(x[:1], m[:1], prompts=["blue mug"])[0], atol=1e-6)
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    red = model.repair(x[:1], m[:1], prompts=["red mug"])
    blue = model.repair(x[:1], m[:1], prompts=["blue mug"])
    assert not torch.allclose(red, blue)
    assert not any(p.requires_grad for p in model.condition.parameters())
    with pytest.raises(ValueError, match="prompts"):
        model.repair(x, m)


def test_conditional_patchgan_scores_depend_on_the_description():
    from pgan_lib.text import TextEncoder, TextEncoderConfig

    enc = TextEncoder(TextEncoderConfig(vocab=("<pad>", "<unk>", "red", "blue", "mug"), max_len=8, d_model=16,
                                        n_layers=1, n_heads=2, embed_dim=16))
    torch.manual_seed(0)
    plain = Pix2Pix.from_text_encoder(enc, channels=3, size=32, width=8, d_width=8)
    model = Pix2Pix.from_text_encoder(enc, channels=3, size=32, width=8, d_width=8, d_cond=True)
    assert plain.discriminator.embed is None and model.discriminator.embed is not None
    # the projection adds parameters beside the plain PatchGAN's, whose names are unchanged
    assert set(plain.discriminator.state_dict()) < set(model.discriminator.state_dict())
    x = torch.rand(1, 3, 32, 32)
    m = half(1, 32, "right")
    u = model.model_input(x, m)
    c = model.condition(model.prompt_inputs(["red mug", "blue mug"], 2))
    with torch.no_grad():
        scores = model.discriminator(u.expand(2, -1, -1, -1), (x * 2 - 1).expand(2, -1, -1, -1), c)
    assert scores.shape[1:] == model.discriminator(u, x * 2 - 1).shape[1:]
    assert not torch.allclose(scores[0], scores[1])
    with pytest.raises(ValueError, match="d_cond"):
        Pix2PixConfig(d_cond=True)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="upsample"):
        Pix2PixConfig(upsample="pixelshuffle")
    with pytest.raises(ValueError, match="from_text_encoder"):
        Pix2PixConfig(cond="text")
    with pytest.raises(ValueError, match="mask kind"):
        Pix2PixConfig(masks="circle")
    with pytest.raises(ValueError, match="sr_factor"):
        Pix2PixConfig(task="sr", sr_factor=3)


# -- metrics ---------------------------------------------------------------------------------

def test_spectral_term_ignores_where_a_pattern_lies_but_not_a_blur():
    """|FFT| does not change when a pattern is shifted (circularly), so a shifted stripe pays
    nothing while L1 pays for every pixel; a blur of the stripes pays on both."""
    model = Pix2Pix(Pix2PixConfig(channels=3, size=32, adv_weight=0.0, spectral_weight=10.0))
    cols = torch.arange(32).float()
    stripes = ((cols % 8) < 3).float().expand(2, 3, 32, 32) * 2 - 1          # period 8, in [-1, 1]
    shifted = stripes.roll(3, dims=-1)
    blurred = torch.full_like(stripes, float(stripes.mean()))
    everything = torch.ones(2, 1, 32, 32)
    assert model.spectral_term(shifted, stripes, everything) < 1e-5
    assert model.l1_term(shifted, stripes, everything) > 0.5
    assert model.spectral_term(blurred, stripes, everything) > 0.05
    hole = half(2, 32, "right")
    assert model.spectral_term(stripes + hole * 0.5, stripes, hole) > 0           # only the hole is compared
    assert model.spectral_term(stripes + (1 - hole) * 0.5, stripes, hole) == 0
    with pytest.raises(ValueError, match="non-negative"):
        Pix2PixConfig(spectral_weight=-1.0)


def test_gradient_term_wants_edges_as_strong_as_the_photos_and_pooled_l1_forgives_fine_detail():
    """Gradient difference (Mathieu et al. 2016): edges of the photo's strength but the other sign pay
    nothing, a flat fill pays. L1 on 2 x 2 averages (l1_pool=2) forgives detail that averages out
    within a cell (the same stripes, inverted), which plain L1 pays in full, but not a brighter fill."""
    model = Pix2Pix(Pix2PixConfig(width=8, d_width=8, gradient_weight=1.0, l1_pool=2))
    plain = Pix2Pix(Pix2PixConfig(width=8, d_width=8))
    stripes = (torch.arange(28) % 2 == 0).float().expand(2, 1, 28, 28) * 2 - 1    # alternating columns, [-1, 1]
    everything, hole = torch.ones(2, 1, 28, 28), centre_box(2, 28)
    assert model.gradient_term(stripes, stripes, hole) == 0
    assert model.gradient_term(-stripes, stripes, everything) == 0                  # same edges, other sign
    flat = torch.zeros_like(stripes) * hole + stripes * (1 - hole)
    assert model.gradient_term(flat, stripes, hole) > 0.5
    far = torch.zeros_like(hole)
    far[..., :4, :] = 1                                                            # rows the hole does not touch
    assert model.gradient_term(stripes + far * 0.5, stripes, hole) == 0            # only pairs at the hole count
    assert plain.l1_term(-stripes, stripes, everything) == 2
    assert model.l1_term(-stripes, stripes, everything) == 0
    assert abs(float(model.l1_term(stripes + 0.5, stripes, hole)) - 0.5) < 1e-5
    with pytest.raises(ValueError, match="divide the size"):
        Pix2PixConfig(l1_pool=3)
    with pytest.raises(ValueError, match="border_weight 1"):
        Pix2PixConfig(l1_pool=2, border_weight=2.0)
    with pytest.raises(ValueError, match="non-negative"):
        Pix2PixConfig(gradient_weight=-1.0)


def test_edge_histogram_term_wants_as_many_strong_edges_wherever_they_are():
    """The histogram term pays nothing for the photo's edge moved elsewhere (here all is hole), which the
    gradient-difference term pays; a flat fill pays for every edge; pixels away from the hole and an
    empty hole cost nothing; it has a gradient."""
    hole, everything = centre_box(2, 28), torch.ones(2, 1, 28, 28)
    step = (torch.arange(28) >= 14).float().expand(2, 1, 28, 28) * 2 - 1          # one edge per row, column 13 | 14
    moved = (torch.arange(28) >= 17).float().expand(2, 1, 28, 28) * 2 - 1         # the same edge 3 columns on
    assert float(Pix2Pix.gradient_term(moved, step, everything)) > 0.05
    assert float(Pix2Pix.edge_histogram_term(moved, step, everything)) == 0
    stripes = (torch.arange(28) % 2 == 0).float().expand(2, 1, 28, 28) * 2 - 1    # alternating columns
    flat = torch.zeros_like(stripes, requires_grad=True)
    cost = Pix2Pix.edge_histogram_term(flat * hole + stripes * (1 - hole), stripes, hole)
    assert float(cost) > 0.5
    cost.backward()
    assert flat.grad is not None and (flat.grad * hole).abs().sum() > 0
    far = torch.zeros_like(hole)
    far[..., :4, :] = 1                                                            # rows the hole does not touch
    assert Pix2Pix.edge_histogram_term(stripes + far * 0.5, stripes, hole) == 0
    assert Pix2Pix.edge_histogram_term(flat, stripes, torch.zeros_like(hole)) == 0
    with pytest.raises(ValueError, match="non-negative"):
        Pix2PixConfig(edge_hist_weight=-1.0)


def test_psnr_l1_ssim_values():
    x = torch.zeros(2, 1, 16, 16)
    y = torch.full((2, 1, 16, 16), 0.1)
    assert torch.allclose(R.psnr(x, y), torch.tensor([20.0, 20.0]), atol=1e-4)
    assert torch.allclose(R.l1(x, y), torch.tensor([0.1, 0.1]))
    m = torch.zeros(2, 1, 16, 16)
    m[:, :, :4, :4] = 1
    z = y.clone()
    z[:, :, :4, :4] = 0.0                                        # exact in the hole, 0.1 off outside
    assert (R.psnr(z, x, m) > 90).all() and torch.allclose(R.l1(z, x, m), torch.zeros(2))
    img = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(R.ssim(img, img), torch.ones(2), atol=1e-5)
    assert (R.ssim(img, img.flip(-1)) < 0.5).all()


def test_whole_image_numbers_are_those_of_eval_metrics():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.rand(3, 3, 16, 16, generator=gen), torch.rand(3, 3, 16, 16, generator=gen)
    ones = torch.ones(3, 1, 16, 16)
    assert torch.allclose(R.psnr(a, b), M.psnr(a, b)) and torch.allclose(R.psnr(a, b, ones), M.psnr(a, b), atol=1e-4)
    assert torch.allclose(R.ssim(a, b, ones), M.ssim(a, b, padding="reflect"), atol=1e-5)
    assert torch.allclose(R.l1(a, b, ones), M.l1(a, b))


def test_edge_energy_falls_with_blur():
    gen = torch.Generator().manual_seed(0)
    sharp = (torch.rand(4, 1, 28, 28, generator=gen) > 0.5).float()
    blurred = torch.nn.functional.avg_pool2d(sharp, 3, 1, 1)
    assert (R.edge_energy(blurred) < R.edge_energy(sharp)).all()
    assert torch.allclose(R.edge_energy(torch.full((1, 1, 8, 8), 0.3)), torch.zeros(1))


# -- classical baselines --------------------------------------------------------------------

def test_mean_fill_and_biharmonic():
    ramp = torch.linspace(0, 1, 28).view(1, 1, 1, 28).expand(2, 1, 28, 28).contiguous()
    m = centre_box(2, 28)
    mf = mean_fill(ramp, m)
    outside = (m == 0)
    assert torch.equal(mf[outside], ramp[outside])
    assert torch.allclose(mf[0, 0, 14, 14], ramp[0, 0][m[0, 0] == 0].mean())
    bh = biharmonic(ramp, m)                                     # a linear ramp is biharmonic: exact
    assert torch.equal(bh[outside], ramp[outside])
    assert (bh - ramp).abs().max() < 1e-3
    assert (mf - ramp).abs().max() > 0.2


# -- training ---------------------------------------------------------------------------------

def _tiny_images(n: int = 96, size: int = 28, channels: int = 1) -> ProductData:
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    imgs = []
    for _ in range(n):
        r = 4 + int(torch.randint(0, 6, (1,), generator=gen))
        disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < r * r).float()
        imgs.append(disc.expand(channels, size, size) * 0.8 + 0.1)
    images = (torch.stack(imgs) * 255).round().to(torch.uint8)
    return ProductData(name="discs", split="train", images=images, descriptions=["a disc"] * n,
                       labels=torch.zeros(n, dtype=torch.long), class_names=["disc"])


@pytest.mark.parametrize("adv,task,spectral,gradient", [(1.0, "inpaint", 5.0, 0.0), (0.0, "inpaint", 0.0, 0.0),
                                                         (1.0, "sr", 0.0, 0.0), (24.0, "inpaint", 0.0, 200.0)])
def test_quick_end_to_end_training(tmp_path, adv, task, spectral, gradient):
    data = _tiny_images()
    torch.manual_seed(0)
    model = Pix2Pix(Pix2PixConfig(width=8, d_width=8, adv_weight=adv, task=task, spectral_weight=spectral,
                                  gradient_weight=gradient,
                                  masks="centre" if task == "inpaint" else "full",
                                  eval_masks="centre" if task == "inpaint" else "full", val_images=32))
    before = model.validation_metrics(data)["val_hole_l1"]
    cfg = TrainConfig(max_steps=40, batch_size=16, lr=2e-3, log_every=20, val_every=40, checkpoint_every=40,
                      tensorboard=False, progress=False)
    result = Trainer(cfg, tmp_path / "run", device="cpu").fit(model, data, data)
    after = result.history[-1]["val_hole_l1"]
    assert math.isfinite(after) and after < before
    x = data.float_images(slice(0, 4))
    if task == "inpaint":
        m = centre_box(4, 28)
        y = model.repair(x, m)
        assert torch.equal(y[m.expand_as(y) == 0], x[m.expand_as(x) == 0])
        with pytest.raises(ValueError, match="super-resolution|28x28"):
            model.repair(torch.rand(1, 3, 28, 28), m[:1])
    else:
        low, up = sr_input(x, 2)
        assert torch.allclose(model.model_input(up, torch.ones(4, 1, 28, 28))[:, :1], up * 2 - 1)   # the image, not a hole
        assert model.upscale(low).shape == (4, 1, 28, 28)
        with pytest.raises(ValueError, match="14x14"):
            model.upscale(x)
    from pgan_lib.models.base import load_model

    again = load_model(tmp_path / "run" / "last")
    assert isinstance(again, Pix2Pix) and again.config == model.config


def test_repair_box_twin_and_the_widget_agree():
    from pgan_lib.explore.repair import RepairBox, repair_box

    torch.manual_seed(0)
    model = Pix2Pix(Pix2PixConfig(width=8, adv_weight=0)).eval()
    image = _tiny_images(2).float_images()[0]
    damaged, repaired, mask = repair_box(model, image, 5, 6, 10, 8)
    assert mask.sum() == 80 and torch.equal(repaired[mask.expand_as(image) == 0], image[mask.expand_as(image) == 0])
    assert torch.all(damaged[mask.expand_as(image) > 0] == FILL)
    widget = RepairBox(model, image, box=(5, 6, 10, 8))
    assert torch.equal(widget.last, repaired) and widget.picture.value[:4] == b"\x89PNG"
    widget.set(x=0, w=28, y=0, h=28)                                  # the whole image: refused, shown as a message
    assert "whole image" in widget.status.value
    widget.set(h=4)
    assert torch.equal(widget.last, repair_box(model, image, 0, 0, 28, 4)[1])
    with pytest.raises(ValueError, match="whole image"):
        repair_box(model, image, 0, 0, 28, 28)


def test_paint_mask_is_a_round_brush_through_the_points():
    from pgan_lib.explore.repair import paint_mask

    assert paint_mask(28, [], 3).sum() == 0
    one = paint_mask(28, [(10.5, 7.5)], 1.0)[0, 0]                  # centre of pixel (x=10, y=7): a plus sign
    assert one.sum() == 5 and one[7, 10] == 1 and one[7, 11] == 1 and one[8, 10] == 1 and one[7, 12] == 0
    disc = paint_mask(28, [(14, 14)], 4)[0, 0]
    assert abs(disc.sum().item() - 3.1416 * 16) < 8                     # about pi r^2 pixels
    stroke = paint_mask(28, [(4, 4), (8, 4), (12, 4)], 2)[0, 0]
    assert stroke[4, 2:14].all() and stroke[4, 15] == 0                # a continuous row under the stroke, no further
    assert stroke[10:].sum() == 0                                     # nothing far below it


def test_repair_canvas_twin_and_the_widget_agree():
    from pgan_lib.explore.repair import RepairCanvas, repair_painted

    torch.manual_seed(0)
    model = Pix2Pix(Pix2PixConfig(width=8, adv_weight=0)).eval()
    image = _tiny_images(2).float_images()[0]
    points = [(8.0, 10.0), (12.0, 11.0), (16.0, 12.0)]
    damaged, repaired, mask = repair_painted(model, image, points, 2.5)
    keep = mask.expand_as(image) == 0
    assert 0 < mask.sum() < 28 * 28 and torch.equal(repaired[keep], image[keep])
    assert torch.all(damaged[~keep] == FILL)
    canvas = RepairCanvas(model, image, radius=2.5, scale=4)
    assert canvas.last is None
    canvas._down(8.0 * 4, 10.0 * 4)                                    # a drag, in canvas pixels
    canvas._move(12.0 * 4, 11.0 * 4)
    canvas._move(16.0 * 4, 12.0 * 4)
    assert canvas.last is None                                         # nothing is repaired while the mouse is down
    canvas._up(16.0 * 4, 12.0 * 4)
    assert torch.equal(canvas.last, repaired) and canvas.picture.value[:4] == b"\x89PNG"
    canvas._move(1.0, 1.0)                                             # moving without a button paints nothing
    assert len(canvas.points) == 3
    canvas.clear()
    assert canvas.points == [] and canvas.last is None
    canvas.update()
    assert "empty" in canvas.status.value
    canvas.paint([(x, y) for x in range(28) for y in range(28)])       # everything painted: refused, shown as a message
    assert "whole image" in canvas.status.value


def test_recoloured_pairs_share_geometry_and_contradict_when_asked():
    from pgan_lib.data.repair_pairs import recoloured_pairs

    agree = recoloured_pairs(12, contradict=0.0, seed=1)
    assert torch.equal(agree.sources, agree.images)
    pairs = recoloured_pairs(40, contradict=1.0, seed=1)
    assert not torch.equal(pairs.sources, pairs.images)
    # same geometry: the background (light, near-grey) pixels agree between source and target
    bg = (pairs.images.float().std(1) < 6) & (pairs.images.float().mean(1) > 200)
    same = (pairs.sources.float() - pairs.images.float()).abs().amax(1) < 2
    assert same[bg].float().mean() > 0.95
    a, b = recoloured_pairs(5, seed=2), recoloured_pairs(5, seed=2)
    assert torch.equal(a.images, b.images) and a.descriptions == b.descriptions


def test_pair_attributes_change_what_is_asked_and_stay_seen():
    import numpy as np

    from pgan_lib.data.catalog import SEEN_COMBOS
    from pgan_lib.data.repair_pairs import pair_attributes

    seen = {tuple(c) for c in SEEN_COMBOS}
    for change in ("any", "both"):
        tgt, src = pair_attributes(400, np.random.default_rng(0), contradict=0.5, change=change)
        assert (tgt[:, 0] == src[:, 0]).all()                                  # the same category
        assert all(tuple(r) in seen for r in np.concatenate([tgt, src]).tolist())
        moved = (tgt[:, 1:] != src[:, 1:]).any(1)
        assert 0.4 < moved.mean() < 0.6
        both = (tgt[:, 1] != src[:, 1]) & (tgt[:, 2] != src[:, 2])
        if change == "both":
            assert (both == moved).all()
        else:
            assert both.sum() < moved.sum()          # some items change only the colour or only the pattern
    with pytest.raises(ValueError, match="change"):
        pair_attributes(3, np.random.default_rng(0), change="pattern")
    from pgan_lib.data import load_dataset

    with pytest.raises(ValueError, match="catalog-pairs:SHARE"):          # the error shows how to write it
        load_dataset("catalog-pairs:half", "val", mode="quick", limit=4)


# -- the command line and the shipped models ---------------------------------------------------------

def _pgan(argv):
    return pgan(argv)


def _png(path, arr):
    from PIL import Image

    Image.fromarray(arr).save(path)
    return str(path)


def _read_png(path):
    from PIL import Image

    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def fashion_test():
    from pgan_lib.data import load_dataset

    return load_dataset("fashion-mnist", "test", limit=200)


def test_cli_repairs_a_png_with_a_box_and_with_a_mask(tmp_path, fashion_test, capsys):
    img = fashion_test.images[0, 0].numpy()
    src = _png(tmp_path / "in.png", img)
    out = tmp_path / "fixed.png"
    assert _pgan(["repair", src, "--box", "7,7,14,14", "--out", str(out)]) == 0
    fixed = _read_png(out)
    assert fixed.shape == (28, 28)
    hole = np.zeros((28, 28), bool)
    hole[7:21, 7:21] = True
    assert np.array_equal(fixed[~hole], img[~hole])
    assert not np.array_equal(fixed[hole], np.full(hole.sum(), 128))
    from pgan_lib.provenance import read_provenance  # the repaired file says a model made its hole

    assert read_provenance(out) is not None
    mask = np.zeros((28, 28), np.uint8)
    mask[3:9, 10:25] = 255
    out2 = tmp_path / "fixed2.png"
    assert _pgan(["repair", src, "--mask", _png(tmp_path / "m.png", mask), "--out", str(out2)]) == 0
    assert np.array_equal(_read_png(out2)[mask == 0], img[mask == 0])


def test_cli_batch_form(tmp_path, fashion_test):
    from pgan_lib.data.masks import make_masks

    images = fashion_test.images[:8].permute(0, 2, 3, 1).numpy()
    masks = make_masks("strokes", 8, 28, seed=5)[:, 0].numpy().astype(np.uint8)
    np.savez(tmp_path / "in.npz", images=images, masks=masks)
    assert _pgan(["repair", "--batch", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as z:
        out = z["images"]
    assert out.shape == images.shape and out.dtype == np.uint8
    keep = masks[..., None] == 0
    assert np.array_equal(out[np.broadcast_to(keep, out.shape)], images[np.broadcast_to(keep, images.shape)])


def test_cli_errors_are_clear(tmp_path, fashion_test, capsys):
    img = fashion_test.images[0, 0].numpy()
    src = _png(tmp_path / "in.png", img)
    out = str(tmp_path / "o.png")
    cases = [
        (["repair", src, "--mask", _png(tmp_path / "small.png", np.zeros((10, 10), np.uint8)), "--out", out], "10x10"),
        (["repair", src, "--mask", _png(tmp_path / "empty.png", np.zeros((28, 28), np.uint8)), "--out", out], "empty"),
        (["repair", src, "--mask", _png(tmp_path / "all.png", np.full((28, 28), 255, np.uint8)), "--out", out], "whole image"),
        (["repair", _png(tmp_path / "big.png", np.zeros((40, 40), np.uint8)), "--box", "1,1,5,5", "--out", out], "--resize"),
        (["repair", _png(tmp_path / "rgb.png", np.zeros((28, 28, 3), np.uint8)), "--model", "fashion-repair",
          "--box", "1,1,5,5", "--out", out], "--convert"),
        (["repair", src, "--box", "40,40,5,5", "--out", out], "outside"),
        (["repair", src, "--box", "a,b", "--out", out], "X,Y,W,H"),
        (["repair", src, "--out", out], "--box"),
        (["repair", src, "--box", "1,1,5,5", "--prompt", "a red mug", "--out", out], "descriptions"),
        (["repair", str(tmp_path / "missing.png"), "--box", "1,1,5,5", "--out", out], "no such file"),
        (["upscale", src, "--out", out], "--resize"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert _pgan(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    np.savez(tmp_path / "bad.npz", images=fashion_test.images[:2].permute(0, 2, 3, 1).numpy(),
             masks=np.zeros((2, 28, 28), np.uint8))
    capsys.readouterr()
    assert _pgan(["repair", "--batch", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o.npz")]) == 2
    assert "empty mask" in capsys.readouterr().err


def test_cli_resize_convert_and_upscale(tmp_path, fashion_test):
    img = fashion_test.images[1, 0].numpy()
    big = np.kron(img, np.ones((2, 2), np.uint8))                       # 56x56
    out = tmp_path / "r.png"
    assert _pgan(["repair", _png(tmp_path / "big.png", big), "--box", "14,14,28,28", "--resize", "--out", str(out)]) == 0
    assert _read_png(out).shape == (28, 28)
    rgb = np.repeat(img[..., None], 3, axis=2)
    assert _pgan(["repair", _png(tmp_path / "rgb.png", rgb), "--model", "fashion-repair", "--convert",
                  "--box", "7,7,14,14", "--out", str(out)]) == 0
    small = img.reshape(14, 2, 14, 2).mean((1, 3)).round().astype(np.uint8)
    assert _pgan(["upscale", _png(tmp_path / "s.png", small), "--model", "fashion-sr", "--out", str(tmp_path / "u.png")]) == 0
    assert _read_png(tmp_path / "u.png").shape == (28, 28)


def test_cli_upscales_a_colour_icon_with_catalog_sr_by_default(tmp_path):
    from pgan_lib.data.catalog import render_words

    mug = render_words([("mug", "red", "striped")])[0].permute(1, 2, 0).numpy()           # 32x32 colour
    small = mug.reshape(16, 2, 16, 2, 3).mean((1, 3)).round().astype(np.uint8)
    assert _pgan(["upscale", _png(tmp_path / "icon.png", small), "--out", str(tmp_path / "big.png")]) == 0
    big = _read_png(tmp_path / "big.png")
    assert big.shape == (32, 32, 3)
    # closer to the original than nearest-neighbour enlarging is
    nearest = np.kron(small, np.ones((2, 2, 1), np.uint8))
    assert np.abs(big.astype(float) - mug).mean() < np.abs(nearest.astype(float) - mug).mean()


def test_cli_guided_repair_needs_and_reads_a_prompt(tmp_path, capsys):
    from pgan_lib.data.catalog import render_words

    img = render_words([("mug", "blue", "plain")])[0].permute(1, 2, 0).numpy()
    src = _png(tmp_path / "mug.png", img)
    outs = []
    for colour in ("red", "green"):
        out = tmp_path / f"{colour}.png"
        assert _pgan(["repair", src, "--box", "16,0,16,32", "--model", "catalog-repair",
                      "--prompt", f"a {colour} striped mug", "--out", str(out)]) == 0
        outs.append(_read_png(out))
    assert not np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[0][:, :16], img[:, :16])
    capsys.readouterr()
    assert _pgan(["repair", src, "--box", "16,0,16,32", "--model", "catalog-repair", "--out", str(tmp_path / "x.png")]) == 2
    assert "--prompt" in capsys.readouterr().err


def test_shipped_repair_models_load_and_beat_the_baselines(fashion_test):
    from pgan_lib import pretrained
    from pgan_lib.data import load_dataset
    from pgan_lib.models.classical import bicubic

    x = fashion_test.float_images()
    m = centre_box(len(x), 28)
    floor = R.psnr(mean_fill(x, m), x, m).mean()
    for name in ("fashion-repair", "fashion-repair-l1"):
        model = pretrained.load(name)
        assert isinstance(model, Pix2Pix)
        assert R.psnr(model.repair(x, m), x, m).mean() > floor + 3
    low, _ = sr_input(x, 2)
    sr = pretrained.load("fashion-sr")
    assert R.psnr(sr.upscale(low), x).mean() > R.psnr(bicubic(low, 28), x).mean()
    cat = load_dataset("catalog", "test", limit=100, size=32)
    xc = cat.float_images()
    low_c, _ = sr_input(xc, 2)
    assert R.psnr(pretrained.load("catalog-sr").upscale(low_c), xc).mean() > R.psnr(bicubic(low_c, 32), xc).mean()
    mc = half(len(xc), 32, "right")
    guided = pretrained.load("catalog-repair")
    assert R.psnr(guided.repair(xc, mc, prompts=cat.descriptions), xc, mc).mean() > R.psnr(mean_fill(xc, mc), xc, mc).mean() + 3


@pytest.mark.parametrize("name", ["fashion-repair", "fashion-repair-l1", "catalog-repair", "catalog-repair-unguided",
                                  "fashion-sr", "catalog-sr"])
def test_shipped_repair_model_is_what_its_recipe_builds(name):
    """A recipe changed (a width, a loss weight, the training length) without re-shipping its model would
    describe a model nobody can download. The recipe is the one the manifest names; the configurations are
    compared as JSON (tuples and lists alike), and the shipped model's step with the recipe's full length."""
    import json
    from dataclasses import asdict

    from pgan_lib import pretrained
    from pgan_lib.config import get_mode
    from pgan_lib.recipes import get_recipe

    if not pretrained.available(name):
        pytest.skip(f"{name} is not shipped in this copy")
    recipe = get_recipe(pretrained.SHIPPED[name].recipe)
    shipped, built = (json.loads(json.dumps(asdict(config))) for config in
                      (pretrained.load(name).config, recipe.build(None, get_mode("full")).config))
    differ = {k: (v, built[k]) for k, v in shipped.items() if v != built[k]}
    step = json.loads(pretrained.path_of(name).with_suffix(".json").read_text())["step"]
    if step != recipe.full.max_steps:
        differ["steps"] = (step, recipe.full.max_steps)
    assert not differ, f"{name} differs from recipe {recipe.name} in (shipped, recipe): {differ}"


def test_guided_catalogue_recipe_runs_on_recoloured_pairs(tmp_path):
    from pgan_lib.data import load_dataset
    from pgan_lib.recipes import get_recipe, run_recipe

    pairs = load_dataset("catalog-pairs:0.5", "val", mode="quick", limit=64)
    assert pairs.sources.shape == pairs.images.shape
    assert get_recipe("repair-catalog").source == "catalog-pairs:0.5"
    model, result = run_recipe("repair-catalog", mode="quick", out=tmp_path / "run",
                               overrides={"max_steps": 2, "tensorboard": False, "progress": False})
    assert isinstance(model, Pix2Pix) and model.condition is not None and result.steps == 2
    assert math.isfinite(result.history[-1]["val_hole_psnr"])
    with pytest.raises(ValueError, match="splits"):
        load_dataset("catalog-pairs", "heldout")
