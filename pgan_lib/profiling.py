"""Measuring training: where a step's time goes, how fast batches arrive, how much memory a run holds.

    profile_step(model, data)        torch.profiler over one training step (after warm-up steps):
                                     the operators that took the time, as a table
    feeding_rates(data, batch_size)  images/s of the data pipeline alone: the kit's device-resident
                                     batches vs a DataLoader over a per-item PIL + ToTensor() Dataset
    step_rate(model, data, ...)      images/s of whole training steps (the trainer's step context)
    training_state_bytes(module)     weights + gradients + Adam's two moments: 4 x the parameter bytes
    memory_now(device)               this process's peak resident memory, and the device's peak on CUDA

Notebook 11 and ``benchmarks/train_speed.py`` use these; nothing here changes a model.
"""
from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from dataclasses import replace
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from . import acceleration
from .config import pick_device
from .data.base import ProductData
from .data.batches import Batch, BatchIterator
from .train import StepContext, TrainConfig, Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Stepper:
    """Training steps of ``model`` exactly as the trainer takes them (StepContext, autocast, EMA), without a run folder."""

    def __init__(self, model: Any, device: torch.device, config: TrainConfig) -> None:
        self.model, self.device, self.config = model, device, config
        self.trainer = Trainer(replace(config, tensorboard=False, progress=False), ".", device=device)
        model.to(device).train()
        if config.channels_last:
            acceleration.to_channels_last(model)
        if config.compile:
            self.trainer.compiled = acceleration.compile_networks(model, model.distributed_networks(), device,
                                                                  config.compile_mode)
        self.trainer.optimizers = model.configure_optimizers(config.effective_lr)
        self.ctx = StepContext(self.trainer, deferred=device.type != "cpu")
        self.count = 0

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.count += 1
        self.ctx.step_index = self.count
        if self.config.channels_last:
            batch.x = acceleration.channels_last_batch(batch.x)
        with acceleration.autocast(self.device, self.config.amp, self.config.amp_cpu):
            logs = self.model.training_step(batch, self.ctx)
        self.model.after_step(self.count)
        return logs


def profile_step(model: Any, data: ProductData, batch_size: int = 64, device: str | torch.device | None = None,
                 warmup: int = 2, row_limit: int = 12, config: TrainConfig | None = None) -> str:
    """The profiler's table (operators sorted by their own time) of one training step after ``warmup`` steps."""
    from torch.profiler import ProfilerActivity, profile  # the profiler loads its own machinery: only when asked

    dev = pick_device(device, announce=False)
    cfg = replace(config or TrainConfig(), batch_size=batch_size)
    step = _Stepper(model, dev, cfg)
    batches = BatchIterator(data, batch_size, dev, seed=0, extra=model.batch_extra(data)).batches()
    for _ in range(warmup):
        step(next(batches))
    _sync(dev)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with _native_stderr_silenced(), profile(activities=activities) as prof:
        step(next(batches))
        _sync(dev)
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=row_limit, max_name_column_width=40)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """The profiler's C++ backend prints start/stop notes (and, without a GPU, a failed GPU probe) straight to
    file descriptor 2; Python exceptions are unaffected (they are raised, not printed, inside the block)."""
    try:
        saved = os.dup(2)
    except OSError:   # no usable stderr: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _PILDataset(Dataset):
    """Item i: a PIL image through ToTensor() (float (C, H, W) in [0, 1]) and its label, one at a time."""

    def __init__(self, data: ProductData) -> None:
        from torchvision import transforms  # torchvision's transforms: only for this comparison

        self.images, self.labels = data.images, data.labels
        self.to_tensor = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image  # only the comparison pipeline makes PIL images

        arr = self.images[i].permute(1, 2, 0).numpy()
        img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
        return self.to_tensor(img), int(self.labels[i])


def dataloader_batches(data: ProductData, batch_size: int, device: torch.device, workers: int = 0) -> Iterator[Batch]:
    """Endless batches from a DataLoader over a per-item PIL + ToTensor() Dataset, copied to ``device``."""
    loader = DataLoader(_PILDataset(data), batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    while True:
        for x, y in loader:
            yield Batch(x=x.to(device, non_blocking=True), y=y.to(device, non_blocking=True),
                        idx=torch.empty(0, dtype=torch.long))


def feeding_rates(data: ProductData, batch_size: int = 64, device: str | torch.device | None = None,
                  batches: int = 20, workers: int = 0) -> dict[str, float]:
    """Images/s of the data pipeline alone: {"resident": ..., "dataloader": ...} (after one warm-up batch)."""
    dev = pick_device(device, announce=False)
    out = {}
    for name, source in (("resident", BatchIterator(data, batch_size, dev, seed=0).batches()),
                         ("dataloader", dataloader_batches(data, batch_size, dev, workers))):
        next(source)
        _sync(dev)
        t = time.perf_counter()
        for _ in range(batches):
            b = next(source)
        _sync(dev)
        out[name] = batches * batch_size / (time.perf_counter() - t)
        del b
    return out


def step_rate(model: Any, data: ProductData, batch_size: int = 64, device: str | torch.device | None = None,
              steps: int = 10, warmup: int = 2, config: TrainConfig | None = None, source: str = "resident",
              workers: int = 0) -> float:
    """Images/s of whole training steps fed by ``source`` ("resident" or "dataloader"), after ``warmup`` steps."""
    dev = pick_device(device, announce=False)
    cfg = replace(config or TrainConfig(), batch_size=batch_size)
    step = _Stepper(model, dev, cfg)
    if source == "resident":
        batches = BatchIterator(data, batch_size, dev, seed=0, extra=model.batch_extra(data)).batches()
    elif source == "dataloader":
        batches = dataloader_batches(data, batch_size, dev, workers)
    else:
        raise ValueError(f"source {source!r}: use 'resident' or 'dataloader'")
    for _ in range(warmup):
        step(next(batches))
    _sync(dev)
    t = time.perf_counter()
    for _ in range(steps):
        step(next(batches))
    _sync(dev)
    return steps * batch_size / (time.perf_counter() - t)


def training_state_bytes(module: torch.nn.Module) -> int:
    """Bytes Adam training holds per trainable parameter: the weight, its gradient and two moments (4 x weights)."""
    return 4 * sum(p.numel() * p.element_size() for p in module.parameters() if p.requires_grad)


def memory_now(device: str | torch.device | None = None) -> dict[str, float]:
    """This process's peak resident memory (MiB) and, on CUDA, the device's peak allocated and reserved memory (MiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"process_peak_mib": peak / (2**20 if sys.platform == "darwin" else 2**10)}
    dev = pick_device(device, announce=False)
    if dev.type == "cuda":
        out["cuda_peak_allocated_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
        out["cuda_peak_reserved_mib"] = torch.cuda.max_memory_reserved(dev) / 2**20
    return out
