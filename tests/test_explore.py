"""Latent exploration: directions, the explorer's plain-Python twins, PNG metadata, interpolation."""
import numpy as np
import pytest
import torch

from pgan_lib import explore
from pgan_lib.data.attributes import shade_value
from pgan_lib.explore import Design
from pgan_lib.models.vae import VAE, VAEConfig

VAE_DESIGN = Design("vae-fashion", seed=3)
BOOT = Design("cvae-fashion", seed=1, prompt="a medium regular ankle boot")


@pytest.fixture
def label_model():
    """An untrained label-conditioned VAE, registered under a test name (a stand-in for a class-conditional GAN)."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(channels=1, size=28, latent_dim=8, hidden=8, cond="label", num_classes=10))
    explore.register_model("test-label-vae", model, dataset="fashion-mnist")
    yield "test-label-vae"
    explore.unregister_model("test-label-vae")


def test_generator_names_lists_the_shipped_generators_only():
    names = explore.generator_names()
    assert {"vae-fashion", "cvae-fashion"} <= set(names)
    assert not any("classifier" in n for n in names)


def test_directions_are_unit_vectors_named_for_their_sliders():
    dirs = explore.find_directions(VAE_DESIGN)
    assert dirs.names == ("pc1", "pc2", "pc3", "pc4", "darker", "wider")
    assert dirs.vectors.shape == (6, 16)
    assert torch.allclose(dirs.vectors.norm(dim=1), torch.ones(6), atol=1e-5)
    assert explore.find_directions(Design("vae-fashion", seed=99)) is dirs  # depends on model + condition only
    with pytest.raises(ValueError, match="unknown direction"):
        dirs.vector("rounder")


def test_image_pca_finds_the_latent_direction_that_drives_the_images():
    # A toy "generator": images = z[:, 0] times a fixed pattern plus small noise. PC 1 must point along z_0.
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(500, 4, generator=gen)
    pattern = torch.rand(1, 1, 6, 6, generator=gen)
    images = z[:, 0, None, None, None] * pattern + 0.01 * torch.randn(500, 1, 6, 6, generator=gen)
    dirs, share = explore.image_pca_directions(z, images, k=2)
    assert abs(dirs[0, 0]) > 0.99 and share[0] > 0.9


def test_render_with_no_offsets_is_the_models_own_sample():
    img = explore.render(VAE_DESIGN)
    assert img.shape == (1, 28, 28) and 0 <= img.min() and img.max() <= 1
    assert torch.equal(img, explore.get_model("vae-fashion").sample(1, seed=3)[0])


@pytest.mark.parametrize("design", [VAE_DESIGN, BOOT], ids=["vae", "cvae"])
def test_a_different_slider_value_gives_a_different_image(design):
    images = [explore.render(design.with_offsets(pc1=v)) for v in (-1.0, 0.0, 1.0)]
    assert all(i.shape == (1, 28, 28) for i in images)
    assert (images[0] - images[1]).abs().max() > 0.05 and (images[2] - images[1]).abs().max() > 0.05
    assert torch.equal(images[1], explore.render(design))


def test_darker_direction_makes_products_darker():
    amounts = (-2, 0, 2)
    for seed in (0, 3, 11):
        shade = shade_value(explore.attribute_row(Design("vae-fashion", seed=seed), "darker", amounts))
        assert shade[0] < shade[1] < shade[2], (seed, shade)
    shade = shade_value(explore.attribute_row(BOOT, "darker", amounts))
    assert shade[0] < shade[1] < shade[2], shade
    row = explore.attribute_row(VAE_DESIGN, "wider", (-1, 0, 1, 2))
    assert row.shape == (4, 1, 28, 28)


def test_explorer_widget_redraws_when_a_slider_moves():
    ex = explore.explorer("vae-fashion", seed=3)
    first = ex.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    ex.set(pc2=1.5)
    assert ex.design.offsets == {"pc2": 1.5}
    assert ex.image.value != first
    ex.seed.value = 4
    assert ex.design.seed == 4
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "image/png" in bundle


def test_save_button_writes_the_design_on_screen(tmp_path):
    ex = explore.explorer("cvae-fashion", seed=5, prompt="a dark slim ankle boot", save_dir=tmp_path)
    ex.set(darker=1.2)
    ex.save.click()
    ex.save.click()
    files = sorted(tmp_path.glob("*.png"))
    assert [f.name for f in files] == ["cvae-fashion-seed5-a-dark-slim-ankle-boot-1.png",
                                       "cvae-fashion-seed5-a-dark-slim-ankle-boot-2.png"]
    assert explore.read_design(files[0]) == ex.design
    assert "saved" in ex.status.value


def test_explorer_switches_to_a_description_model():
    ex = explore.explorer("vae-fashion")
    ex.model.value = "cvae-fashion"
    assert ex.prompt.layout.display == "" and ex.label.layout.display == "none"
    before = ex.image.value
    ex.prompt.value = "a dark slim ankle boot"
    assert ex.design.prompt == "a dark slim ankle boot" and ex.image.value != before


def test_explorer_slider_update_is_fast():
    """The live path (latent -> image -> PNG -> widget) must stay far below 100 ms; typically ~5 ms."""
    import time

    ex = explore.explorer("vae-fashion", seed=3)
    times = []
    for i in range(20):
        t = time.perf_counter()
        ex.sliders[i % 6].value = (i % 5) - 2.0
        times.append(time.perf_counter() - t)
    assert float(np.median(times)) < 0.1, times


@pytest.mark.parametrize("design", [
    VAE_DESIGN.with_offsets(darker=1.5, pc2=-0.5),
    Design("cvae-fashion", seed=7, prompt="a dark slim ankle boot — slim fit", offsets={"wider": 2.0}),
], ids=["vae", "cvae-unicode-prompt"])
def test_saved_png_metadata_round_trips(design, tmp_path):
    path = explore.save_design(design, tmp_path / "d.png")
    meta = explore.read_metadata(path)
    assert meta["model"] == design.model and meta["seed"] == str(design.seed)
    assert meta.get("prompt") == design.prompt
    again = explore.read_design(path)
    assert again == explore.complete(design)
    assert torch.equal(explore.render(again), explore.render(design))
    from PIL import Image

    with Image.open(path) as img:
        assert img.size == (28 * explore.CONFIG.scale,) * 2


def test_a_png_without_a_design_is_refused(tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    with pytest.raises(ValueError, match="not saved by the latent explorer"):
        explore.read_design(tmp_path / "plain.png")


def test_lerp_and_slerp_endpoints_and_lengths():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, generator=gen), torch.randn(16, generator=gen)
    b = b / b.norm() * a.norm()
    t = torch.tensor([0.0, 0.5, 1.0])
    for f in (explore.lerp, explore.slerp):
        out = f(a, b, t)
        assert torch.allclose(out[0], a, atol=1e-6) and torch.allclose(out[2], b, atol=1e-6)
    assert torch.allclose(explore.slerp(a, b, t).norm(dim=1), a.norm().expand(3), atol=1e-4)
    assert explore.lerp(a, b, t)[1].norm() < a.norm() - 0.1


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolation_endpoints_equal_the_two_products(method, label_model):
    pairs = [
        (Design("vae-fashion", seed=10), Design("vae-fashion", seed=23, offsets={"darker": 1.0})),
        (Design("cvae-fashion", seed=2, prompt="a dark slim ankle boot"),
         Design("cvae-fashion", seed=2, prompt="a light wide sandal")),
        (Design(label_model, seed=1, label=9), Design(label_model, seed=5, label=5)),
    ]
    for a, b in pairs:
        strip = explore.interpolate(a, b, steps=5, method=method)
        assert strip.shape == (5, 1, 28, 28)
        assert torch.allclose(strip[0], explore.render(a), atol=1e-5)
        assert torch.allclose(strip[-1], explore.render(b), atol=1e-5)
        assert (strip[2] - strip[0]).abs().max() > 0.01  # the middle is neither end


def test_interpolating_descriptions_moves_the_condition_and_leaves_the_model_unchanged():
    a = Design("cvae-fashion", seed=2, prompt="a dark slim ankle boot")
    b = Design("cvae-fashion", seed=2, prompt="a light wide sandal")
    shade = shade_value(explore.interpolate(a, b, steps=5))
    assert shade[0] > shade[2] > shade[4], shade
    assert not explore.get_model("cvae-fashion").condition._forward_hooks  # the blending hook is removed
    with pytest.raises(ValueError, match="one model"):
        explore.interpolate(a, Design("vae-fashion"))


def test_label_models_get_a_class_dropdown(label_model):
    ex = explore.explorer(label_model, seed=1, label=3)
    assert ex.label.layout.display == "" and ex.prompt.layout.display == "none"
    assert ex.label.options[3] == ("dress", 3)
    before = ex.image.value
    ex.label.value = 7
    assert ex.design.label == 7 and ex.image.value != before


def test_static_figures_and_other_widgets():
    import matplotlib.pyplot as plt

    fig = explore.explorer_figure(VAE_DESIGN, values=(-1, 0, 1))
    assert len(fig.axes) == 6
    fig2 = explore.interpolation_figure(Design("vae-fashion", seed=1), Design("vae-fashion", seed=2), steps=4)
    assert len(fig2.axes) == 2
    fig3 = explore.attribute_figure([VAE_DESIGN, BOOT], amounts=(-1, 1))
    assert len(fig3.axes) == 2
    plt.close("all")
    iw = explore.interpolation_widget(Design("vae-fashion", seed=1), Design("vae-fashion", seed=2))
    first = iw.image.value
    iw.position.value = 0.0
    assert iw.image.value != first
    aw = explore.attribute_widget(VAE_DESIGN)
    first = aw.row.value
    aw.attribute.value = "wider"
    assert aw.row.value != first
