"""Feeding batches to a model fast.

``BatchIterator`` keeps a whole split as one uint8 tensor on the training device
(the GPU when there is one: Fashion-MNIST is 47 MB), shuffles by index, and turns
each batch into float only when it is asked for. No per-sample Python transform
runs, which is what makes a GPU epoch take about a second instead of a minute.

``ProductTorchDataset`` is the ordinary ``torch.utils.data.Dataset`` view, for
code that expects a ``DataLoader``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch.utils.data import Dataset

from .base import ProductData


@dataclass
class Batch:
    """A batch: images float32 in [0, 1] (N, C, H, W), class labels (N,), item positions (N,),
    and per-item ``extra`` tensors such as tokenised descriptions."""

    x: torch.Tensor
    y: torch.Tensor
    idx: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.x.shape[0]


class BatchIterator:
    """Shuffled batches of a ProductData split, resident on ``device``.

    One pass over the iterator is one epoch. ``extra`` tensors (e.g. tokenised
    descriptions, shape (N, ...)) are moved to the device too and sliced into
    ``batch.extra``. The order of epoch ``e`` depends only on ``seed`` and ``e``,
    so a resumed run can pick up at any step (``batches(start_step)``).

    ``shard=(rank, world_size)``: data-parallel training. The order and the batches are
    those of one process with ``batch_size`` (the global batch); this process keeps the
    rank-th of ``world_size`` equal slices of every batch, batch_size / world_size items.
    """

    def __init__(
        self,
        data: ProductData,
        batch_size: int = 128,
        device: torch.device | str = "cpu",
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        extra: dict[str, torch.Tensor] | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if shard is not None:
            rank, world = shard
            if not 0 <= rank < world or batch_size % world:
                raise ValueError(f"shard {shard}: need 0 <= rank < world_size and batch_size ({batch_size}) "
                                 "divisible by world_size")
        self.shard = shard
        self.data = data
        self.device = torch.device(device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last and len(data) >= batch_size
        self.seed = seed
        self.epoch = 0
        self.extra = {k: v.to(self.device) for k, v in (extra or {}).items()}

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The item order of one epoch (a fixed function of seed and epoch)."""
        n = len(self.data)
        if not self.shuffle:
            return torch.arange(n, device=self.device)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=gen).to(self.device)

    def batch_at(self, order: torch.Tensor, b: int) -> Batch:
        idx = order[b * self.batch_size: (b + 1) * self.batch_size]
        if self.shard is not None:
            rank, world = self.shard
            k = len(idx) // world                                    # this process's slice of the global batch
            idx = idx[rank * k:(rank + 1) * k]
        x = self.images[idx].float().div_(255.0)
        return Batch(x=x, y=self.labels[idx], idx=idx, extra={k: v[idx] for k, v in self.extra.items()})

    def __iter__(self) -> Iterator[Batch]:
        """One epoch; each new ``for`` loop starts the next epoch."""
        order = self.order(self.epoch)
        self.epoch += 1
        for b in range(len(self)):
            yield self.batch_at(order, b)

    def batches(self, start_step: int = 0) -> Iterator[Batch]:
        """Batches without end, epoch after epoch, starting at global step ``start_step``."""
        per_epoch = len(self)
        epoch, b = divmod(start_step, per_epoch)
        while True:
            order = self.order(epoch)
            for i in range(b, per_epoch):
                yield self.batch_at(order, i)
            epoch, b = epoch + 1, 0


class ProductTorchDataset(Dataset):
    """``torch.utils.data.Dataset`` view: item i is (image float (C,H,W) in [0,1], label, description)."""

    def __init__(self, data: ProductData) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        return self.data.images[i].float() / 255.0, int(self.data.labels[i]), self.data.descriptions[i]
