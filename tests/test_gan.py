"""GANs: shapes, conditioning, the projection discriminator, EMA, losses, gradient penalty,
DiffAugment, the train -> checkpoint -> sample round trip, and the shipped generator."""
import json
import math
import shutil
from dataclasses import asdict

import numpy as np
import pytest
import torch

from pgan_lib import pretrained
from pgan_lib.checkpoint import CheckpointError, file_sha256, save_checkpoint
from pgan_lib.cli import main as pgan
from pgan_lib.eval import features as features_module
from pgan_lib.eval.metrics import class_accuracy, class_histogram
from pgan_lib.models.augment import diff_augment, parse_policy, translation
from pgan_lib.models.base import load_model
from pgan_lib.models.ema import ema_decay_at
from pgan_lib.models.gan import GAN, ConditionalBatchNorm2d, GANConfig, d_loss, g_loss, gradient_penalty

torch.set_num_threads(1)


def _inputs(model: GAN, n: int):
    cond = model.condition
    if cond is None:
        return {}
    if cond.kind == "label":
        return {"labels": [i % model.config.num_classes for i in range(n)]}
    return {"prompts": ["red mug", "blue mug", "red bag"][:n] * (n // 3) + ["red mug"] * (n % 3)}


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("cond", ["none", "label", "description"])
def test_shapes(size, channels, cond):
    torch.manual_seed(0)
    model = GAN(GANConfig(channels=channels, size=size, cond=cond, num_classes=3, vocab=("red", "blue", "mug", "bag"),
                          g_width=16, d_width=16))
    n = 3
    z = torch.randn(n, model.config.latent_dim)
    cond_in = model.cond_inputs(**_inputs(model, n))
    fake = model.generator(z, cond_in)
    assert fake.shape == (n, channels, size, size) and fake.abs().max() <= 1
    assert model.discriminator(fake, cond_in).shape == (n,)
    s = model.sample(n, seed=0, **_inputs(model, n))
    assert s.shape == (n, channels, size, size) and 0 <= s.min() and s.max() <= 1
    if cond != "description":
        assert model.preview(4).shape == (4, channels, size, size)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="BatchNorm"):
        GANConfig(loss="wgan-gp", d_norm="batch")
    with pytest.raises(ValueError, match="loss"):
        GANConfig(loss="lsgan")
    with pytest.raises(ValueError, match="DiffAugment"):
        GANConfig(diffaug="color,rotate")
    with pytest.raises(ValueError, match="not supported"):
        GANConfig(size=48)
    with pytest.raises(ValueError, match="aux_weight"):
        GANConfig(aux_weight=0.5, cond="none")
    with pytest.raises(RuntimeError, match="cannot be trained"):
        GAN(GANConfig(generator_only=True)).configure_optimizers(1e-3)


@pytest.mark.parametrize("cond", ["label", "description"])
def test_conditioning_changes_the_images(cond):
    torch.manual_seed(0)
    model = GAN(GANConfig(cond=cond, num_classes=3, vocab=("red", "blue", "mug"), g_width=16, d_width=16))
    z = torch.randn(2, model.config.latent_dim)[[0, 0, 1]]            # the same noise twice, then another
    if cond == "label":
        a = model.sample(3, labels=[0, 1, 0], z=z)
    else:
        a = model.sample(3, prompts=["red mug", "blue mug", "red mug"], z=z)
    # another condition changes the image, by far more than rounding (at initialisation every image is near grey)
    assert (a[0] - a[1]).abs().max() > 1e-3 * (a[0] - a[2]).abs().max() > 0
    one = model.sample(1, z=z[:1], **({"labels": [0]} if cond == "label" else {"prompts": ["red mug"]}))
    assert (one[0] - a[0]).abs().max() < 1e-7 < (a[0] - a[1]).abs().max()   # eval mode: batch-independent
    # ... and through the conditional BatchNorm too, once its scale/shift layers are non-zero
    for m in model.g_ema.modules():
        if isinstance(m, ConditionalBatchNorm2d) and m.cond_dim:
            torch.nn.init.normal_(m.affine.weight, 0, 0.5)
    g = model.g_ema
    c = g.condition(model.cond_inputs(labels=[0, 1]) if cond == "label" else model.cond_inputs(prompts=["red mug", "blue mug"]))
    h = torch.randn(2, g.top, g.side, g.side)
    same = h[:1].repeat(2, 1, 1, 1)
    out = g.norm0.eval()(same, c)
    assert (out[0] - out[1]).abs().max() > 1e-3


def test_projection_discriminator_uses_the_label():
    torch.manual_seed(0)
    model = GAN(GANConfig(cond="label", num_classes=4, g_width=16, d_width=16))
    d = model.discriminator.eval()   # eval: spectral norm's power iteration does not move between calls
    x = torch.rand(1, 1, 28, 28).repeat(4, 1, 1, 1) * 2 - 1
    scores = d(x, torch.arange(4))
    assert scores.unique().numel() == 4
    # the score is w.phi + b + e(y).phi: check the projection term by hand
    phi = d.phi(x[:1])
    by_hand = d.out(phi).squeeze(1) + (d.condition.embed.weight[2] * phi).sum(1)
    assert torch.allclose(d(x[:1], torch.tensor([2])), by_hand, atol=1e-6)
    # and D's loss trains the class vectors
    d(x, torch.arange(4)).sum().backward()
    assert d.condition.embed.weight.grad.abs().sum() > 0


def test_ema_update_is_a_moving_average():
    torch.manual_seed(0)
    model = GAN(GANConfig(g_width=8, d_width=8))
    for p in model.generator.parameters():
        torch.nn.init.constant_(p, 1.0)
    for p in model.g_ema.parameters():
        torch.nn.init.constant_(p, 0.0)
    model.generator.norm0.bn.running_mean.fill_(2.0)
    model.g_ema.norm0.bn.running_mean.fill_(0.0)
    model.generator.norm0.bn.num_batches_tracked.fill_(7)
    model.update_ema(0.9)
    for p in model.g_ema.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.1))
    assert torch.allclose(model.g_ema.norm0.bn.running_mean, torch.full_like(model.g_ema.norm0.bn.running_mean, 0.2))
    assert model.g_ema.norm0.bn.num_batches_tracked.item() == 7
    model.update_ema(0.9)
    for p in model.g_ema.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.19))   # 0.9 * 0.1 + 0.1 * 1
    # the warm-up: early decays are small, later the configured one
    assert ema_decay_at(0, model.config.ema_decay) == pytest.approx(0.1)
    assert ema_decay_at(10**6, model.config.ema_decay) == model.config.ema_decay
    assert not any(p.requires_grad for p in model.g_ema.parameters())


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_losses_on_hand_computed_cases():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    # hinge: D = mean relu(1 - real) + mean relu(1 + fake) = (0 + 2)/2 + (1.5 + 0)/2
    assert d_loss("hinge", real, fake).item() == pytest.approx(1.75)
    assert g_loss("hinge", fake).item() == pytest.approx(1.25)
    # non-saturating: D = mean softplus(-real) + mean softplus(fake); G = mean softplus(-fake)
    ns_d = (_softplus(-2) + _softplus(1)) / 2 + (_softplus(0.5) + _softplus(-3)) / 2
    assert d_loss("ns", real, fake).item() == pytest.approx(ns_d, rel=1e-6)
    assert g_loss("ns", fake).item() == pytest.approx((_softplus(-0.5) + _softplus(3)) / 2, rel=1e-6)
    assert g_loss("minimax", fake).item() == pytest.approx(-(_softplus(0.5) + _softplus(-3)) / 2, rel=1e-6)
    # Wasserstein: D = mean fake - mean real; G = -mean fake
    assert d_loss("wgan-gp", real, fake).item() == pytest.approx(-1.25 - 0.5)
    assert g_loss("wgan-gp", fake).item() == pytest.approx(1.25)
    # the saturating loss has (almost) no gradient where D confidently rejects G's images; NS does
    f = torch.tensor([-8.0], requires_grad=True)
    (gm,) = torch.autograd.grad(g_loss("minimax", f), f)
    (gn,) = torch.autograd.grad(g_loss("ns", f), f)
    assert abs(gm.item()) < 1e-3 < abs(gn.item())


def test_gradient_penalty():
    # a linear critic f(x) = sum(w * x) has gradient w everywhere: penalty (||w|| - 1)^2
    w = torch.zeros(2, 1, 4, 4)
    w[0, 0, 0, 0], w[1, 0, 1, 1] = 3.0, 4.0    # ||w_i|| = 3 and 4 -> (2^2 + 3^2) / 2
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(6.5)
    # on the GAN's own critic: finite, positive, and it trains D
    torch.manual_seed(0)
    model = GAN(GANConfig(loss="wgan-gp", d_norm="none", cond="label", num_classes=3, g_width=8, d_width=8))
    y = torch.tensor([0, 1, 2])
    gp = gradient_penalty(lambda x: model.discriminator(x, y), torch.rand(3, 1, 28, 28) * 2 - 1,
                          model.generator(torch.randn(3, 64), y))
    assert torch.isfinite(gp) and gp.item() > 0
    gp.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.discriminator.parameters() if p.grad is not None)


def test_diffaugment():
    torch.manual_seed(0)
    x = (torch.rand(4, 3, 32, 32) * 2 - 1).requires_grad_(True)
    assert parse_policy("") == () and diff_augment(x, "") is x
    y = diff_augment(x, "color,translation,cutout")
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # translation moves content: a single bright pixel stays a single bright pixel (or leaves through the border)
    dot = torch.zeros(8, 1, 16, 16)
    dot[:, :, 8, 8] = 1.0
    moved = translation(dot, ratio=0.125)
    assert torch.allclose(moved.sum((1, 2, 3)), torch.ones(8))


def test_training_steps_and_logs():
    torch.manual_seed(0)
    from pgan_lib.data.batches import Batch

    for loss, d_steps, aux in [("ns", 1, 0.0), ("hinge", 1, 0.5), ("wgan-gp", 2, 0.0)]:
        model = GAN(GANConfig(loss=loss, d_norm="none" if loss == "wgan-gp" else "spectral", d_steps=d_steps,
                              cond="label", num_classes=3, g_width=8, d_width=8, diffaug="translation",
                              aux_weight=aux))
        opts = model.configure_optimizers(1e-3)

        class Ctx:
            def step(self, name, value, opts=opts):
                opts[name].zero_grad(set_to_none=True)
                value.backward()
                opts[name].step()

        g_before = [p.detach().clone() for p in model.generator.parameters()]
        batch = Batch(x=torch.rand(8, 1, 28, 28), y=torch.arange(8) % 3, idx=torch.arange(8))
        logs = model.training_step(batch, Ctx())
        model.after_step(1)
        assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(logs) and all(torch.isfinite(v) for v in logs.values())
        assert ("p_real" in logs) == (loss == "ns") and ("gp" in logs) == (loss == "wgan-gp")
        assert ("aux_d" in logs) == ("aux_g" in logs) == (aux > 0)
        assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
        assert all(p.requires_grad for p in model.discriminator.parameters())


def test_class_histogram_and_accuracy():
    assert class_histogram(torch.tensor([0, 2, 2, 1, 2]), 4).tolist() == [1, 1, 3, 0]
    acc = class_accuracy(torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 2, 2, 0]), 4, min_share=0.2)
    assert acc["accuracy"] == pytest.approx(4 / 6)
    assert acc["per_class"][:3] == pytest.approx([0.5, 0.5, 1.0]) and math.isnan(acc["per_class"][3])
    assert acc["worst_class_accuracy"] == pytest.approx(0.5)
    assert acc["histogram"] == [2, 1, 3, 0] and acc["classes_present"] == 2


@pytest.fixture
def feature_model(tmp_path, monkeypatch):
    """The shipped fashion classifier, or (where it is missing) an untrained stand-in under the same name."""
    if pretrained.available("fashion-classifier"):
        return "fashion-classifier"
    from pgan_lib.models.classifier import Classifier, ClassifierConfig

    torch.manual_seed(0)
    clf = Classifier(ClassifierConfig(widths=(8, 16, 16), feature_dim=16))
    folder = tmp_path / "ckpt"
    stem = save_checkpoint(folder / "fashion-classifier",
                           {f"model/{k}": v for k, v in clf.state_dict().items()},
                           {"arch": "classifier", "config": asdict(clf.config)})
    monkeypatch.setenv("PGAN_CHECKPOINT_DIR", str(folder))
    monkeypatch.setitem(pretrained.SHIPPED, "fashion-classifier", pretrained.Shipped(
        "fashion-classifier", "classifier-fashion", file_sha256(stem.with_suffix(".safetensors")),
        file_sha256(stem.with_suffix(".json")), "test stand-in"))
    monkeypatch.setattr(features_module, "_LOADED", {})
    return "fashion-classifier"


def test_quick_run_train_checkpoint_sample(tmp_path, feature_model, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run = tmp_path / "run"
    assert pgan(["train", "cgan-fashion", "--mode", "quick", "--steps", "4", "--out", str(run)]) == 0
    for name in ("last", "best"):
        assert (run / f"{name}.safetensors").exists() and (run / f"{name}.json").exists()
    model = load_model(run / "best")
    entry = json.loads((run / "last.json").read_text())["history"][-1]
    assert {"val_fid", "val_class_acc", "val_classes_present", "val_d_real", "val_d_fake"} <= set(entry)
    assert math.isfinite(entry["val_fid"]) and 0 <= entry["val_class_acc"] <= 1
    out = tmp_path / "s.npz"
    assert pgan(["sample", "--checkpoint", str(run), "--n", "12", "--labels", "all", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as f:
        assert f["images"].shape == (12, 28, 28, 1) and f["images"].dtype == np.uint8
        assert f["labels"].tolist() == [i % 10 for i in range(12)]
    # the shipped form: EMA generator only, half precision, same samples (to fp16 rounding)
    small, _ = pretrained.export_sampler(run / "best", str(tmp_path / "gen"))
    assert small.with_suffix(".safetensors").stat().st_size < 0.3 * (run / "best.safetensors").stat().st_size
    sampler = load_model(small)
    assert sampler.config.generator_only and not hasattr(sampler, "discriminator")
    assert all(p.dtype == torch.float32 for p in sampler.parameters())
    a = model.sample(10, labels=list(range(10)), seed=3)
    b = sampler.sample(10, labels=list(range(10)), seed=3)
    assert (a - b).abs().max() < 0.02


def _ship_copy(tmp_path, monkeypatch, source_stem):
    folder = tmp_path / "shipped"
    folder.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(source_stem.with_suffix(suffix), folder / f"test-gan{suffix}")
    monkeypatch.setenv("PGAN_CHECKPOINT_DIR", str(folder))
    monkeypatch.setitem(pretrained.SHIPPED, "test-gan", pretrained.Shipped(
        "test-gan", "cgan-fashion", file_sha256(folder / "test-gan.safetensors"), file_sha256(folder / "test-gan.json"),
        "test"))
    return folder / "test-gan.safetensors"


def test_shipped_generator_hash_is_checked(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = GAN(GANConfig(cond="label", g_width=8, d_width=8))
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    stem = save_checkpoint(tmp_path / "train", tensors, {"arch": "gan", "config": model.config_dict(), "step": 0})
    gen, _ = pretrained.export_sampler(stem, str(tmp_path / "gen"), dtype=torch.bfloat16)
    weights = _ship_copy(tmp_path, monkeypatch, gen)
    assert pretrained.load("test-gan").sample(3, labels=[0, 1, 2], seed=0).shape == (3, 1, 28, 28)
    blob = bytearray(weights.read_bytes())
    blob[-3] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="does not match"):
        pretrained.load("test-gan")
    assert not pretrained.available("test-gan")


@pytest.mark.skipif(not pretrained.available("fashion-cgan"), reason="fashion-cgan is not shipped in checkpoints/")
def test_shipped_fashion_cgan(tmp_path, monkeypatch):
    model = pretrained.load("fashion-cgan")
    assert model.config.generator_only and model.condition.kind == "label"
    out = tmp_path / "s.npz"
    assert pgan(["sample", "--model", "fashion-cgan", "--n", "20", "--labels", "all", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as f:
        assert f["images"].shape == (20, 28, 28, 1) and f["labels"].tolist() == [i % 10 for i in range(20)]
    _ship_copy(tmp_path, monkeypatch, pretrained.path_of("fashion-cgan"))
    weights = tmp_path / "shipped" / "test-gan.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    weights.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="sha256"):
        pretrained.load("test-gan")


def test_demos_show_the_vanishing_minimax_gradient():
    from pgan_lib.gan_demos import discriminator_wins_demo, modes_covered, ring_of_gaussians, train_toy_gan

    run = discriminator_wins_demo(d_steps=100, every=50)
    assert run.d_fake[-1] < 0.05                       # D rejects G's samples...
    assert run.grad_minimax[-1] < 0.1 * run.grad_ns[-1]  # ...and the minimax gradient has all but vanished
    assert modes_covered(ring_of_gaussians(2000, generator=torch.Generator().manual_seed(0))) == 8
    toy = train_toy_gan(steps=20, snapshot_every=10)
    assert len(toy.snapshots) == 2 and toy.snapshots[0][1].shape == (1000, 2) and len(toy.modes()) == 2
