"""Fashion-MNIST: 70,000 real product photos from Zalando's shop, 28x28 grey.

Where the files come from, in this order:

1. ``$PGAN_DATA_DIR`` (a folder holding the four ``*-ubyte.gz`` files, or a
   ``fashion-mnist/`` or ``FashionMNIST/raw/`` folder that does);
2. ``/usr/share/datasets/fashion-mnist/`` (Debian/Ubuntu: ``apt install dataset-fashion-mnist``);
3. the kit's cache folder, filled by torchvision's downloader where the network
   allows (``pgan_lib.data.fashion_mnist.download()``, or ``pgan data download``).

Every file's sha256 is checked before it is used.

Note on intensities: Zalando negated the photos when they made the data set, so
a pixel value of 255 is the darkest ink of the product and 0 the white shop
background. The kit shows them as they were photographed (dark on white, with
``cmap="gray_r"``), and the shade words in the descriptions follow the product
as photographed: a high mean value is a *dark* product.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ..config import cache_dir
from .attributes import FIT_WORDS, SHADE_WORDS, fashion_attributes, fashion_descriptions
from .base import ProductData, split_indices

CLASS_NAMES = [
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]

# sha256 of the original gzip files (identical in Debian's package and upstream).
FILES = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
VAL_SIZE = 5000  # held out of the 60,000 training images, always the same ones
SPLIT_SEED = 20170825  # the day Fashion-MNIST was published


class FashionMNISTNotFound(FileNotFoundError):
    """Raised when no verified copy of the Fashion-MNIST files can be found."""


def _candidates() -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get("PGAN_DATA_DIR")
    if env:
        base = Path(env).expanduser()
        dirs += [base, base / "fashion-mnist", base / "FashionMNIST" / "raw"]
    dirs.append(SYSTEM_DIR)
    dirs.append(cache_dir(create=False) / "FashionMNIST" / "raw")   # looked up only: no writable HOME needed
    return dirs


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_files() -> Path:
    """Return the first folder that holds all four files with the right checksums."""
    problems: list[str] = []
    for folder in _candidates():
        if not all((folder / name).is_file() for name in FILES):
            continue
        bad = [name for name, digest in FILES.items() if sha256(folder / name) != digest]
        if not bad:
            return folder
        problems.append(f"{folder}: checksum mismatch for {', '.join(bad)} (corrupt or different files; delete them)")
    looked = "\n".join(f"  - {p}" for p in _candidates())
    extra = ("\nFound but rejected:\n" + "\n".join(f"  - {p}" for p in problems)) if problems else ""
    raise FashionMNISTNotFound(
        "Fashion-MNIST was not found. Looked in:\n" + looked + extra + "\n"
        "Get it in one of three ways:\n"
        "  1. Debian/Ubuntu: sudo apt install dataset-fashion-mnist   (files land in /usr/share/datasets/fashion-mnist/)\n"
        "  2. Put the four *-ubyte.gz files in a folder and set PGAN_DATA_DIR=/that/folder\n"
        "  3. Where the network allows: pgan data download   (torchvision fetches them into the kit's cache)"
    )


def download() -> Path:
    """Fetch the files with torchvision into the kit's cache (needs network), then verify them."""
    from torchvision.datasets import FashionMNIST  # only for a download, which most machines never need

    FashionMNIST(root=str(cache_dir()), train=True, download=True)
    FashionMNIST(root=str(cache_dir()), train=False, download=True)
    return find_files()


def _read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (the MNIST format): a magic number, the dimensions, then raw uint8."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


_RAW: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _load_raw(part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N,1,28,28) uint8 and labels (N,) of the original 'train' or 't10k' file pair."""
    if part not in _RAW:
        folder = find_files()
        images = torch.from_numpy(_read_idx(folder / f"{part}-images-idx3-ubyte.gz").copy()).unsqueeze(1)
        labels = torch.from_numpy(_read_idx(folder / f"{part}-labels-idx1-ubyte.gz").astype(np.int64))
        _RAW[part] = (images, labels)
    return _RAW[part]


_SPLITS: dict[tuple[str, int], ProductData] = {}


def load_fashion_mnist(split: str = "train", seed: int = 0) -> ProductData:
    """One split of Fashion-MNIST with descriptions and pixel-derived attributes.

    Splits: ``train`` (55,000), ``val`` (5,000 of the original training set, always
    the same ones) and ``test`` (the original 10,000 test images). ``seed`` picks
    the phrasing of each description, never the split.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"Unknown Fashion-MNIST split {split!r}; use train, val or test.")
    if (split, seed) not in _SPLITS:  # computed once per process: attributes of 55,000 images take a few seconds
        _SPLITS[(split, seed)] = _build_split(split, seed)
    return _SPLITS[(split, seed)]


def _build_split(split: str, seed: int) -> ProductData:
    if split == "test":
        images, labels = _load_raw("t10k")
    else:
        images, labels = _load_raw("train")
        train_idx, val_idx = split_indices(len(labels), (len(labels) - VAL_SIZE, VAL_SIZE), seed=SPLIT_SEED)
        idx = train_idx if split == "train" else val_idx
        images, labels = images[idx], labels[idx]
    attrs = fashion_attributes(images, labels)
    return ProductData(
        name="fashion-mnist",
        split=split,
        images=images,
        descriptions=fashion_descriptions(labels, attrs, CLASS_NAMES, seed=seed + {"train": 0, "val": 1, "test": 2}[split]),
        labels=labels,
        class_names=list(CLASS_NAMES),
        attributes=attrs,
        attribute_values={"shade": list(SHADE_WORDS), "fit": list(FIT_WORDS)},
    )
