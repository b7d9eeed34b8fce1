"""Progressive growing (pgan_lib.models.progan): the schedule, the fade, the stabilisers, resume mid-fade."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from pgan_lib.models.base import load_model
from pgan_lib.models.progan import (
    EqualizedConv2d,
    GrowSchedule,
    ProDiscriminator,
    ProGAN,
    ProGANConfig,
    ProGenerator,
    minibatch_stddev,
    phase_at,
    real_at,
)
from pgan_lib.train import TrainConfig, Trainer


def _cfg(**kw) -> ProGANConfig:
    base = dict(channels=3, latent_dim=16, width=4, max_width=16, final_res=32, fade_images=40, stable_images=20,
                batch_sizes=(4, 4, 4, 4), cond="label", num_classes=3, cond_dim=8)
    base.update(kw)
    return ProGANConfig(**base)


class _Ctx:
    """A minimal TrainingContext: backward + optimiser step."""

    def __init__(self, opts):
        self.opts, self.step_index = opts, 0

    def step(self, name, loss):
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


# -- the schedule ------------------------------------------------------------------------------------


def test_alpha_rises_within_each_fade_and_stays_one_in_stabilisation():
    sched = GrowSchedule(final_res=64, fade_images=50, stable_images=30, batch_sizes=(1,) * 5)
    phases = sched.phases()
    assert [(lv, f) for lv, f, _ in phases] == [(0, False), (1, True), (1, False), (2, True), (2, False),
                                                 (3, True), (3, False), (4, True), (4, False)]
    seen: dict[int, list[float]] = {}
    for t in range(sched.total_images() + 40):
        ph = phase_at(sched, t)
        seen.setdefault(ph.index, []).append(ph.alpha)
    assert sorted(seen) == list(range(len(phases)))
    for index, (level, fading, n) in enumerate(phases):
        alphas = seen[index]
        if fading:
            assert len(alphas) == n and alphas[0] == 0.0
            assert all(b > a for a, b in zip(alphas, alphas[1:])), f"alpha does not rise in the fade to level {level}"
            assert alphas[-1] == pytest.approx(1 - 1 / n)
        else:
            assert all(a == 1.0 for a in alphas), f"alpha is not 1 in the stabilisation of level {level}"
    # after the schedule: the last stabilisation lasts for ever
    assert phase_at(sched, 10**9).level == 4 and phase_at(sched, 10**9).alpha == 1.0


def test_training_steps_ramp_alpha_through_the_model():
    """The fade must ramp in training itself (the classic bug: a fade factor that is computed but never advances)."""
    torch.manual_seed(0)
    cfg = _cfg(final_res=8, fade_images=24, stable_images=8, batch_sizes=(4, 2), channels=1, num_classes=2)
    model = ProGAN(cfg)
    ctx = _Ctx(model.configure_optimizers(1e-3))
    x = torch.rand(4, 1, 8, 8)
    from pgan_lib.data.batches import Batch

    batch = Batch(x=x, y=torch.tensor([0, 1, 0, 1]), idx=torch.arange(4))
    trace = []
    for _ in range(2 + 12 + 6):
        logs = model.training_step(batch, ctx)
        trace.append((float(logs["resolution"]), float(logs["alpha"])))
    assert trace[:2] == [(4.0, 1.0), (4.0, 1.0)]
    fade = trace[2:14]                                   # 24 images at batch 2
    assert all(r == 8.0 for r, _ in fade) and fade[0][1] == 0.0
    assert all(b[1] > a[1] for a, b in zip(fade, fade[1:]))
    assert trace[14:] == [(8.0, 1.0)] * 6
    assert int(model.images_shown) == 8 + 24 + 12 and int(model.level) == 1 and float(model.alpha) == 1.0


def test_schedule_and_config_refuse_bad_values():
    with pytest.raises(ValueError, match="batch_sizes"):
        GrowSchedule(final_res=64, batch_sizes=(4, 4))
    with pytest.raises(ValueError, match="final_res"):
        GrowSchedule(final_res=48)
    with pytest.raises(ValueError, match="loss"):
        _cfg(loss="ns")
    assert GrowSchedule(final_res=8, fade_images=10, stable_images=10, batch_sizes=(5, 2)).steps_total() == 2 + 5 + 5


# -- growing: what "the grown network at alpha = 1 equals the next resolution's network" means ----------------


def _truncated(cfg: ProGANConfig, res: int) -> ProGANConfig:
    """The config of a network built for ``res`` with the same channels at every resolution it has."""
    from dataclasses import replace

    k = int(math.log2(res // 4))
    return replace(cfg, final_res=res, width=cfg.width * cfg.final_res // res, batch_sizes=cfg.batch_sizes[:k + 1])


def _load_shared(small: torch.nn.Module, big: torch.nn.Module) -> None:
    own = small.state_dict()
    missing, _ = small.load_state_dict({k: v for k, v in big.state_dict().items() if k in own}, strict=False)
    assert not missing


@pytest.mark.parametrize("cond", ["label", "none"])
def test_grown_generator_at_alpha_one_is_the_network_of_that_resolution(cond):
    """G grown to level k at alpha = 1 computes exactly what a generator *built* for resolution 4 * 2^k computes
    with the same weights: the old RGB head no longer contributes. At alpha = 0 it is the previous level's
    output, nearest-upsampled (growing does not change the function)."""
    torch.manual_seed(0)
    cfg = _cfg(cond=cond)
    g = ProGenerator(cfg).eval()
    z = torch.randn(6, cfg.latent_dim)
    y = torch.tensor([0, 1, 2, 0, 1, 2]) if cond == "label" else None
    for k, res in ((1, 8), (2, 16), (3, 32)):
        small = ProGenerator(_truncated(cfg, res)).eval()
        _load_shared(small, g)
        grown = g(z, y, level=k, alpha=1.0)
        assert grown.shape == (6, 3, res, res)
        torch.testing.assert_close(grown, small(z, y), rtol=0, atol=0)
        before = g(z, y, level=k - 1, alpha=1.0)
        torch.testing.assert_close(g(z, y, level=k, alpha=0.0), F.interpolate(before, scale_factor=2, mode="nearest"))
        mid = g(z, y, level=k, alpha=0.25)
        torch.testing.assert_close(mid, 0.25 * grown + 0.75 * F.interpolate(before, scale_factor=2, mode="nearest"),
                                   rtol=1e-5, atol=1e-5)
        with torch.no_grad():                            # the old head is out of the picture at alpha = 1
            g.to_rgb[k - 1].weight.mul_(3.0)
        torch.testing.assert_close(g(z, y, level=k, alpha=1.0), grown, rtol=0, atol=0)


def test_grown_discriminator_at_alpha_one_is_the_network_of_that_resolution():
    torch.manual_seed(1)
    cfg = _cfg()
    d = ProDiscriminator(cfg).eval()
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    for k, res in ((1, 8), (2, 16), (3, 32)):
        x = torch.randn(8, 3, res, res)
        small = ProDiscriminator(_truncated(cfg, res)).eval()
        _load_shared(small, d)
        torch.testing.assert_close(d(x, y, level=k, alpha=1.0), small(x, y), rtol=0, atol=0)
        torch.testing.assert_close(d(x, y, level=k, alpha=0.0), d(F.avg_pool2d(x, 2), y, level=k - 1), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="takes 16x16"):
        d(torch.randn(2, 3, 8, 8), y[:2], level=2)


def test_real_images_are_blended_across_the_fade_like_the_generator():
    x = torch.rand(4, 3, 64, 64)
    x16, x8 = F.avg_pool2d(x, 4), F.avg_pool2d(x, 8)
    torch.testing.assert_close(real_at(x, 16, 1.0), x16)
    torch.testing.assert_close(real_at(x, 16, 0.0), F.interpolate(x8, scale_factor=2, mode="nearest"))
    torch.testing.assert_close(real_at(x, 16, 0.3), 0.3 * x16 + 0.7 * F.interpolate(x8, scale_factor=2), rtol=1e-5, atol=1e-6)
    assert real_at(x, 64, 1.0) is x


# -- the stabilisers ---------------------------------------------------------------------------------------


def test_equalized_lr_scales_weights_at_run_time_not_at_init():
    torch.manual_seed(0)
    conv = EqualizedConv2d(64, 32, 3)
    c = math.sqrt(2) / math.sqrt(64 * 9)
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.05)        # stored unscaled: N(0, 1)
    x = torch.randn(2, 64, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * c, conv.bias, padding=1))
    with torch.no_grad():                                                  # a new weight is scaled when used
        conv.weight.copy_(torch.randn_like(conv.weight))
        conv.bias.zero_()
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * c, padding=1))
    plain = EqualizedConv2d(64, 32, 3, equalized=False)                    # He initialisation instead
    assert plain.weight.std().item() == pytest.approx(c, rel=0.05)
    torch.testing.assert_close(plain(x), F.conv2d(x, plain.weight, plain.bias, padding=1))


@pytest.mark.parametrize("equalized", [True, False])
def test_equalized_lr_gives_every_layer_the_same_relative_step(equalized):
    """One Adam step moves every weight by about lr; with the run-time scale that is the same share of every
    layer's weight scale, whatever its fan-in. Without it, small-fan-in layers move relatively less."""
    torch.manual_seed(0)
    layers = [EqualizedConv2d(4, 8, 3, equalized=equalized), EqualizedConv2d(256, 8, 3, equalized=equalized)]
    rel = []
    for layer in layers:
        before = (layer.weight * layer.scale).detach().clone()
        opt = torch.optim.Adam(layer.parameters(), lr=1e-3, betas=(0.0, 0.99))
        layer(torch.randn(4, layer.weight.shape[1], 6, 6)).pow(2).mean().backward()
        opt.step()
        after = (layer.weight * layer.scale).detach()
        rel.append(((after - before).abs().mean() / before.std()).item())
    ratio = rel[1] / rel[0]
    if equalized:
        assert ratio == pytest.approx(1.0, rel=0.2)
    else:
        assert ratio == pytest.approx(math.sqrt(256 / 4), rel=0.2)


def test_minibatch_stddev_feature():
    torch.manual_seed(0)
    x = torch.randn(8, 5, 4, 4)
    y = minibatch_stddev(x, 4)
    assert y.shape == (8, 6, 4, 4)
    torch.testing.assert_close(y[:, :5], x)
    for g in range(2):                                  # groups of 4 consecutive images
        group = x[4 * g:4 * g + 4]
        s = (group.var(0, unbiased=False) + 1e-8).sqrt().mean()
        assert torch.allclose(y[4 * g:4 * g + 4, 5], s.expand(4, 4, 4))
    same = minibatch_stddev(x[:1].expand(4, 5, 4, 4).contiguous(), 4)
    assert same[:, 5].max().item() < 1e-3              # no variety in the group: a feature near 0
    assert minibatch_stddev(torch.randn(6, 2, 4, 4), 4).shape == (6, 3, 4, 4)   # groups of 3 when 4 does not divide 6
    assert minibatch_stddev(torch.randn(1, 2, 4, 4), 4)[:, 2].max().item() < 1e-3


def test_stabilisers_switch_off():
    torch.manual_seed(0)
    cfg = _cfg(minibatch_stddev=False, pixel_norm=False, equalized_lr=False)
    d = ProDiscriminator(cfg)
    assert d.conv4.weight.shape[1] == cfg.width_at(4)      # no extra stddev channel
    on = ProDiscriminator(_cfg())
    assert on.conv4.weight.shape[1] == cfg.width_at(4) + 1
    assert ProGenerator(cfg)(torch.randn(2, 16), torch.tensor([0, 1]), level=3).shape == (2, 3, 32, 32)


# -- the model: shapes, sampling, checkpoints, resume -----------------------------------------------------


def test_conditional_and_unconditional_shapes_and_samples():
    torch.manual_seed(0)
    model = ProGAN(_cfg())
    model.images_shown.fill_(10**6)                     # fully grown
    assert model.sample(5, labels=[0, 1, 2, 0, 1], seed=3).shape == (5, 3, 32, 32)
    pyramid = model.sample_all_resolutions(2, labels=1, seed=3)
    assert {r: tuple(v.shape) for r, v in pyramid.items()} == {r: (2, 3, r, r) for r in (4, 8, 16, 32)}
    assert all(0 <= float(v.min()) and float(v.max()) <= 1 for v in pyramid.values())
    torch.testing.assert_close(pyramid[32], model.sample(2, labels=1, seed=3))
    with pytest.raises(ValueError, match="conditional"):
        model.sample(2)
    uncond = ProGAN(_cfg(cond="none"))
    assert uncond.sample(3, seed=0, resolution=4).shape == (3, 3, 4, 4)    # not grown yet: 4x4 ...
    torch.testing.assert_close(uncond.sample(3, seed=0),                     # ... shown at the final size
                               F.interpolate(uncond.sample(3, seed=0, resolution=4), size=32, mode="nearest"))
    with pytest.raises(ValueError, match="unconditional"):
        uncond.sample(2, labels=1)
    with pytest.raises(ValueError, match="resolution"):
        uncond.sample(2, resolution=8)


def _run(data, out, steps, cfg, record=None, resume=False):
    torch.manual_seed(0)
    model = ProGAN(cfg)
    if record is not None:
        step_fn = model.training_step

        def recording(batch, ctx):
            logs = step_fn(batch, ctx)
            record.append({k: float(v) for k, v in logs.items()})
            return logs
        model.training_step = recording  # type: ignore[method-assign]
    tc = TrainConfig(max_steps=steps, batch_size=4, lr=1e-3, log_every=100, val_every=100, checkpoint_every=100,
                     tensorboard=False, progress=False)
    Trainer(tc, out).fit(model, data, resume=resume)
    return model


def test_resume_in_the_middle_of_a_fade_is_exact(tiny_data, tmp_path):
    cfg = _cfg(channels=1, final_res=8, fade_images=40, stable_images=8, batch_sizes=(4, 4), num_classes=2)
    whole: list[dict] = []
    a = _run(tiny_data, tmp_path / "a", 14, cfg, whole)
    b_logs: list[dict] = []
    _run(tiny_data, tmp_path / "b", 6, cfg, b_logs)                 # stops (and saves) 4 steps into the fade
    side = json.loads((tmp_path / "b" / "last.json").read_text())
    assert side["step"] == 6
    stopped = load_model(tmp_path / "b" / "last")
    assert isinstance(stopped, ProGAN)
    ph = stopped.phase
    assert ph.fading and ph.level == 1 and ph.alpha == pytest.approx(16 / 40)   # the checkpoint records the phase
    assert float(stopped.alpha) == pytest.approx(16 / 40) and int(stopped.images_shown) == 24
    b = _run(tiny_data, tmp_path / "b", 14, cfg, b_logs, resume=True)
    assert len(b_logs) == 14
    assert [r["alpha"] for r in b_logs] == [r["alpha"] for r in whole]
    assert 0 < whole[6]["alpha"] < 1
    for key in ("loss_d", "loss_g", "gp"):
        assert [r[key] for r in b_logs] == [r[key] for r in whole], key
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v, rtol=0, atol=0, msg=k)


def test_sampler_export_keeps_the_phase(tiny_data, tmp_path):
    from pgan_lib.pretrained import export_sampler

    cfg = _cfg(channels=1, final_res=8, fade_images=8, stable_images=8, batch_sizes=(4, 4), num_classes=2)
    _run(tiny_data, tmp_path / "r", 7, cfg)
    stem, _ = export_sampler(tmp_path / "r" / "last", str(tmp_path / "shipped" / "p"))
    model = load_model(stem)
    assert isinstance(model, ProGAN) and model.config.generator_only
    assert model.phase.level == 1 and model.phase.alpha == 1.0
    assert model.sample(3, labels=[0, 1, 0], seed=0).shape == (3, 1, 8, 8)
    assert model.sample(3, labels=[0, 1, 0], seed=0, resolution=4).shape == (3, 1, 4, 4)


def test_64px_catalogue_samples_are_measured_by_the_64px_classifier():
    from pgan_lib import pretrained
    from pgan_lib.eval import evaluate_samples
    from pgan_lib.eval.features import FeatureExtractor

    if not (pretrained.available("catalog64-classifier") and pretrained.available("catalog-classifier")):
        pytest.skip("the catalogue classifiers are not shipped in this copy")
    assert FeatureExtractor.for_dataset("catalog", size=64).name == "catalog64-classifier"
    assert FeatureExtractor.for_dataset("catalog", size=32).name == "catalog-classifier"
    assert FeatureExtractor.for_dataset("catalog").name == "catalog-classifier"
    images = torch.rand(12, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    report = evaluate_samples(images, dataset="catalog", k=3, kid_subsets=2, kid_subset_size=10, limit=50)
    assert report["feature_extractor"].startswith("catalog64-classifier@") and report["fid"] > 0


def test_evaluate_generator_asks_for_classes_in_turn_and_an_unconditional_model_for_nothing():
    from types import SimpleNamespace

    from pgan_lib import pretrained
    from pgan_lib.eval import evaluate_generator, evaluate_samples
    from pgan_lib.models.base import draw_samples

    if not pretrained.available("catalog-classifier"):
        pytest.skip("the catalogue classifier is not shipped in this copy")
    torch.manual_seed(0)
    label, uncond = ProGAN(_cfg()), ProGAN(_cfg(cond="none"))
    kw = dict(k=3, kid_subsets=2, kid_subset_size=10, limit=50)
    got = evaluate_generator(label, 12, "catalog", seed=5, **kw)
    labels = [0, 1, 2] * 4                              # the model's 3 classes in turn
    direct = evaluate_samples(draw_samples(label, 12, labels=labels, seed=5), "catalog", labels=labels, **kw)
    assert (got["n"], got["fid"], got["conditional_accuracy"]) == (12, direct["fid"], direct["conditional_accuracy"])
    free = evaluate_generator(uncond, 12, "catalog", **kw)
    assert "conditional_accuracy" not in free and "conditional" not in free
    counts = list(free["class_histogram"].values())
    assert sum(counts) == 12 and free["class_balance"] == min(counts) * len(counts) / 12
    every = evaluate_generator(uncond, None, "catalog", **kw)   # n=None: as many samples as real images
    assert every["n"] == every["n_real"] == 50
    assert label.labels_in_turn(7) == [0, 1, 2, 0, 1, 2, 0] and uncond.labels_in_turn(7) is None
    with pytest.raises(ValueError, match="descriptions"):
        evaluate_generator(SimpleNamespace(condition=SimpleNamespace(kind="description")), 4)  # type: ignore[arg-type]


def test_generate_reads_the_category_for_a_label_model(tmp_path, capsys):
    from pgan_lib import pretrained
    from pgan_lib.cli import main

    if not pretrained.available("catalog64-progan"):
        pytest.skip("catalog64-progan is not shipped in this copy")
    out = tmp_path / "dress.png"
    assert main(["generate", "a green dotted dress", "--model", "catalog64-progan", "--n", "2", "--out", str(out)]) == 0
    assert out.is_file() and "category only (dress)" in capsys.readouterr().out
    assert main(["generate", "a green thing", "--model", "catalog64-progan", "--n", "2", "--out", str(out)]) == 2
    assert "names no single category" in capsys.readouterr().err
    assert main(["generate", "a green thing", "--model", "catalog64-progan", "--labels", "5", "--n", "2",
                 "--out", str(out)]) == 0


@pytest.mark.parametrize("name, cond, mbstd", [("progan-catalog64", "label", True),
                                               ("progan-catalog64-no-mbstd", "label", False),
                                               ("progan-catalog64-uncond", "none", True),
                                               ("progan-catalog64-uncond-no-mbstd", "none", False)])
def test_progan_recipes_differ_only_in_condition_and_minibatch_stddev(name, cond, mbstd):
    """The variation ablations change one switch each against progan-catalog64, and nothing else."""
    from types import SimpleNamespace

    from pgan_lib.config import get_mode
    from pgan_lib.recipes import get_recipe

    def built(recipe: str) -> dict:
        model = get_recipe(recipe).build(SimpleNamespace(num_classes=6), get_mode("full"))
        return json.loads(json.dumps(model.config.__dict__, default=str))

    config, base = built(name), built("progan-catalog64")
    assert (config["cond"], config["minibatch_stddev"]) == (cond, mbstd)
    assert {k: v for k, v in config.items() if k not in ("cond", "minibatch_stddev")} == \
        {k: v for k, v in base.items() if k not in ("cond", "minibatch_stddev")}
    assert get_recipe(name).train_config("full") == get_recipe("progan-catalog64").train_config("full")
