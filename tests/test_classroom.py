"""A class sharing one GPU: PGAN_CLASS_SIZE, the memory cap, batch sizes that fit, peak memory, out-of-memory lines.

Every CUDA branch runs here on a CPU with ``torch.cuda``'s functions replaced by fakes that
record what the kit asked for (the fraction passed, the peaks read).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from pgan_lib import classroom, config
from pgan_lib.classroom import (
    CUDA_CONTEXT_BYTES,
    ClassShareError,
    DeviceOutOfMemory,
    MemoryModel,
    class_size,
    pick_batch_size,
    share_fraction,
)
from pgan_lib.cli import main as pgan
from pgan_lib.models.base import KitModel
from pgan_lib.train import TrainConfig, Trainer

GIB = 2**30
MIB = 2**20


@pytest.fixture(autouse=True)
def _no_share(monkeypatch):
    monkeypatch.delenv("PGAN_CLASS_SIZE", raising=False)
    classroom._applied.clear()
    yield
    classroom._applied.clear()


@pytest.fixture
def fake_gpu(monkeypatch):
    """A pretend 80 GiB CUDA GPU: records set_per_process_memory_fraction and serves allocator peaks."""
    calls = SimpleNamespace(fractions=[], peak=0, reserved=0, resets=0, last_batch=None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(name="Fake GPU 80GB", total_memory=80 * GIB))
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda fraction, device=None: calls.fractions.append((fraction, device)))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)

    def reset(device=None):
        calls.resets += 1
        calls.peak = 0

    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: calls.peak)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: calls.reserved)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (70 * GIB, 80 * GIB))
    return calls


# ---------------------------------------------------------------- the class size and the share


@pytest.mark.parametrize("raw, expected", [(None, None), ("", None), ("20", 20), (" 3 ", 3), ("1", 1), (1024, 1024)])
def test_class_size_reads_the_number(monkeypatch, raw, expected):
    if raw is not None:
        monkeypatch.setenv("PGAN_CLASS_SIZE", str(raw))
    assert class_size() == expected


@pytest.mark.parametrize("raw", ["0", "-4", "twenty", "2.5", "5000"])
def test_a_bad_class_size_is_refused_with_the_fix(monkeypatch, raw):
    monkeypatch.setenv("PGAN_CLASS_SIZE", raw)
    with pytest.raises(ClassShareError, match=rf"PGAN_CLASS_SIZE='{raw}' is not a class size: use a whole number from 1"):
        class_size()


def test_the_share_keeps_room_for_each_cuda_context():
    total = 80 * GIB
    f = share_fraction(10, total)
    assert f == pytest.approx((1 - classroom.SHARE_MARGIN) / 10 - CUDA_CONTEXT_BYTES / total)
    # N shares plus N contexts never exceed the GPU
    for n in (1, 2, 7, 40, 100):
        assert n * (share_fraction(n, total) * total + CUDA_CONTEXT_BYTES) <= total


def test_too_many_students_for_a_small_gpu_is_refused_with_the_largest_class():
    with pytest.raises(ClassShareError, match=r"100 processes cannot share a GPU of 16.0 GiB.*PGAN_CLASS_SIZE=28 or less"):
        share_fraction(100, 16 * GIB)  # at most 28: (0.98 * 16 GiB) // (500 + 64 MiB)


def test_share_gpu_sets_the_fraction_on_cuda(fake_gpu, capsys):
    share = classroom.share_gpu(20, "cuda")
    (fraction, device), = fake_gpu.fractions
    assert device == 0
    assert fraction == pytest.approx(0.98 / 20 - CUDA_CONTEXT_BYTES / (80 * GIB))
    assert share.share_bytes == int(fraction * 80 * GIB)
    out = capsys.readouterr().out
    assert "PGAN_CLASS_SIZE=20 -> this process may use 4.3% of cuda:0 (3.43 of 80.0 GiB" in out
    classroom.share_gpu(20, "cuda")                      # once per device
    assert len(fake_gpu.fractions) == 1


def test_share_gpu_on_a_cpu_caps_nothing_and_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda *a, **k: pytest.fail("no cap on a CPU"))
    share = classroom.share_gpu(8, "cpu")
    assert share.fraction is None and "cpu is no CUDA GPU: no memory cap is set" in share.line()
    assert classroom.share_gpu(None, "cpu") is None       # PGAN_CLASS_SIZE unset: nothing to do


def test_picking_a_cuda_device_takes_the_class_share(fake_gpu, monkeypatch, capsys):
    monkeypatch.setenv("PGAN_CLASS_SIZE", "40")
    dev = config.pick_device("cuda")
    assert dev.type == "cuda"
    (fraction, _), = fake_gpu.fractions
    assert fraction == pytest.approx(share_fraction(40, 80 * GIB))
    assert "PGAN_CLASS_SIZE=40" in capsys.readouterr().out


def test_picking_the_cpu_ignores_the_class_size(fake_gpu, monkeypatch):
    monkeypatch.setenv("PGAN_CLASS_SIZE", "40")
    assert config.pick_device("cpu").type == "cpu"
    assert fake_gpu.fractions == []


# ---------------------------------------------------------------- batch sizes that fit


def test_pick_batch_size_is_the_largest_that_fits():
    # 0.9 * 8 GiB - 1 GiB = 6348.8 MiB; at 10 MiB per sample that is 634 -> 632 (a multiple of 8)
    b = pick_batch_size(8 * GIB, 10 * MIB, 1 * GIB)
    assert b == 632
    model = MemoryModel(1 * GIB, 10 * MIB)
    assert model.peak(b) <= 0.9 * 8 * GIB < model.peak(b + 8)
    assert pick_batch_size(8 * GIB, 10 * MIB, 1 * GIB, largest=256) == 256
    assert pick_batch_size(8 * GIB, 10 * MIB, 1 * GIB, multiple_of=1) == 634
    assert pick_batch_size(100 * MIB, 30 * MIB, 0) == 3          # fewer than one multiple of 8: not rounded to 0


def test_pick_batch_size_refuses_a_share_that_holds_nothing():
    with pytest.raises(ClassShareError, match=r"not even a batch of 1 fits: 512 MiB available, 600 MiB fixed"):
        pick_batch_size(512 * MIB, 1 * MIB, 600 * MIB)
    with pytest.raises(ValueError, match="per_sample_bytes must be positive"):
        pick_batch_size(GIB, 0)


def test_the_memory_model_is_measured_from_two_batches(fake_gpu):
    fixed, per = 300 * MIB, 3 * MIB

    def step(b):
        fake_gpu.last_batch = b
        fake_gpu.peak = fixed + b * per          # what the allocator would report for this batch

    model = classroom.measure_memory_model(step, "cuda", sizes=(16, 64))
    assert fake_gpu.resets == 2
    assert model.per_sample_bytes == pytest.approx(per) and model.fixed_bytes == pytest.approx(fixed)
    share = classroom.share_gpu(20, "cuda")
    b = classroom.batch_size_for_share(step, "cuda")
    assert b == pick_batch_size(share.share_bytes, per, fixed)
    assert model.peak(b) <= share.share_bytes


def test_measuring_on_a_cpu_is_refused():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        classroom.measure_memory_model(lambda b: None, "cpu")


# ---------------------------------------------------------------- peak memory


def test_peak_memory_on_a_cpu_is_the_peak_resident_set():
    before = classroom.peak_memory("cpu")
    assert before.kind == "rss" and before.peak_bytes > 10 * MIB
    block = np.ones(300 * MIB // 8)            # touched: resident
    after = classroom.peak_memory("cpu")
    del block
    assert after.peak_bytes >= 300 * MIB
    assert "MiB resident (CPU)" in after.line()


def test_peak_memory_on_cuda_reads_the_allocator(fake_gpu):
    classroom.share_gpu(10, "cuda")
    fake_gpu.peak, fake_gpu.reserved = 1500 * MIB, 2048 * MIB
    peak = classroom.peak_memory("cuda")
    assert (peak.kind, peak.peak_bytes, peak.reserved_bytes) == ("cuda", 1500 * MIB, 2048 * MIB)
    assert peak.share_bytes == classroom.current_share().share_bytes
    assert "1500 MiB allocated, 2048 MiB reserved" in peak.line() and "share 7.35 GiB" in peak.line()


@dataclass
class TinyConfig:
    pixels: int = 64


class Tiny(KitModel):
    arch = "tiny-classroom"
    Config = TinyConfig

    def __init__(self, config: TinyConfig | None = None, fail_at: int | None = None):
        super().__init__(config or TinyConfig())
        self.lin = nn.Linear(self.config.pixels, self.config.pixels)
        self.fail_at = fail_at

    def training_step(self, batch, ctx):
        if self.fail_at is not None and ctx.step_index >= self.fail_at:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.10 GiB total)")
        x = batch.x.flatten(1)
        loss = (self.lin(x) - x).pow(2).mean()
        ctx.step("main", loss)
        return {"loss": loss.detach()}


def _cfg(**kw):
    return TrainConfig(**{**dict(max_steps=6, batch_size=32, lr=1e-2, log_every=2, val_every=100, checkpoint_every=100,
                                 tensorboard=False, progress=False), **kw})


def test_the_trainer_reports_its_peak(tiny_data, tmp_path):
    result = Trainer(_cfg(), tmp_path / "run", "cpu").fit(Tiny(), tiny_data)
    assert result.peak_memory["kind"] == "rss" and result.peak_memory["peak_bytes"] > 10 * MIB


def test_the_trainer_prints_its_peak_at_the_end(tiny_data, tmp_path, capsys):
    Trainer(_cfg(progress=True), tmp_path / "run", "cpu").fit(Tiny(), tiny_data)
    assert "peak memory of this process:" in capsys.readouterr().out


def test_out_of_memory_in_training_names_the_batch_to_try(tiny_data, tmp_path, monkeypatch):
    with pytest.raises(DeviceOutOfMemory) as caught:
        Trainer(_cfg(batch_size=48), tmp_path / "run", "cpu").fit(Tiny(fail_at=3), tiny_data)
    err = caught.value
    assert (err.batch_size, err.suggestion) == (48, 24)
    assert str(err) == "cpu ran out of memory while training with batch size 48; try --batch-size 24"
    assert err.__suppress_context__ and err.__cause__ is None          # no chained traceback of the step

    monkeypatch.setenv("PGAN_CLASS_SIZE", "30")
    with pytest.raises(DeviceOutOfMemory, match=r"batch size 48; try --batch-size 24 \(PGAN_CLASS_SIZE=30 gives this "
                                                r"process 1/30 of the GPU; a smaller class size"):
        Trainer(_cfg(batch_size=48), tmp_path / "run2", "cpu").fit(Tiny(fail_at=1), tiny_data)


def test_pgan_train_stops_on_out_of_memory_with_one_line(monkeypatch, capsys):
    import pgan_lib.cli.train as cli_train

    def run_recipe(*a, **k):
        raise classroom.out_of_memory(256, "training", device="cuda:0")

    monkeypatch.setattr(cli_train, "run_recipe", run_recipe)
    assert pgan(["train", "cgan-fashion"]) == 2
    err = capsys.readouterr().err
    assert err == ("pgan train: error: cuda:0 ran out of memory while training with batch size 256; "
                   "try --batch-size 128\n")


def test_pgan_sample_stops_on_out_of_memory_with_one_line(monkeypatch, capsys, tmp_path):
    import pgan_lib.cli.sample as cli_sample

    def oom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")

    monkeypatch.setattr(cli_sample, "draw_samples", oom)
    monkeypatch.setenv("PGAN_CLASS_SIZE", "12")
    code = pgan(["sample", "--model", "fashion-cgan", "--n", "64", "--batch-size", "40", "--out", str(tmp_path / "s.npz")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("pgan sample: error: cpu ran out of memory while drawing samples with batch size 40; "
                          "try --batch-size 20 (PGAN_CLASS_SIZE=12 gives")
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "s.npz").exists()
