"""Product classifiers: the kit's own yardstick for generated images.

FID, KID and friends need a *feature extractor*: a frozen network that maps an
image to a vector in which "looks like the same kind of product" means "is
close". The usual choice, InceptionV3 trained on ImageNet, cannot be
downloaded here, and its features fit 28x28 grey products poorly anyway. So
the kit trains its own small classifier on the real products (as TF-GAN's MNIST
examples use a frozen MNIST classifier) and measures in its penultimate layer.

The network, for a 28x28 grey image (widths 16, 32, 64):

    x in [0, 1]  (N, 1, 28, 28)
    block 1: 2 x [3x3 conv, BatchNorm, ReLU] -> (N, 16, 28, 28), 2x2 max-pool -> (N, 16, 14, 14)
    block 2: 2 x [3x3 conv, BatchNorm, ReLU] -> (N, 32, 14, 14), 2x2 max-pool -> (N, 32, 7, 7)
    block 3: 2 x [3x3 conv, BatchNorm, ReLU] -> (N, 64, 7, 7),   flatten     -> (N, 3136)
    dropout, linear, BatchNorm, ReLU         -> (N, feature_dim)    <- the feature space
    dropout, linear                          -> (N, classes) logits, one block of logits per head

Training minimises the cross-entropy of every head,

    loss = sum_heads  -1/N sum_i log softmax(logits_head(x_i))[y_i]

on lightly augmented images (random shifts of up to ``shift`` pixels and
random left-right flips, done on the whole batch tensor at once).

A classifier has one or more *heads*: ``("label",)`` for Fashion-MNIST's ten
classes, or ``("category", "colour", "pattern")`` for the colour catalogue,
where each head reads the matching attribute of the data.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.base import ProductData
from ..data.batches import Batch, BatchIterator
from .base import KitModel, TrainingContext
from .optim import adam


@dataclass
class ClassifierConfig:
    channels: int = 1
    size: int = 28
    widths: tuple[int, ...] = (16, 32, 64)     # channels of each conv block; every block but the last halves the side
    feature_dim: int = 128                     # size of the penultimate layer (the feature space)
    dropout: float = 0.25
    heads: tuple[str, ...] = ("label",)        # "label" reads the class labels; other names read data.attributes
    head_sizes: tuple[int, ...] = (10,)        # number of values of each head
    value_names: tuple[str, ...] = ()          # names of every head's values, head after head (sum(head_sizes) of them)
    shift: int = 1                             # augmentation: random shifts of up to this many pixels
    flip: bool = True                          # augmentation: random left-right flips
    label_smoothing: float = 0.0
    weight_decay: float = 0.05

    def __post_init__(self) -> None:
        if len(self.heads) != len(self.head_sizes) or not self.heads:
            raise ValueError(f"heads {self.heads} and head_sizes {self.head_sizes} must be non-empty and of equal length")
        if self.value_names and len(self.value_names) != sum(self.head_sizes):
            raise ValueError(f"value_names has {len(self.value_names)} names for {sum(self.head_sizes)} head values")
        if self.size % 2 ** (len(self.widths) - 1):
            raise ValueError(f"image size {self.size} cannot be halved {len(self.widths) - 1} times")


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """(N, c_in, H, W) -> (N, c_out, H, W): two 3x3 convolutions, each followed by BatchNorm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


def random_shift_flip(x: torch.Tensor, shift: int, flip: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift every image by its own random (dy, dx) in [-shift, shift] and flip half of them left-right.

    The batch is padded by ``shift`` pixels (repeating the border, which is the
    background) and each image is cropped back to its size at its own offset,
    with one gather over the whole batch: (N, C, H, W) -> (N, C, H, W).
    """
    n, _, h, w = x.shape
    if shift > 0:
        padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
        dy = torch.randint(0, 2 * shift + 1, (n, 1), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * shift + 1, (n, 1), generator=generator).to(x.device)
        rows = dy + torch.arange(h, device=x.device)              # (N, H)
        cols = dx + torch.arange(w, device=x.device)              # (N, W)
        item = torch.arange(n, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[item, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # (N, C, H, W)
    if flip:
        flipped = torch.rand(n, generator=generator).to(x.device) < 0.5
        x = torch.where(flipped[:, None, None, None], x.flip(-1), x)
    return x.contiguous()


class Classifier(KitModel):
    """Small CNN classifier with one or more heads; its penultimate layer is the kit's feature space."""

    arch = "classifier"
    Config = ClassifierConfig

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__(config)
        c = config
        blocks: list[nn.Module] = []
        c_in = c.channels
        for i, width in enumerate(c.widths):
            blocks.append(conv_block(c_in, width))                # (N, width, s, s)
            if i < len(c.widths) - 1:
                blocks.append(nn.MaxPool2d(2))                    # (N, width, s/2, s/2)
            c_in = width
        blocks.append(nn.Flatten())                               # (N, widths[-1] * side * side)
        self.body = nn.Sequential(*blocks)
        side = c.size // 2 ** (len(c.widths) - 1)
        self.embed = nn.Sequential(                               # (N, widths[-1] * side^2) -> (N, feature_dim)
            nn.Dropout(c.dropout), nn.Linear(c_in * side * side, c.feature_dim, bias=False),
            nn.BatchNorm1d(c.feature_dim), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.feature_dim, sum(c.head_sizes)))

    # -- the model ------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        c = self.config
        if x.ndim != 4 or x.shape[1:] != (c.channels, c.size, c.size):
            raise ValueError(
                f"this classifier takes float images (N, {c.channels}, {c.size}, {c.size}) in [0, 1]; got {tuple(x.shape)}"
            )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] -> penultimate features (N, feature_dim), all >= 0."""
        self.check_input(x)
        return self.embed(self.body(x.float() * 2 - 1))

    def head_logits(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features (N, feature_dim) -> {head: logits (N, head_size)}."""
        parts = self.head(feats).split(list(self.config.head_sizes), dim=1)
        return dict(zip(self.config.heads, parts))

    def all_logits(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Images -> {head: logits (N, head_size)}."""
        return self.head_logits(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] -> logits of the first head (N, head_sizes[0])."""
        return self.all_logits(x)[self.config.heads[0]]

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> dict[str, torch.Tensor]:
        """Predicted value index of every head, {head: (N,)}, computed in batches in eval mode."""
        was_training = self.training
        self.eval()
        out: dict[str, list[torch.Tensor]] = {h: [] for h in self.config.heads}
        for i in range(0, len(x), batch_size):
            for h, logits in self.all_logits(x[i:i + batch_size].to(self.device)).items():
                out[h].append(logits.argmax(1).cpu())
        self.train(was_training)
        return {h: torch.cat(v) if v else torch.zeros(0, dtype=torch.long) for h, v in out.items()}

    def names_of(self, head: str) -> list[str]:
        """The value names of one head (e.g. the ten class names), or their indices as text."""
        c = self.config
        k = c.heads.index(head)
        start = sum(c.head_sizes[:k])
        if not c.value_names:
            return [str(i) for i in range(c.head_sizes[k])]
        return list(c.value_names[start:start + c.head_sizes[k]])

    # -- trainer interface -----------------------------------------------------------
    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """AdamW; weight decay on the weight matrices and kernels only, not on biases or BatchNorm."""
        decay = [p for p in self.parameters() if p.ndim > 1]
        no_decay = [p for p in self.parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": self.config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return {"main": adam(groups, lr=lr, decoupled=True)}

    def batch_extra(self, data: ProductData) -> dict[str, torch.Tensor]:
        return {h: data.attributes[h] for h in self.config.heads if h != "label"}

    def targets(self, batch) -> dict[str, torch.Tensor]:
        return {h: batch.y if h == "label" else batch.extra[h] for h in self.config.heads}

    def training_step(self, batch: Batch, ctx: TrainingContext) -> dict[str, torch.Tensor]:
        x = random_shift_flip(batch.x, self.config.shift, self.config.flip)
        logits = self.all_logits(x)
        targets = self.targets(batch)
        losses = {h: F.cross_entropy(logits[h].float(), targets[h], label_smoothing=self.config.label_smoothing)
                  for h in self.config.heads}
        loss = torch.stack(list(losses.values())).sum()
        ctx.step("main", loss)
        logs = {"loss": loss.detach()}
        for h in self.config.heads:
            logs[f"acc_{h}"] = (logits[h].argmax(1) == targets[h]).float().mean().detach()
        return logs

    @torch.no_grad()
    def evaluate(self, data, batch_size: int = 1000) -> dict[str, float]:
        """Accuracy of every head and the mean cross-entropy over a split (no augmentation)."""
        was_training = self.training
        self.eval()
        correct: dict[str, float] = {h: 0 for h in self.config.heads}
        loss_sum, n = 0.0, 0
        it = BatchIterator(data, batch_size, self.device, shuffle=False, drop_last=False, extra=self.batch_extra(data))
        for batch in it:
            logits = self.all_logits(batch.x)
            for h, y in self.targets(batch).items():
                correct[h] += (logits[h].argmax(1) == y).sum().item()
                loss_sum += F.cross_entropy(logits[h].float(), y, reduction="sum").item()
            n += len(batch)
        self.train(was_training)
        n = max(n, 1)
        out = {f"acc_{h}": correct[h] / n for h in self.config.heads}
        out["acc"] = min(out.values())
        out["loss"] = loss_sum / n
        return out

    def validation_metrics(self, data: ProductData) -> dict[str, float]:
        """``val_acc`` is the accuracy of the weakest head (the only head for Fashion-MNIST)."""
        m = self.evaluate(data)
        return {f"val_{k}": v for k, v in m.items()}
