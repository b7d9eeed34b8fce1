"""``pgan inspect`` (what a file says about itself) and ``pgan detect`` (does it look generated?)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .. import content_credentials, pretrained
from .. import watermark as wm
from ..eval.detection import normalise_input
from ..eval.samples import load_samples
from ..images import to_float_images
from ..provenance import format_provenance, read_provenance
from .common import UserError, write_json

#: the shipped detector for each image format (see pgan_lib.eval.detection.SETUPS)
DETECTORS = {"fashion": "detector-fashion", "catalog": "detector-catalog"}


def register(sub) -> None:
    ins = sub.add_parser("inspect", help="what an image or samples file says about where it came from",
                         description="Print a file's provenance metadata (PNG text chunks and XMP, or the arrays "
                                     "of a samples .npz), its C2PA content credentials and, for a single 28x28 or "
                                     "32x32 image, what the kit's watermark decoder reads.")
    ins.add_argument("path", help="a PNG (or other image) or a samples .npz")
    ins.add_argument("--json", default=None, help="also write what was found to this JSON file")
    ins.set_defaults(func=inspect_command)

    det = sub.add_parser("detect", help="score images: how likely each one is generated",
                         description="Score 28x28 grey or 32x32 colour images with the kit's real-vs-generated "
                                     "detector (higher = more likely generated).")
    det.add_argument("images", nargs="*", help="image files (28x28 grey or 32x32 colour)")
    det.add_argument("--batch", default=None, help="a samples .npz (images uint8 (N, H, W, C)) instead of files")
    det.add_argument("--invert", action="store_true",
                     help="28x28 grey images show a dark product on white (as photographed): invert them to "
                          "Fashion-MNIST's stored convention (light product on black) first")
    det.add_argument("--json", default=None, help="write scores, threshold and the detector's version here")
    det.set_defaults(func=detect_command)


# -- inspect -------------------------------------------------------------------------------------------

def _watermark_reading(path: Path) -> dict | None:
    """The watermark decoder's reading of a single 28x28 grey or 32x32 colour image (None for other files)."""
    try:
        with Image.open(path) as img:
            if img.size not in ((28, 28), (32, 32)):
                return None
            arr = np.array(img.convert("L" if img.size == (28, 28) else "RGB"))
    except (UnidentifiedImageError, OSError):
        return None
    x = to_float_images(arr[None])
    cfg = wm.WatermarkConfig.for_size(x.shape[-1])
    d = wm.decode(x, cfg)
    value = wm.bits_to_int(d.bits[0])
    return {"fit": float(d.fit[0]), "fit_threshold": cfg.fit_threshold, "marked": bool(d.fit[0] > cfg.fit_threshold),
            "payload": f"{value:08x}", "model_id": value >> 16, "seed_low16": value & 0xFFFF,
            "read_as_resized": bool(d.resized[0])}


def inspect_command(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        prov = read_provenance(path)
    except ValueError as err:
        raise UserError(str(err)) from None
    print(format_provenance(prov, path))
    result: dict = {"path": str(path), "provenance": prov}
    if path.suffix.lower() != ".npz":
        cred = content_credentials.read_credentials(path)
        print(content_credentials.format_credentials(cred))
        mark = _watermark_reading(path)
        if mark is not None:
            verdict = "a kit watermark is present" if mark["marked"] else "no kit watermark found"
            print(f"watermark: {verdict} (lattice fit {mark['fit']:.3f}, threshold {mark['fit_threshold']:.3f}); "
                  f"payload {mark['payload']} (model id {mark['model_id']}, seed bits {mark['seed_low16']})")
        result.update(credentials=cred, watermark=mark)
    if args.json:
        write_json(args.json, result)
    return 0


# -- detect --------------------------------------------------------------------------------------------

def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            mode = "L" if img.mode in ("L", "LA", "I", "I;16", "1") else "RGB"
            return np.array(img.convert(mode))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"{path}: not an image Pillow can read ({err})") from None


def detect_command(args: argparse.Namespace) -> int:
    if bool(args.images) == bool(args.batch):
        raise UserError("give image files or --batch FILE.npz (not both, not neither)")
    if args.batch:
        try:
            images, _, _ = load_samples(args.batch)
        except (ValueError, FileNotFoundError) as err:
            raise UserError(str(err)) from None
        names = [f"{args.batch}[{i}]" for i in range(len(images))]
        batches = [(images, args.batch, list(range(len(images))))]
    else:
        arrays = [(_read_image(Path(p)), p) for p in args.images]
        shapes: dict[tuple, list[int]] = {}
        for i, (a, _) in enumerate(arrays):
            shapes.setdefault(a.shape, []).append(i)
        names = [p for _, p in arrays]
        batches = [(np.stack([arrays[i][0] for i in idx]), arrays[idx[0]][1], idx) for idx in shapes.values()]
    scores = [0.0] * len(names)
    which = [""] * len(names)
    used: dict[str, dict] = {}
    for images, where, idx in batches:
        arr = images[None] if images.ndim == 2 else images
        try:
            x, setup = normalise_input(arr, where)
        except ValueError as err:
            raise UserError(str(err)) from None
        if args.invert and setup == "fashion":
            x = 255 - x
        name = DETECTORS[setup]
        if name not in used:
            try:
                model = pretrained.load(name)
            except KeyError:
                raise UserError(f"the detector {name} is not shipped with this copy of the kit "
                                "(checkpoints/manifest.json)") from None
            used[name] = {"model": model, "threshold": float(model.config.threshold),
                          "calibrated_on": model.config.calibrated_on, "trained_on": model.config.trained_on,
                          "version": f"{name}@{pretrained.weights_sha256(name)[:16]}"}
        with torch.no_grad():
            s = used[name]["model"].scores(x)
        for j, i in enumerate(idx):
            scores[i], which[i] = float(s[j]), name
    for info in used.values():
        print(f"detector {info['version']} (trained on {info['trained_on']}); threshold {info['threshold']:.3f}, "
              f"chosen on {info['calibrated_on']}")
    for n, s, d in zip(names, scores, which):
        verdict = "likely generated" if s > used[d]["threshold"] else "looks real"
        print(f"  {s:+8.3f}  {verdict:<16s}  {n}")
    if len(used) > 1:
        print("note: the files came in two formats, each scored by its own detector and threshold (see --json)")
    if args.json:
        only = next(iter(used.values())) if len(used) == 1 else None
        payload = {
            "scores": scores,
            "score": "logit of 'generated' (higher = more likely generated), one per image in input order",
            "threshold": only["threshold"] if only else {n: u["threshold"] for n, u in used.items()},
            "detector_version": only["version"] if only else {n: u["version"] for n, u in used.items()},
            "calibrated_on": only["calibrated_on"] if only else {n: u["calibrated_on"] for n, u in used.items()},
            "inputs": names,
        }
        write_json(args.json, payload)
    return 0
