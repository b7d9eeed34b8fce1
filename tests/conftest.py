import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("PGAN_MODE", "quick")


@pytest.fixture
def tiny_data():
    """A small synthetic ProductData (two classes of blobs), no files needed."""
    import torch

    from pgan_lib.data.base import ProductData

    gen = torch.Generator().manual_seed(0)
    n = 64
    labels = torch.arange(n) % 2
    imgs = torch.zeros(n, 1, 8, 8)
    imgs[labels == 0, :, 2:6, 1:3] = 1.0
    imgs[labels == 1, :, 2:6, 5:7] = 1.0
    imgs = (imgs * 200 + torch.rand(n, 1, 8, 8, generator=gen) * 40).to(torch.uint8)
    return ProductData(name="tiny", split="train", images=imgs,
                       descriptions=[f"item {i} of class {int(y)}" for i, y in enumerate(labels)],
                       labels=labels, class_names=["left", "right"])
