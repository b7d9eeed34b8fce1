"""pgan_lib.profiling: the profiler table of a step, feeding and step rates, training memory."""
from __future__ import annotations

import pytest
import torch
from distributed_worker import tiny_fashion
from test_acceleration import tiny_gan

from pgan_lib import profiling
from pgan_lib.train import TrainConfig


def test_profile_step_lists_the_step_operators(capfd):
    # every operator (row_limit=-1): which ones make a top-N depends on the machine's load, so a short table can
    # miss an operator the step did run
    table = profiling.profile_step(tiny_gan(), tiny_fashion(), batch_size=16, device="cpu", warmup=1, row_limit=-1)
    assert "Self CPU" in table and "convolution" in table and "_fused_adam_" in table
    assert "profiler_start" not in capfd.readouterr().err            # the backend's notes are kept out of the output
    short = profiling.profile_step(tiny_gan(), tiny_fashion(), batch_size=16, device="cpu", warmup=1, row_limit=5)
    def operator_rows(t: str) -> list[str]:
        return [line for line in t.splitlines() if line.strip() and not line.startswith("-") and "Self CPU" not in line]
    assert len(operator_rows(short)) == 5 < len(operator_rows(table))   # row_limit bounds the operator rows


def test_rates_and_memory():
    data = tiny_fashion()
    rates = profiling.feeding_rates(data, batch_size=16, device="cpu", batches=3)
    assert set(rates) == {"resident", "dataloader"} and all(v > 0 for v in rates.values())
    for source in ("resident", "dataloader"):
        assert profiling.step_rate(tiny_gan(), data, batch_size=16, device="cpu", steps=2, warmup=1, source=source) > 0
    assert profiling.step_rate(tiny_gan(), data, batch_size=16, device="cpu", steps=1, warmup=1,
                               config=TrainConfig(amp_cpu=True, channels_last=True)) > 0
    with pytest.raises(ValueError, match="resident"):
        profiling.step_rate(tiny_gan(), data, source="disk")
    assert profiling.memory_now("cpu")["process_peak_mib"] > 10
    model = tiny_gan()
    n = sum(p.numel() for p in model.generator.parameters())
    assert profiling.training_state_bytes(model.generator) == 16 * n
    assert profiling.training_state_bytes(model.g_ema) == 0               # frozen: no training state
    assert torch.isfinite(torch.tensor(rates["resident"]))
