"""The kit's one sample file: ``.npz`` with images uint8 (N, H, W, C), optional labels (N,) and prompts (N,),
and provenance fields as 0-d string arrays ``provenance_<field>`` (what made the samples).

Prompts are a plain unicode array, so files load with ``allow_pickle=False``.
``pgan sample`` writes these files and ``pgan eval`` reads them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..images import to_float_images, to_uint8
from ..provenance import Provenance, provenance_arrays


def save_samples(path: str | Path, images, labels=None, prompts: Sequence[str] | None = None,
                 provenance: Provenance | None = None) -> Path:
    """Write samples as the kit's .npz: images uint8 (N, H, W, C), optional labels (N,) and prompts (N,),
    and the ``provenance`` fields as plain string arrays ``provenance_<field>`` (``pgan inspect`` reads them)."""
    x = to_uint8(to_float_images(images)).permute(0, 2, 3, 1).numpy()
    arrays: dict[str, Any] = {"images": x}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, dtype=np.int64)
    if prompts is not None:
        arrays["prompts"] = np.asarray([str(p) for p in prompts], dtype=np.str_)
    if provenance is not None:
        arrays.update(provenance_arrays(provenance))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_samples(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Read a samples .npz (no pickles): images uint8 (N, H, W, C), labels (N,) or None, prompts or None."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such samples file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise ValueError(f"{path}: no 'images' array (found {', '.join(z.files) or 'nothing'}); "
                                 "a samples file holds images uint8 (N, H, W, C) and optional labels, prompts")
            images = z["images"]
            labels = z["labels"] if "labels" in z.files else None
            prompts = z["prompts"] if "prompts" in z.files else None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npz file ({err})") from None
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise ValueError(f"{path}: holds pickled objects, which are refused; store prompts as a unicode array") from None
        raise
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"{path}: images must be uint8 (N, H, W, C); got {images.dtype} {images.shape}")
    n = len(images)
    if labels is not None:
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{path}: labels must be integers of shape ({n},); got {labels.dtype} {labels.shape}")
    if prompts is not None:
        if prompts.shape != (n,) or prompts.dtype.kind != "U":
            raise ValueError(f"{path}: prompts must be a unicode array of shape ({n},); got {prompts.dtype} {prompts.shape}")
        prompts = [str(p) for p in prompts]
    return images, labels, prompts

