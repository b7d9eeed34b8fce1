"""The trainer's speed settings: fused/foreach optimisers, the foreach EMA, compile (and its fallback),
channels-last, bf16 autocast, the large-batch LR rule; CUDA-only branches checked on the CPU by forcing them."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from distributed_worker import GAN, GANConfig, tiny_fashion
from test_trainer import ToyAE, cfg

from pgan_lib import acceleration
from pgan_lib.models import optim
from pgan_lib.models.ema import ema_update
from pgan_lib.train import TrainConfig, Trainer


def tiny_gan() -> GAN:
    torch.manual_seed(0)
    return GAN(GANConfig(channels=1, size=28, latent_dim=16, g_width=8, d_width=8, cond="label", num_classes=2,
                         cond_dim=8, ema_decay=0.9))


def gan_cfg(**kw) -> TrainConfig:
    base = dict(max_steps=8, batch_size=16, lr=1e-3, seed=2, log_every=4, val_every=100, checkpoint_every=4,
                tensorboard=False, progress=False)
    base.update(kw)
    return TrainConfig(**base)


# -- optimisers -----------------------------------------------------------------------------------


def test_adam_picks_fused_where_the_device_has_it_else_foreach(monkeypatch):
    assert optim.implementation(torch.device("cuda")) == "fused"           # the CUDA branch, decided on a CPU machine
    assert optim.implementation(torch.device("cpu")) == ("fused" if optim.fused_supported(torch.device("cpu"))
                                                          else "foreach")
    monkeypatch.setattr(optim, "fused_supported", lambda device: False)
    assert optim.implementation(torch.device("cpu")) == "foreach"
    p = torch.nn.Parameter(torch.ones(3))
    assert optim.adam([p], lr=0.1).defaults["foreach"] is True


@pytest.mark.parametrize("kind", ["fused", "foreach"])
def test_fast_adam_takes_the_steps_of_the_plain_loop(monkeypatch, kind):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))
    nets = {}
    for variant in ("loop", kind):
        monkeypatch.setattr(optim, "FORCE_IMPLEMENTATION", variant)
        copy = torch.nn.Sequential(*[type(m)(*m.weight.shape[::-1]) if isinstance(m, torch.nn.Linear) else m for m in net])
        copy.load_state_dict(net.state_dict())
        opt = optim.adam(copy.parameters(), lr=1e-2, betas=(0.0, 0.99), weight_decay=0.1, decoupled=True)
        assert isinstance(opt, torch.optim.AdamW)
        assert opt.defaults.get("fused") is (True if variant == "fused" else None)
        for i in range(5):
            x = torch.randn(8, 5, generator=torch.Generator().manual_seed(i))
            opt.zero_grad()
            copy(x).pow(2).mean().backward()
            opt.step()
        nets[variant] = copy
    for a, b in zip(nets["loop"].parameters(), nets[kind].parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(nets["loop"][0].weight, net[0].weight)      # the steps did move the weights


def test_ema_update_is_the_moving_average_on_weights_and_float_buffers():
    live, ema = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        live.weight.fill_(2.0)
        live.running_mean.fill_(4.0)
        live.num_batches_tracked.fill_(7)
    ema_update(ema, live, 0.75)
    assert torch.allclose(ema.weight, torch.full((3,), 0.75 * 1.0 + 0.25 * 2.0))
    assert torch.allclose(ema.running_mean, torch.full((3,), 0.25 * 4.0))
    assert int(ema.num_batches_tracked) == 7                                # integer buffers are copied


# -- the large-batch rule ----------------------------------------------------------------------------


def test_lr_scaling_rule_and_warmup():
    assert acceleration.scaled_lr(2e-4, 256, 64, "sqrt") == pytest.approx(4e-4)
    assert acceleration.scaled_lr(2e-4, 256, 64, "linear") == pytest.approx(8e-4)
    assert acceleration.scaled_lr(2e-4, 256, 64, "none") == pytest.approx(2e-4)
    assert [acceleration.warmup_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert acceleration.warmup_cosine_factor(10, 0, 10, True) == pytest.approx(0.0, abs=1e-12)
    assert acceleration.warmup_cosine_factor(5, 0, 10, True) == pytest.approx(0.5)
    assert TrainConfig(lr=1e-3, batch_size=256, lr_scaling="sqrt", base_batch_size=64).effective_lr == pytest.approx(2e-3)
    for bad in (dict(lr_scaling="cube"), dict(warmup_steps=-1), dict(warmup_steps=3, lr_schedule="plateau",
                                                                   early_stop_metric="val_loss"),
                dict(compile_mode="fastest")):
        with pytest.raises(ValueError):
            TrainConfig(**bad)


def test_trainer_warms_up_the_scaled_rate_and_resumes_exactly(tiny_data, tmp_path):
    c = cfg(max_steps=12, lr=1e-2, batch_size=32, lr_scaling="sqrt", base_batch_size=8, warmup_steps=4)
    trainer = Trainer(c, tmp_path / "a")
    trainer.fit(ToyAE(), tiny_data)
    assert trainer.optimizers["main"].param_groups[0]["lr"] == pytest.approx(2e-2)   # 1e-2 * sqrt(32 / 8)
    seen = []

    class Probe(ToyAE):
        def training_step(self, batch, ctx):
            seen.append(trainer2.optimizers["main"].param_groups[0]["lr"])
            return super().training_step(batch, ctx)

    trainer2 = Trainer(c, tmp_path / "b")
    trainer2.fit(Probe(), tiny_data)
    assert seen[:5] == pytest.approx([0.005, 0.01, 0.015, 0.02, 0.02])
    # interrupted after 6 steps and resumed: the same weights as the straight run
    torch.manual_seed(0)
    straight = ToyAE()
    Trainer(c, tmp_path / "c").fit(straight, tiny_data)
    torch.manual_seed(0)
    first = ToyAE()
    Trainer(cfg(**{**c.__dict__, "max_steps": 12, "checkpoint_every": 6}), tmp_path / "d").fit(first, tiny_data)
    torch.manual_seed(0)
    part = ToyAE()
    part.interrupt_at = 7
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg(**{**c.__dict__, "checkpoint_every": 6}), tmp_path / "e").fit(part, tiny_data)
    rest = ToyAE()
    Trainer(cfg(**{**c.__dict__, "checkpoint_every": 6}), tmp_path / "e").fit(rest, tiny_data, resume=True)
    for a, b in zip(straight.parameters(), rest.parameters()):
        assert torch.equal(a, b)


# -- autocast ---------------------------------------------------------------------------------------


def test_bf16_autocast_on_the_cpu_is_opt_in():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with acceleration.autocast(torch.device("cpu"), amp_cuda=True, amp_cpu=False):
        assert (a @ b).dtype == torch.float32
    with acceleration.autocast(torch.device("cpu"), amp_cuda=False, amp_cpu=True):
        assert (a @ b).dtype == torch.bfloat16


def test_cuda_autocast_branch_asks_for_bf16(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "autocast", lambda device_type, **kw: calls.append((device_type, kw)) or "ctx")
    assert acceleration.autocast(torch.device("cuda", 0), amp_cuda=True, amp_cpu=False) == "ctx"
    assert calls == [("cuda", {"dtype": torch.bfloat16})]
    assert acceleration.autocast(torch.device("cuda", 0), amp_cuda=False, amp_cpu=True) != "ctx"


def test_gan_trains_under_cpu_bf16_autocast(tmp_path):
    model = tiny_gan()
    result = Trainer(gan_cfg(amp_cpu=True), tmp_path).fit(model, tiny_fashion())
    assert result.steps == 8
    assert all(torch.isfinite(p).all() and p.dtype == torch.float32 for p in model.parameters())


# -- channels-last ------------------------------------------------------------------------------------


def test_channels_last_trains_the_same_model_and_resumes_exactly(tmp_path):
    plain, last = tiny_gan(), tiny_gan()
    Trainer(gan_cfg(), tmp_path / "plain").fit(plain, tiny_fashion())
    Trainer(gan_cfg(channels_last=True), tmp_path / "last").fit(last, tiny_fashion())
    w = last.generator.ups[0].conv.weight
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    for (k, a), b in zip(plain.state_dict().items(), last.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=2e-3), k          # same training, other summation order
    # a resumed channels-last run ends where the straight one ends
    half = tiny_gan()
    Trainer(gan_cfg(channels_last=True, max_steps=4), tmp_path / "half").fit(half, tiny_fashion())
    rest = tiny_gan()
    Trainer(gan_cfg(channels_last=True), tmp_path / "half").fit(rest, tiny_fashion(), resume=True)
    for (k, a), b in zip(last.state_dict().items(), rest.state_dict().values()):
        assert torch.equal(a, b), k


# -- compile ----------------------------------------------------------------------------------------------


def test_compile_falls_back_with_a_warning_where_it_cannot_run(tmp_path, monkeypatch):
    monkeypatch.setattr(acceleration, "compile_available", lambda device: (False, "RuntimeError: no C compiler"))
    model = tiny_gan()
    trainer = Trainer(gan_cfg(compile=True), tmp_path)
    with pytest.warns(UserWarning, match="no C compiler.*training uncompiled"):
        result = trainer.fit(model, tiny_fashion())
    assert result.steps == 8 and trainer.compiled == []


def test_compile_probe_reports_a_failing_compiler(monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("Compiler: cc is not found")

    monkeypatch.setattr(acceleration, "_compile_probe", {})
    monkeypatch.setattr(torch, "compile", broken)
    ok, reason = acceleration.compile_available(torch.device("cpu"))
    assert not ok and "cc is not found" in reason


def test_compile_compiles_each_trained_network_in_place(tmp_path, monkeypatch):
    """The compile branch's logic (the real compiler takes minutes on two cores; the benchmark runs it)."""
    compiled = []
    monkeypatch.setattr(acceleration, "compile_available", lambda device: (True, ""))
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compiled.append((type(self).__name__, kw)))
    model = tiny_gan()
    keys = set(model.state_dict())
    trainer = Trainer(gan_cfg(compile=True, compile_mode="reduce-overhead"), tmp_path)
    trainer.fit(model, tiny_fashion())
    assert trainer.compiled == ["generator", "discriminator"]
    assert compiled == [("Generator", {"mode": "reduce-overhead"}), ("Discriminator", {"mode": "reduce-overhead"})]
    assert set(model.state_dict()) == keys                                  # checkpoints keep their keys
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        Trainer(cfg(compile=True), tmp_path / "toy").fit(ToyAE(), _toy_data())
    assert any("lists no networks" in str(w.message) for w in seen)


def _toy_data():
    from pgan_lib.data.base import ProductData

    imgs = (torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    return ProductData(name="toy", split="train", images=imgs, descriptions=[""] * 64, labels=torch.zeros(64).long(),
                       class_names=["x"])


def test_no_host_sync_per_step_on_an_accelerator(tmp_path, monkeypatch):
    """With the deferred checks (the GPU path, forced here) a step reads nothing back: the loss tensors'
    ``item``/``__bool__`` are called only at log steps (every 4 here), not per step."""
    reads = []
    real_bool = torch.Tensor.__bool__
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda self: reads.append(1) or real_bool(self))
    model = tiny_gan()
    trainer = Trainer(gan_cfg(max_steps=8, log_every=4, checkpoint_every=100), tmp_path)
    trainer.defer_finite_check = True
    trainer.fit(model, tiny_fashion())
    per_step = len(reads) / 8
    assert per_step <= 1.0, f"{len(reads)} host reads in 8 steps"
    assert math.isfinite(per_step)


def test_a_wall_clock_budget_stops_and_saves(tiny_data, tmp_path):
    trainer = Trainer(cfg(max_steps=10**6, max_seconds=0.5, checkpoint_every=10**6), tmp_path)
    result = trainer.fit(ToyAE(), tiny_data)
    assert 1 <= result.steps < 10**6 and trainer.train_seconds >= 0.5
    from pgan_lib.checkpoint import read_sidecar

    assert read_sidecar(tmp_path / "last")["step"] == result.steps          # the budget's end is saved
    with pytest.raises(ValueError, match="max_seconds"):
        TrainConfig(max_seconds=0)
