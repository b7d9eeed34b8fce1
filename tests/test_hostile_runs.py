"""Runs and caches on a shared machine: locks, no silent overwrite, resume from the newest valid
checkpoint, stale temp files, damaged and unwritable caches, read-only HOME."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pgan_lib import config as config_mod
from pgan_lib.checkpoint import CheckpointError, load_checkpoint
from pgan_lib.config import CacheWarning, cache_dir
from pgan_lib.data import catalog
from pgan_lib.models.base import KitModel
from pgan_lib.safety import temp_name
from pgan_lib.train import LOCK_FILE, RunFolderError, RunLock, RunLockedError, TrainConfig, Trainer

ROOT = Path(__file__).resolve().parent.parent
DEAD_PID = 2**22 + 4321     # above the usual pid_max: never a live process


@dataclass
class TinyConfig:
    pixels: int = 64
    hidden: int = 4


class Tiny(KitModel):
    """A small noisy autoencoder whose validation metric always improves (so ``best`` is saved every time)."""

    arch = "tiny-hostile"
    Config = TinyConfig

    def __init__(self, config: TinyConfig | None = None):
        config = config or TinyConfig()
        super().__init__(config)
        self.enc = nn.Linear(config.pixels, config.hidden)
        self.dec = nn.Linear(config.hidden, config.pixels)
        self.losses: list[float] = []
        self.steps_seen = 0

    def training_step(self, batch, ctx):
        x = batch.x.flatten(1)
        loss = (self.dec(self.enc(x) + 0.1 * torch.randn(x.shape[0], self.config.hidden)) - x).pow(2).mean()
        ctx.step("main", loss)
        self.losses.append(loss.item())
        self.steps_seen = ctx.step_index
        return {"loss": loss.detach()}

    def validation_metrics(self, data):
        return {"val_loss": -float(self.steps_seen)}


def cfg(**kw):
    base = dict(max_steps=12, batch_size=16, lr=1e-2, log_every=1, val_every=4, checkpoint_every=4,
                tensorboard=False, progress=False, seed=3, early_stop_metric="val_loss", patience=100)
    base.update(kw)
    return TrainConfig(**base)


def test_a_second_trainer_is_refused_naming_the_holder_pid(tiny_data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from pgan_lib.train import RunLock\n"
         f"lock = RunLock(Path({str(out)!r})).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=rf"in use by another trainer \(PID {holder.pid}\)"):
            Trainer(cfg(), out, "cpu").fit(Tiny(), tiny_data, tiny_data)
        assert not (out / "last.json").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing anything: its lock is taken over
    Trainer(cfg(max_steps=4), out, "cpu").fit(Tiny(), tiny_data, tiny_data)
    assert (out / "last.json").exists()
    assert (out / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_a_lock_file_left_by_a_dead_pid_is_taken_over(tiny_data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_FILE).write_text(f"{DEAD_PID} somehost\n")
    Trainer(cfg(max_steps=4), out, "cpu").fit(Tiny(), tiny_data, tiny_data)
    assert load_checkpoint(out / "last").meta["step"] == 4


def test_the_lock_is_released_after_fit_even_when_it_fails(tiny_data, tmp_path):
    class Boom(Tiny):
        def training_step(self, batch, ctx):
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        Trainer(cfg(), tmp_path, "cpu").fit(Boom(), tiny_data, tiny_data)
    with RunLock(tmp_path):      # free again
        pass


def test_a_finished_run_is_not_overwritten_without_resume_or_force(tiny_data, tmp_path):
    Trainer(cfg(max_steps=4), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data)
    before = (tmp_path / "last.safetensors").read_bytes()
    with pytest.raises(RunFolderError, match=r"already holds a run \(at step 4\); pass --resume .* --force"):
        Trainer(cfg(max_steps=4), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data)
    assert (tmp_path / "last.safetensors").read_bytes() == before
    result = Trainer(cfg(max_steps=2, val_every=100, early_stop_metric=None), tmp_path, "cpu").fit(
        Tiny(), tiny_data, tiny_data, force=True)
    assert result.steps == 2
    assert load_checkpoint(tmp_path / "last").meta["step"] == 2
    assert not (tmp_path / "best.json").exists()       # the replaced run's best is gone with it


class KilledBeforeLast(Exception):
    pass


class KillBetweenBestAndLast(Trainer):
    def save(self, model, name="last"):
        if name == "last" and self.step == 8:
            raise KilledBeforeLast()
        return super().save(model, name)


def test_a_kill_between_best_and_last_resumes_from_best_exactly(tiny_data, tmp_path):
    torch.manual_seed(0)
    whole = Tiny()
    Trainer(cfg(), tmp_path / "a", "cpu").fit(whole, tiny_data, tiny_data)

    torch.manual_seed(0)
    with pytest.raises(KilledBeforeLast):
        KillBetweenBestAndLast(cfg(), tmp_path / "b", "cpu").fit(Tiny(), tiny_data, tiny_data)
    assert load_checkpoint(tmp_path / "b" / "last").meta["step"] == 4
    assert load_checkpoint(tmp_path / "b" / "best").meta["step"] == 8

    resumed = Tiny()
    Trainer(cfg(), tmp_path / "b", "cpu").fit(resumed, tiny_data, tiny_data, resume=True)
    assert len(resumed.losses) == 4                       # steps 9..12, not 5..12 and not 1..12
    assert resumed.losses == pytest.approx(whole.losses[8:], rel=1e-6, abs=1e-9)
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_damaged_or_missing_last_resumes_from_best(tiny_data, tmp_path, capsys):
    Trainer(cfg(max_steps=8), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data)
    (tmp_path / "last.safetensors").write_bytes(b"garbage")
    Trainer(cfg(max_steps=12), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data, resume=True)
    out = capsys.readouterr().out
    assert "sha256 does not match" in out and "Resuming from best instead" in out
    assert "Resumed from" in out and "at step 8" in out
    for suffix in (".json", ".safetensors"):
        (tmp_path / f"last{suffix}").unlink()
    Trainer(cfg(max_steps=16), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data, resume=True)
    assert load_checkpoint(tmp_path / "last").meta["step"] == 16


def test_resume_with_no_valid_checkpoint_names_the_problems(tiny_data, tmp_path):
    Trainer(cfg(max_steps=4), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data)
    for name in ("last", "best"):
        (tmp_path / f"{name}.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"no checkpoint in .* can be resumed: .*corrupt.*--force"):
        Trainer(cfg(), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data, resume=True)


def test_a_sidecar_with_a_dangling_tensor_reference_is_a_checkpoint_error(tiny_data, tmp_path):
    import json
    Trainer(cfg(max_steps=4, early_stop_metric=None), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data)
    meta = json.loads((tmp_path / "last.json").read_text())
    meta["rng"] = {"cpu": {"__tensor__": "rng/nowhere"}}
    (tmp_path / "last.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="lacks"):
        Trainer(cfg(), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data, resume=True)


def test_stale_temp_files_in_the_run_folder_are_cleaned(tiny_data, tmp_path, capsys):
    stale = tmp_path / f"last.safetensors.{DEAD_PID}.12345678.tmp"
    legacy = tmp_path / f"best.safetensors.tmp{DEAD_PID}"
    for p in (stale, legacy):
        p.write_bytes(b"\0" * 4096)
    Trainer(cfg(max_steps=2), tmp_path, "cpu").fit(Tiny(), tiny_data, tiny_data)
    assert not stale.exists() and not legacy.exists()
    assert "left by a save that was killed" in capsys.readouterr().out


def test_an_out_folder_under_a_file_is_one_clear_error(tiny_data, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match=r"cannot write the run folder .*Not a directory.*choose a writable --out"):
        Trainer(cfg(), tmp_path / "file" / "run", "cpu").fit(Tiny(), tiny_data, tiny_data)


# ---------------------------------------------------------------- caches


def test_temp_names_are_private_to_each_write():
    a, b = temp_name("/x/cache.npz"), temp_name("/x/cache.npz")
    assert a != b and a.name.startswith(f"cache.npz.{os.getpid()}.") and a.suffix == ".tmp"


def test_a_damaged_catalog_cache_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path))
    first = catalog.build_catalog(40, size=32, seed=5)
    path = catalog.cache_path(40, 32, 5)
    path.write_bytes(path.read_bytes()[:100])            # truncated: BadZipFile if trusted
    again = catalog.build_catalog(40, size=32, seed=5)
    assert np.array_equal(first["images"], again["images"])
    with np.load(path) as f:                              # and the cache file is whole again
        assert f["images"].shape == first["images"].shape


def test_a_cache_that_cannot_be_written_is_skipped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path))
    config_mod._cache_notes.clear()

    def full(fh, **arrays):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(catalog.np, "savez_compressed", full)
    with pytest.warns(CacheWarning, match=r"could not write the cache file .*No space left on device"):
        data = catalog.build_catalog(40, size=32, seed=6)
    assert data["images"].shape[0] >= 40
    assert list(tmp_path.iterdir()) == []                 # no half file, no temp file


def test_an_unwritable_cache_folder_falls_back_to_a_private_temp_folder(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path / "file" / "cache"))   # cannot be created
    monkeypatch.setattr(config_mod.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    config_mod._cache_notes.clear()
    with pytest.warns(CacheWarning, match="using .* instead"):
        where = cache_dir()
    assert where.parent == tmp_path / "tmp" and where.is_dir()
    assert (where.stat().st_mode & 0o077) == 0            # private to this user

    monkeypatch.setattr(config_mod.tempfile, "gettempdir", lambda: str(tmp_path / "file" / "tmp"))
    config_mod._cache_notes.clear()
    with pytest.warns(CacheWarning, match="results are not cached"):
        where = cache_dir()
    with pytest.warns(CacheWarning, match="could not write the cache file"):
        data = catalog.build_catalog(40, size=32, seed=7)      # still works, just not cached
    assert data["images"].shape[0] >= 40


def test_reading_fashion_mnist_needs_no_writable_home(tmp_path):
    """HOME under a file (as unwritable as it gets for root), no cache variables: the shipped data still loads."""
    (tmp_path / "file").write_text("x")
    env = {k: v for k, v in os.environ.items() if k not in ("PGAN_CACHE_DIR", "XDG_CACHE_HOME", "PGAN_DATA_DIR")}
    env.update(HOME=str(tmp_path / "file" / "home"), PYTHONPATH=str(ROOT))
    script = ("import warnings; warnings.simplefilter('error')\n"
              "from pgan_lib.data.fashion_mnist import load_fashion_mnist\n"
              "print(len(load_fashion_mnist('test')))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    if "Fashion-MNIST was not found" in out.stderr:
        pytest.skip("Fashion-MNIST is not installed on this machine")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "10000"


def test_two_processes_filling_one_fresh_cache_both_succeed(tmp_path):
    env = {**os.environ, "PGAN_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    script = ("from pgan_lib.data.catalog import build_catalog\n"
              "d = build_catalog(600, size=32, seed=11); print(d['images'].shape[0])\n")
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-1500:] for _, e in outs]
    assert len({o.strip() for o, _ in outs}) == 1
    assert [p.name for p in tmp_path.iterdir()] == [catalog.cache_path(600, 32, 11).name]


@pytest.mark.parametrize("field, value, expected", [
    ("batch_size", -1, "batch_size must be from 1 to"),
    ("batch_size", 0, "batch_size must be from 1 to"),
    ("max_steps", 2.5, "max_steps must be a whole number"),
    ("seed", 2**64, r"seed must be from 0 to 9223372036854775807, got 18446744073709551616"),
    ("seed", -1, "seed must be from 0"),
    ("val_every", 0, "val_every must be from 1"),
    ("lr", float("nan"), "lr must be a positive number"),
    ("lr", -1e-3, "lr must be a positive number"),
    ("grad_clip", 0.0, "grad_clip must be None or a positive number"),
])
def test_out_of_range_training_numbers_are_refused_by_name(field, value, expected):
    with pytest.raises(ValueError, match=expected):
        TrainConfig(**{field: value})
