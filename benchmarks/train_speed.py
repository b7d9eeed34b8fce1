"""How fast one conditional-GAN training step runs with two ways of feeding it data.

    gpu-resident   pgan_lib's BatchIterator: the whole split is one uint8 tensor on the
                   training device, shuffled by index, turned into float one batch at a time
    dataloader     the usual torchvision-style pipeline: a Dataset that makes a PIL image
                   and applies ToTensor() to every item, batched by a DataLoader
                   (collate on the CPU, then copied to the device)

For each it prints images/s of the whole training step (D step + G step + EMA
update, as the trainer runs it: bf16 autocast on CUDA) and of the data
pipeline alone, and the time of one Fashion-MNIST epoch (55,000 training
images) at that speed.

    python benchmarks/train_speed.py                      # this machine's CPU
    python benchmarks/train_speed.py --device cuda --batch-size 512

Run CPU timings with OMP_NUM_THREADS set to the cores you may use.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from pgan_lib.config import describe_device, pick_device
from pgan_lib.data import load_dataset
from pgan_lib.data.batches import Batch, BatchIterator
from pgan_lib.models.gan import GAN
from pgan_lib.recipes import get_recipe
from pgan_lib.train import StepContext, TrainConfig, Trainer

EPOCH = 55_000  # Fashion-MNIST training images (60,000 less the 5,000 held out for validation)


class TorchvisionStyleDataset(Dataset):
    """Item i: PIL image -> ToTensor() (float (1, 28, 28) in [0, 1]) and its label, made one at a time."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        from torchvision import transforms

        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.ToTensor()])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i], mode="L")), int(self.labels[i])


def dataloader_batches(data, batch_size: int, device: torch.device, workers: int):
    """Endless batches from a DataLoader over the torchvision-style Dataset, moved to ``device``."""
    ds = TorchvisionStyleDataset(data.images[:, 0].numpy(), data.labels.numpy())
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    while True:
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            yield Batch(x=x, y=y, idx=torch.empty(0, dtype=torch.long))


def resident_batches(data, batch_size: int, device: torch.device):
    return BatchIterator(data, batch_size, device, shuffle=True, seed=0).batches()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_data(batches, n: int, batch_size: int, device: torch.device) -> float:
    """Images/s of the data pipeline alone."""
    next(batches)
    _sync(device)
    t = time.perf_counter()
    for _ in range(n):
        b = next(batches)
    _sync(device)
    del b
    return n * batch_size / (time.perf_counter() - t)


def time_training(model: GAN, batches, steps: int, warmup: int, batch_size: int, device: torch.device) -> float:
    """Images/s of full training steps (the trainer's StepContext and autocast), after ``warmup`` steps."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(TrainConfig(batch_size=batch_size, tensorboard=False, progress=False), tmp, device=device)
        model.to(device).train()
        trainer.optimizers = model.configure_optimizers(2e-4)
        ctx = StepContext(trainer)
        for i in range(warmup + steps):
            if i == warmup:
                _sync(device)
                t = time.perf_counter()
            batch = next(batches)
            ctx.step_index = i + 1
            with trainer._autocast():
                model.training_step(batch, ctx)
            model.after_step(i + 1)
        _sync(device)
        return steps * batch_size / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: best available)")
    p.add_argument("--recipe", default="cgan-fashion")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=30, help="timed training steps per pipeline")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--mode", default="full", help="data size: full (55,000 images) or quick")
    args = p.parse_args(argv)

    device = pick_device(args.device, announce=False)
    recipe = get_recipe(args.recipe)
    data = load_dataset(recipe.source, "train", mode=args.mode, size=recipe.size)
    print(f"{describe_device(device)}; torch threads {torch.get_num_threads()}")
    print(f"recipe {args.recipe}: {len(data)} training images, batch {args.batch_size}, "
          f"{args.steps} timed steps after {args.warmup} warm-up steps, {args.workers} DataLoader workers\n")
    rows = []
    for name in ("gpu-resident", "dataloader"):
        def batches(name=name):
            if name == "gpu-resident":
                return resident_batches(data, args.batch_size, device)
            return dataloader_batches(data, args.batch_size, device, args.workers)

        data_rate = time_data(batches(), max(args.steps, 20), args.batch_size, device)
        torch.manual_seed(0)
        model = recipe.build(data)
        step_rate = time_training(model, batches(), args.steps, args.warmup, args.batch_size, device)
        rows.append((name, data_rate, step_rate))
    print(f"{'pipeline':14s} {'data only img/s':>16s} {'train step img/s':>17s} {'epoch (55k) s':>14s}")
    for name, data_rate, step_rate in rows:
        print(f"{name:14s} {data_rate:16,.0f} {step_rate:17,.0f} {EPOCH / step_rate:14.1f}")
    print(f"\nspeed-up of the resident iterator: {rows[0][2] / rows[1][2]:.2f}x per training step, "
          f"{rows[0][1] / rows[1][1]:.1f}x for the data alone")


if __name__ == "__main__":
    main()
