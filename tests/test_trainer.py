"""The shared trainer: early stopping, schedules, checkpoints, resume, refusal of bad files, NaN guard."""
import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from pgan_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pgan_lib.models.base import KitModel, load_model
from pgan_lib.train import NonFiniteLossError, TrainConfig, Trainer


@dataclass
class ToyConfig:
    pixels: int = 64
    hidden: int = 8


class ToyAE(KitModel):
    """A tiny noisy linear autoencoder: enough moving parts (Adam, RNG) to test the trainer."""

    arch = "toy-ae"
    Config = ToyConfig

    def __init__(self, config=None):
        config = config or ToyConfig()
        super().__init__(config)
        self.enc = nn.Linear(config.pixels, config.hidden)
        self.dec = nn.Linear(config.hidden, config.pixels)
        self.losses: list[float] = []
        self.val_value: float | None = None   # a fixed validation value, to force a plateau
        self.interrupt_at: int | None = None
        self.nan_at: int | None = None

    def training_step(self, batch, ctx):
        if self.interrupt_at is not None and ctx.step_index == self.interrupt_at:
            raise KeyboardInterrupt
        x = batch.x.flatten(1)
        h = self.enc(x) + 0.1 * torch.randn(x.shape[0], self.config.hidden)
        loss = (self.dec(h) - x).pow(2).mean()
        if self.nan_at is not None and ctx.step_index >= self.nan_at:
            loss = loss * float("nan")
        ctx.step("main", loss)
        self.losses.append(loss.item())
        return {"loss": loss.detach()}

    def validation_metrics(self, data):
        if self.val_value is not None:
            return {"val_loss": self.val_value}
        x = data.float_images().flatten(1)
        return {"val_loss": (self.dec(self.enc(x)) - x).pow(2).mean().item()}


def cfg(**kw):
    base = dict(max_steps=12, batch_size=16, lr=1e-2, log_every=1, val_every=2, checkpoint_every=4,
                tensorboard=False, progress=False, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_early_stopping_stops_after_patience(tiny_data, tmp_path):
    model = ToyAE()
    model.val_value = 1.0
    trainer = Trainer(cfg(max_steps=100, early_stop_metric="val_loss", patience=3), tmp_path, "cpu")
    result = trainer.fit(model, tiny_data, tiny_data)
    assert result.stopped_early
    assert result.steps == 8  # best at step 2, then three validations without improvement
    assert (tmp_path / "best.json").exists() and (tmp_path / "last.json").exists()


def test_cosine_schedule_reaches_zero_and_plateau_halves(tiny_data, tmp_path):
    model = ToyAE()
    trainer = Trainer(cfg(lr_schedule="cosine"), tmp_path / "cos", "cpu")
    trainer.fit(model, tiny_data, tiny_data)
    assert trainer.optimizers["main"].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)
    lrs = [h["lr_main"] for h in trainer.history]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))

    model = ToyAE()
    model.val_value = 1.0
    trainer = Trainer(cfg(max_steps=20, lr_schedule="plateau", early_stop_metric="val_loss", patience=100,
                          plateau_patience=1), tmp_path / "plat", "cpu")
    trainer.fit(model, tiny_data, tiny_data)
    assert trainer.optimizers["main"].param_groups[0]["lr"] < 1e-2 / 2


def test_resume_after_interrupt_reproduces_the_same_losses(tiny_data, tmp_path):
    torch.manual_seed(0)
    whole = ToyAE()
    Trainer(cfg(), tmp_path / "a", "cpu").fit(whole, tiny_data, tiny_data)

    torch.manual_seed(0)
    broken = ToyAE()
    broken.interrupt_at = 8
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg(), tmp_path / "b", "cpu").fit(broken, tiny_data, tiny_data)
    assert load_checkpoint(tmp_path / "b" / "last").meta["step"] == 7

    resumed = ToyAE()
    resumed.enc.weight.data.zero_()  # whatever it starts from, resume must restore everything
    Trainer(cfg(), tmp_path / "b", "cpu").fit(resumed, tiny_data, tiny_data, resume=True)
    assert len(resumed.losses) == 5
    assert resumed.losses == pytest.approx(whole.losses[7:], rel=1e-6, abs=1e-9)
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_checkpoint_rebuilds_the_model(tiny_data, tmp_path):
    model = ToyAE(ToyConfig(hidden=5))
    Trainer(cfg(max_steps=4), tmp_path, "cpu").fit(model, tiny_data, tiny_data)
    again = load_model(tmp_path / "last")
    assert again.config.hidden == 5
    assert torch.equal(again.enc.weight, model.enc.weight)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tiny_data, tmp_path):
    model = ToyAE()
    model.nan_at = 6
    with pytest.raises(NonFiniteLossError, match=r"step 6.*last good checkpoint"):
        Trainer(cfg(), tmp_path, "cpu").fit(model, tiny_data, tiny_data)
    ckpt = load_checkpoint(tmp_path / "last")
    assert ckpt.meta["step"] == 4
    assert all(torch.isfinite(v).all() for v in ckpt.group("model").values())


def test_deferred_finite_checks_still_name_the_step_and_protect_checkpoints(tiny_data, tmp_path):
    """On a GPU the checks are read back in batches: the NaN of step 6 is found at the step-8
    checkpoint, reported as step 6, and the step-8 weights are never saved."""
    model = ToyAE()
    model.nan_at = 6
    trainer = Trainer(cfg(log_every=5, val_every=100, checkpoint_every=4), tmp_path, "cpu")
    trainer.defer_finite_check = True
    with pytest.raises(NonFiniteLossError, match=r"became nan at step 6.*last good checkpoint"):
        trainer.fit(model, tiny_data, tiny_data)
    assert len(model.losses) == 8          # the run went on until the next read-back
    ckpt = load_checkpoint(tmp_path / "last")
    assert ckpt.meta["step"] == 4
    assert all(torch.isfinite(v).all() for v in ckpt.group("model").values())


def test_pickles_are_refused(tmp_path):
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="refusing to load a pickled file"):
        load_checkpoint(tmp_path / "model.pt")


def test_corrupt_files_are_refused_with_clear_messages(tmp_path):
    save_checkpoint(tmp_path / "c", {"model/w": torch.ones(3)}, {"arch": "toy-ae", "config": {}})
    weights = tmp_path / "c.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4])
    with pytest.raises(CheckpointError, match="sha256 does not match"):
        load_checkpoint(tmp_path / "c")
    save_checkpoint(tmp_path / "d", {"model/w": torch.ones(3)}, {"arch": "toy-ae", "config": {}})
    (tmp_path / "d.json").write_text('{"format": "pgan-kit-checkpoint/1", "arch": ')
    with pytest.raises(CheckpointError, match="JSON sidecar is corrupt"):
        load_checkpoint(tmp_path / "d")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing")


def test_foreign_checkpoint_names_the_mismatch(tiny_data, tmp_path):
    Trainer(cfg(max_steps=2), tmp_path, "cpu").fit(ToyAE(ToyConfig(hidden=8)), tiny_data, tiny_data)
    other = ToyAE(ToyConfig(hidden=6))
    with pytest.raises(CheckpointError, match=r"config 'hidden' is 8 .* but 6 here"):
        other.load_weights(load_checkpoint(tmp_path / "last"))
    meta = json.loads((tmp_path / "last.json").read_text())
    assert meta["versions"]["torch"] == torch.__version__
    from pgan_lib.models.vae import VAE, VAEConfig

    with pytest.raises(CheckpointError, match="architecture is 'toy-ae', expected 'vae'"):
        VAE(VAEConfig()).load_weights(load_checkpoint(tmp_path / "last"))


def test_resume_refuses_other_data(tiny_data, tmp_path):
    Trainer(cfg(max_steps=2), tmp_path, "cpu", data_fingerprint="tiny:A").fit(ToyAE(), tiny_data, tiny_data)
    with pytest.raises(CheckpointError, match="trained on other data"):
        Trainer(cfg(max_steps=4), tmp_path, "cpu", data_fingerprint="tiny:B").fit(ToyAE(), tiny_data, tiny_data, resume=True)


def test_a_save_interrupted_between_its_renames_leaves_a_loadable_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "c", {"model/w": torch.ones(3)}, {"arch": "toy-ae", "config": {}, "step": 1})
    sidecar = (tmp_path / "c.json").read_text()
    save_checkpoint(tmp_path / "c", {"model/w": torch.full((3,), 2.0)}, {"arch": "toy-ae", "config": {}, "step": 2})
    assert not (tmp_path / "c.safetensors.prev").exists()
    # Re-create the moment after the new weights moved in but before the new sidecar did:
    (tmp_path / "c.safetensors").rename(tmp_path / "new.safetensors")
    save_checkpoint(tmp_path / "old", {"model/w": torch.ones(3)}, {"arch": "toy-ae", "config": {}, "step": 1})
    (tmp_path / "old.safetensors").rename(tmp_path / "c.safetensors.prev")
    (tmp_path / "new.safetensors").rename(tmp_path / "c.safetensors")
    (tmp_path / "c.json").write_text(sidecar)
    ckpt = load_checkpoint(tmp_path / "c")
    assert ckpt.meta["step"] == 1 and torch.equal(ckpt.tensors["model/w"], torch.ones(3))
    (tmp_path / "c.safetensors").unlink()  # ... or before the new weights moved in
    assert load_checkpoint(tmp_path / "c").meta["step"] == 1
