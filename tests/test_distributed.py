"""Data-parallel training on the CPU (torchrun + gloo): 2 processes take the steps 1 process takes on the same
global batch, rank 0 alone writes, a killed 2-process run resumes exactly; plus the pieces on their own.

Tolerance: with plain SGD (momentum 0.9) the tiny GAN's parameters after 20 steps agree to 1e-5 (seen: about
1e-6; the sums of the gradient all-reduce and of the global BatchNorm statistics are taken in another order).
With Adam (beta1 = 0) they agree only to about the learning rate: its first update is lr * g / (|g| + eps),
so a gradient near zero turns a rounding difference into a step of +-lr. The tests use SGD for that reason.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from pgan_lib import distributed
from pgan_lib.data.batches import BatchIterator

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "distributed_worker.py"


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def _run(out: Path, *args: str, nproc: int = 1, timeout: float = 300) -> None:
    launcher = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                    f"--nproc_per_node={nproc}"]
    done = subprocess.run([*launcher, str(WORKER), str(out), *args], env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    """The same 20 steps (global batch 16, seed 5) in 1 process and in 2 (8 items each)."""
    base = tmp_path_factory.mktemp("ddp")
    _run(base / "one", "--steps", "20", "--sgd")
    _run(base / "two", "--steps", "20", "--sgd", nproc=2)
    return base / "one", base / "two"


def test_two_ranks_take_the_steps_of_one_process(one_and_two):
    one, two = one_and_two
    single = torch.load(one / "final-rank0.pt")
    rank0, rank1 = torch.load(two / "final-rank0.pt"), torch.load(two / "final-rank1.pt")
    assert _max_diff(rank0, rank1) == 0.0                     # the ranks hold the very same weights
    assert _max_diff(single, rank0) < 1e-5                     # and those of one process on the global batch
    # the comparison can fail: training moved the weights far more than the tolerance
    torch.manual_seed(0)
    from distributed_worker import GAN, GANConfig  # the worker's model, at its initial weights
    init = GAN(GANConfig(channels=1, size=28, latent_dim=16, g_width=8, d_width=8, cond="label", num_classes=2,
                         cond_dim=8, ema_decay=0.9)).state_dict()
    assert _max_diff(init, rank0) > 1e-2


def test_rank_zero_alone_writes_checkpoints_and_logs(one_and_two):
    _, two = one_and_two
    saves = (two / "saves.txt").read_text().split("\n")
    assert [s for s in saves if s] == ["0 last 10", "0 last 20"]
    assert len(list((two / "run" / "tensorboard").glob("events.out.tfevents.*"))) == 1


def test_a_killed_two_rank_run_resumes_exactly(one_and_two, tmp_path):
    """Kill a 2-process run (SIGKILL, every process) after its step-10 checkpoint; --resume ends where the
    uninterrupted 2-process run ends."""
    _, whole = one_and_two
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(WORKER), str(out), "--steps", "20", "--sgd", "--sleep", "0.3"],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and "last 10" not in ((out / "saves.txt").read_text()
                                                              if (out / "saves.txt").exists() else ""):
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert not (out / "final-rank0.pt").exists()                # it really was killed mid-run
    _run(out, "--steps", "20", "--sgd", "--resume", nproc=2)
    saves = [s for s in (out / "saves.txt").read_text().split("\n") if s]
    assert saves[0] == "0 last 10" and saves[-1] == "0 last 20" and all(s.startswith("0 ") for s in saves)
    assert _max_diff(torch.load(whole / "final-rank0.pt"), torch.load(out / "final-rank0.pt")) < 1e-6


def test_pgan_train_nproc_launches_torchrun(tmp_path):
    from pgan_lib.cli.train import torchrun_command

    cmd = torchrun_command(["cgan-fashion", "--steps", "3"], 2)
    assert cmd[1:4] == ["-m", "torch.distributed.run", "--standalone"] and "--nproc_per_node=2" in cmd
    assert cmd[-5:] == ["pgan_lib.cli", "train", "cgan-fashion", "--steps", "3"]


def test_env_detection():
    assert distributed.env_from({}) is None
    assert distributed.env_from({"RANK": "0", "WORLD_SIZE": "1"}) is None
    e = distributed.env_from({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert e == distributed.DistEnv(1, 2, 1) and not e.main
    for bad in ({"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "x", "WORLD_SIZE": "2"}):
        with pytest.raises(distributed.DistributedSetupError, match="torchrun"):
            distributed.env_from(bad)
    assert distributed.backend_for(torch.device("cuda", 0)) == "nccl"
    assert distributed.backend_for(torch.device("cpu")) == "gloo"


def test_shards_make_up_the_global_batch(tiny_data):
    whole = BatchIterator(tiny_data, 16, seed=3).batches(5)
    parts = [BatchIterator(tiny_data, 16, seed=3, shard=(r, 2)).batches(5) for r in range(2)]
    for _ in range(6):
        b = next(whole)
        s0, s1 = next(parts[0]), next(parts[1])
        assert torch.equal(torch.cat([s0.idx, s1.idx]), b.idx) and torch.equal(torch.cat([s0.x, s1.x]), b.x)
    with pytest.raises(ValueError, match="divisible"):
        BatchIterator(tiny_data, 15, shard=(0, 2))


def test_models_without_networks_are_refused(tiny_data):
    from test_trainer import ToyAE

    with pytest.raises(distributed.DistributedSetupError, match="does not support data-parallel"):
        distributed.wrap_networks(ToyAE(), torch.device("cpu"))


def test_allreduce_batchnorm_is_batchnorm_in_one_process(tmp_path):
    """World of 1 (gloo): the global statistics are the batch's own, forward, backward and running stats."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdv'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        plain = torch.nn.BatchNorm2d(3)
        plain.weight.data.uniform_(0.5, 1.5)
        synced = distributed.sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(3)), torch.device("cpu"))[0]
        synced.load_state_dict(plain.state_dict())
        x = torch.randn(4, 3, 5, 5, requires_grad=True)
        y_plain = plain(x)
        y_plain.pow(3).sum().backward()
        g_plain, x.grad = x.grad.clone(), None
        # force the all-reduce path although the world has one process
        world = dist.get_world_size
        dist.get_world_size = lambda *a, **k: 2  # type: ignore[assignment]
        try:
            y_sync = synced(x)
        finally:
            dist.get_world_size = world  # type: ignore[assignment]
        y_sync.pow(3).sum().backward()
        assert isinstance(synced, distributed.AllReduceBatchNorm2d)
        assert torch.allclose(y_plain, y_sync, atol=1e-5) and torch.allclose(g_plain, x.grad, atol=1e-4)
        assert torch.allclose(plain.running_var, synced.running_var, atol=1e-6)
        assert torch.allclose(plain.running_mean, synced.running_mean, atol=1e-6)
    finally:
        dist.destroy_process_group()
