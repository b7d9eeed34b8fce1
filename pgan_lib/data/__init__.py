"""Product image data: three sources behind one function, ``load_dataset``.

>>> from pgan_lib.data import load_dataset
>>> train = load_dataset("fashion-mnist", "train")      # real photos, 28x28 grey
>>> cat = load_dataset("catalog", "heldout")            # rendered colour products
>>> mine = load_dataset("folder:~/my_shop", "all")      # your own folder + captions.csv
"""
from __future__ import annotations

from pathlib import Path

from ..config import get_mode
from .base import SPLITS, ProductData
from .batches import Batch, BatchIterator, ProductTorchDataset

SOURCES = ("fashion-mnist", "catalog", "catalog-pairs[:SHARE[:CHANGE]]", "folder:PATH")
PAIRS_TRAIN, PAIRS_EVAL = 20000, 1000   # catalog-pairs: recoloured repair pairs rendered per split (see repair_pairs)


def load_dataset(
    source: str,
    split: str = "train",
    *,
    mode: str | None = None,
    limit: int | None | bool = True,
    size: int | None = None,
    channels: int | None = None,
    seed: int = 0,
    on_error: str = "skip",
) -> ProductData:
    """Load one split of a product image source.

    source:   "fashion-mnist", "catalog", "catalog-pairs[:SHARE[:CHANGE]]" (repair training pairs, SHARE of
              them recoloured in the hole, CHANGE "any" or "both"; ``data.repair_pairs``) or "folder:PATH".
    split:    "train", "val", "test" (the catalogue adds "heldout": unseen
              combinations; a folder adds "all").
    limit:    True caps the split at the run mode's size (``PGAN_MODE``: quick
              keeps a few thousand items); an int caps it there; None/False keeps all.
    size, channels: for the catalogue (32 or 64) and folders (any size, 1 or 3).
    on_error: for folders, "skip" (skip bad files, report them) or "fail".
    """
    settings = get_mode(mode)
    if source == "fashion-mnist":
        from .fashion_mnist import load_fashion_mnist  # each source loads its own dependencies on first use

        if size not in (None, 28) or channels not in (None, 1):
            raise ValueError("Fashion-MNIST is 28x28 grey: leave size/channels unset (or 28 and 1).")
        data = load_fashion_mnist(split, seed=seed)
    elif source == "catalog":
        from .catalog import load_catalog  # each source loads its own dependencies on first use

        if channels not in (None, 3):
            raise ValueError("The catalogue is rendered in colour: leave channels unset (or 3).")
        data = load_catalog(split, n_items=settings.catalog_items, size=size or 32, seed=seed)
    elif source == "catalog-pairs" or source.startswith("catalog-pairs:"):
        from .repair_pairs import recoloured_pairs  # each source loads its own dependencies on first use

        _, share_text, change = (source.split(":") + ["", ""])[:3]
        try:
            share = float(share_text or 0.5)
        except ValueError:
            raise ValueError(f"{source!r}: write catalog-pairs:SHARE[:CHANGE], SHARE a number in [0, 1] "
                             f"(e.g. catalog-pairs:0.5:both)") from None
        if channels not in (None, 3):
            raise ValueError("The catalogue is rendered in colour: leave channels unset (or 3).")
        n = {"train": PAIRS_TRAIN, "val": PAIRS_EVAL, "test": PAIRS_EVAL}.get(split)
        if n is None:
            raise ValueError(f"catalog-pairs has the splits train, val and test, not {split!r}")
        cap = settings.max_train if split == "train" else settings.max_eval
        data = recoloured_pairs(n if cap is None else min(n, cap), size=size or 32, contradict=share, split=split,
                                change=change or "any",
                                seed=seed + ("train", "val", "test").index(split) * 1000)
    elif source.startswith("folder:"):
        from .folder import load_folder  # each source loads its own dependencies on first use

        path = Path(source[len("folder:"):]).expanduser()
        data = load_folder(path, split, size=size or 32, channels=channels or 3, on_error=on_error, seed=seed)
    else:
        raise ValueError(f"Unknown data source {source!r}. Use one of: {', '.join(SOURCES)}.")
    if limit is True:
        cap = settings.max_train if split == "train" else settings.max_eval
    elif limit is False:
        cap = None
    else:
        cap = limit
    return data.take(cap, seed=seed)


__all__ = ["load_dataset", "ProductData", "Batch", "BatchIterator", "ProductTorchDataset", "SPLITS", "SOURCES"]
