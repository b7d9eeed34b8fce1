"""The one shape every product data source takes: images, descriptions, labels."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

SPLITS = ("train", "val", "test")


@dataclass
class ProductData:
    """One split of a product image source.

    images:            uint8 tensor (N, C, H, W), C = 1 (grey) or 3 (RGB), on the CPU.
    descriptions:      one shop-style description per image, true of that image.
    labels:            int64 (N,) class index into ``class_names``; -1 where unknown.
    attributes:        name -> int64 (N,) index into ``attribute_values[name]``
                       (e.g. ``shade`` -> 0 for "dark"), for checking generated images.
    """

    name: str
    split: str
    images: torch.Tensor
    descriptions: list[str]
    labels: torch.Tensor
    class_names: list[str]
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)
    attribute_values: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"{self.name}: images must be uint8 (N, C, H, W), "
                             f"got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.descriptions) != n or self.labels.shape != (n,):
            raise ValueError(
                f"{self.name}: {n} images but {len(self.descriptions)} descriptions and {tuple(self.labels.shape)} labels"
            )
        for key, values in self.attributes.items():
            if values.shape != (n,):
                raise ValueError(f"{self.name}: attribute {key!r} has shape {tuple(values.shape)}, expected ({n},)")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> int:
        return self.images.shape[-1]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index: torch.Tensor | slice | list[int]) -> "ProductData":
        """The items at ``index`` (a slice, list or tensor of positions), as a new ProductData."""
        if isinstance(index, slice):
            idx = torch.arange(len(self))[index]
        else:
            idx = torch.as_tensor(index, dtype=torch.long)
        return ProductData(
            name=self.name,
            split=self.split,
            images=self.images[idx],
            descriptions=[self.descriptions[i] for i in idx.tolist()],
            labels=self.labels[idx],
            class_names=list(self.class_names),
            attributes={k: v[idx] for k, v in self.attributes.items()},
            attribute_values={k: list(v) for k, v in self.attribute_values.items()},
        )

    def take(self, n: int | None, seed: int = 0) -> "ProductData":
        """At most ``n`` items, picked at random but reproducibly (all of them for None)."""
        if n is None or n >= len(self):
            return self
        gen = torch.Generator().manual_seed(seed)
        return self.subset(torch.randperm(len(self), generator=gen)[:n].sort().values)

    def float_images(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Images as float32 in [0, 1], shape (N, C, H, W)."""
        imgs = self.images if index is None else self.images[index]
        return imgs.float().div_(255.0)

    def attribute_names(self, i: int) -> dict[str, str]:
        """The attributes of item ``i`` as words, e.g. {"shade": "dark", "fit": "slim"}."""
        return {k: self.attribute_values[k][int(v[i])] for k, v in self.attributes.items()}

    def summary(self) -> str:
        """A few readable lines: size, shape, classes and attribute values."""
        lines = [
            f"{self.name} [{self.split}]: {len(self)} images of {self.channels}x{self.size}x{self.size}",
            f"  classes ({self.num_classes}): {', '.join(self.class_names)}",
        ]
        for key, values in self.attribute_values.items():
            lines.append(f"  {key}: {', '.join(values)}")
        return "\n".join(lines)


def split_indices(n: int, fractions: tuple[float, float], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split positions 0..n-1 into two fixed, disjoint, sorted parts (first gets ``fractions[0]``)."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    cut = int(round(n * fractions[0] / sum(fractions)))
    return perm[:cut].sort().values, perm[cut:].sort().values
