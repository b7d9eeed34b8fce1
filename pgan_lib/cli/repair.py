"""``pgan repair`` and ``pgan upscale``: fill holes in product photos, and up-sample small ones.

    pgan repair photo.png --box 7,7,14,14 --out fixed.png
    pgan repair mug.png --mask scratch.png --prompt "a red striped mug" --out fixed.png
    pgan repair --batch damaged.npz --out repaired.npz
    pgan upscale small.png --model fashion-sr --out big.png

Pixels outside the hole are returned unchanged (``data.masks.composite``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .. import pretrained
from ..data.masks import box_mask
from ..images import to_uint8
from ..models.base import load_model
from ..models.pix2pix import Pix2Pix
from ..pretrained import weights_sha256
from ..provenance import Provenance, provenance_arrays, save_png_with_provenance
from .common import UserError

#: the model used when --model is not given: grey images, colour images with and without --prompt; super-resolution
DEFAULT_MODELS = {"grey": "fashion-repair", "colour+prompt": "catalog-repair", "colour": "catalog-repair-unguided",
                  "sr grey": "fashion-sr", "sr colour": "catalog-sr"}


def register(sub) -> None:
    rep = sub.add_parser(
        "repair", help="fill a hole in a product photo (inpainting), optionally as a description says",
        description="Repair the hole of a product photo with a trained repair model; pixels outside the hole "
                    "stay exactly as they were. The hole is a box (--box X,Y,W,H, in pixels from the top-left "
                    "corner) or a mask image (--mask, white = missing).")
    rep.add_argument("image", nargs="?", help="the damaged photo (PNG/JPEG)")
    hole = rep.add_mutually_exclusive_group()
    hole.add_argument("--box", default=None, help="the hole as X,Y,W,H in pixels, e.g. 7,7,14,14")
    hole.add_argument("--mask", default=None, help="a mask image of the same size: white (>= 128) = missing")
    rep.add_argument("--prompt", default=None, help='what the hole should show, e.g. "a red striped mug" '
                                                     "(description-guided models such as catalog-repair)")
    rep.add_argument("--batch", default=None, help="an .npz with images uint8 (N,H,W,C), masks (N,H,W) "
                                                   "(1 = missing) and optionally prompts; repairs them all")
    _common(rep, "repaired PNG (or .npz with --batch)")
    rep.set_defaults(func=repair_command)

    up = sub.add_parser("upscale", help="super-resolution: a small product photo at twice the size",
                        description="Up-sample a low-resolution product photo with a super-resolution model "
                                    "(e.g. fashion-sr: 14x14 grey -> 28x28).")
    up.add_argument("image", help="the small photo (PNG/JPEG)")
    _common(up, "the up-sampled PNG")
    up.set_defaults(func=upscale_command)


def _common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--model", default=None, help="a shipped model name (default: chosen from the image)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint of your own (instead of --model)")
    p.add_argument("--resize", action="store_true", help="scale an image of another size to the model's size")
    p.add_argument("--convert", action="store_true", help="convert grey <-> colour to what the model expects")
    p.add_argument("--out", required=True, help=what)


# -- reading and checking inputs ---------------------------------------------------------------------

def read_image(path: str | Path) -> np.ndarray:
    """A PNG/JPEG as uint8 (H, W, C), C = 1 (grey) or 3 (colour); transparency and palettes become RGB."""
    try:
        with Image.open(path) as opened:
            opened.load()
            im = opened if opened.mode in ("L", "RGB") else opened.convert(
                "L" if opened.mode in ("1", "I", "I;16", "F", "LA") else "RGB")
            arr = np.array(im)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"{path}: not an image PIL can read ({err}); use a PNG or JPEG") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_repair_model(args: argparse.Namespace, channels: int, prompt: bool, task: str):
    """The model of --model / --checkpoint, or the default for this kind of image; sets ``args.where``
    (its shipped name or checkpoint stem, for the provenance of the files written)."""
    if args.model and args.checkpoint:
        raise UserError("give at most one of --model NAME and --checkpoint PATH")
    if args.checkpoint:
        path = Path(args.checkpoint)
        path = path / "last" if path.is_dir() else path
        model, args.where = load_model(path), str(path)
    else:
        name = args.model
        if name is None:
            if task == "sr":
                name = DEFAULT_MODELS["sr grey" if channels == 1 else "sr colour"]
            else:
                name = DEFAULT_MODELS["grey" if channels == 1 else "colour+prompt" if prompt else "colour"]
        model, args.where = pretrained.load(name), name
    if not isinstance(model, Pix2Pix):
        raise UserError(f"{args.model or args.checkpoint} is a {model.arch} model, not a repair model "
                        "(use e.g. --model fashion-repair, catalog-repair, fashion-sr or catalog-sr)")
    if model.config.task != task:
        other = "pgan upscale" if model.config.task == "sr" else "pgan repair"
        raise UserError(f"{args.model or args.checkpoint} is a {'super-resolution' if task == 'inpaint' else 'repair'} "
                        f"model: use it with `{other}`")
    return model


def fit_image(arr: np.ndarray, size: int, channels: int, args: argparse.Namespace, name: str) -> np.ndarray:
    """An (H, W, C) uint8 image brought to (size, size, channels), or a clear error saying which flag fixes it."""
    h, w, c = arr.shape
    if c != channels:
        kind = {1: "grey (1 channel)", 3: "colour (3 channels)"}
        if not args.convert:
            raise UserError(f"{name} is {kind[c]} but the model repairs {kind[channels]} images; "
                            "add --convert to convert it")
        arr = arr.mean(2, keepdims=True).round().astype(np.uint8) if channels == 1 else np.repeat(arr, 3, axis=2)
    if (h, w) != (size, size):
        if not args.resize:
            raise UserError(f"{name} is {w}x{h} pixels but the model works on {size}x{size} images; "
                            f"add --resize to scale it to {size}x{size} first")
        im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
        arr = np.array(im.resize((size, size), Image.Resampling.BICUBIC if size > max(h, w) else Image.Resampling.BOX))
        arr = arr[:, :, None] if arr.ndim == 2 else arr
    return arr


def check_mask(mask: torch.Tensor, what: str) -> None:
    """A mask (H, W) must have a hole and must keep some pixels."""
    missing = int((mask > 0.5).sum())
    if missing == 0:
        raise UserError(f"{what} is empty: no pixel is marked missing (white/1 = missing); nothing to repair")
    if missing == mask.numel():
        raise UserError(f"{what} covers the whole image: there is nothing left to repair from; "
                        "mark only the damaged part")


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--box {text!r}: write X,Y,W,H in whole pixels, e.g. --box 7,7,14,14") from None
    return x, y, w, h


def image_mask(args: argparse.Namespace, shape: tuple[int, int], size: int) -> torch.Tensor:
    """The hole of --box or --mask, at the image's own size then at the model's: (size, size) float, 1 = missing."""
    h, w = shape
    if args.box:
        x, y, bw, bh = parse_box(args.box)
        try:
            m = box_mask((h, w), x, y, bw, bh)[0, 0]
        except ValueError as err:
            raise UserError(f"--box {args.box}: {err}") from None
    else:
        arr = read_image(args.mask)
        if arr.shape[:2] != (h, w):
            raise UserError(f"the mask {args.mask} is {arr.shape[1]}x{arr.shape[0]} but the image {args.image} is "
                            f"{w}x{h}: draw the mask at the image's size")
        m = torch.from_numpy((arr.mean(2) >= 128).astype(np.float32))
    check_mask(m, f"the hole ({'--box ' + args.box if args.box else args.mask})")
    if (h, w) != (size, size):   # --resize: nearest-neighbour keeps the mask binary
        m = F.interpolate(m[None, None], size=(size, size), mode="nearest")[0, 0]
        check_mask(m, "the hole after --resize")
    return m


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (N, H, W, C) uint8 (the kit's rounding rule, ``images.to_uint8``)."""
    return to_uint8(x).permute(0, 2, 3, 1).numpy()


def provenance(args: argparse.Namespace, prompt: str | None = None) -> Provenance:
    """What a repaired or up-sampled file records: the model (its hole or every pixel is generated)."""
    return Provenance(model=args.where, checkpoint_sha256=weights_sha256(args.where), prompt=prompt)


def save_png(arr: np.ndarray, path: str | Path, prov: Provenance) -> Path:
    """(H, W, C) uint8 -> a PNG carrying the provenance metadata (the kit's one PNG writer)."""
    try:
        return save_png_with_provenance(arr[:, :, 0] if arr.shape[2] == 1 else arr, path, prov)
    except ValueError as err:
        raise UserError(str(err)) from None


# -- the commands -----------------------------------------------------------------------------

def repair_command(args: argparse.Namespace) -> int:
    if args.batch:
        if args.image or args.box or args.mask or args.prompt:
            raise UserError("--batch takes the images, masks and prompts from the .npz: drop IMAGE, --box, --mask, --prompt")
        return repair_batch(args)
    if not args.image:
        raise UserError("give the photo to repair (pgan repair IMAGE.png --box X,Y,W,H --out fixed.png) or --batch IN.npz")
    if not (args.box or args.mask):
        raise UserError("say where the hole is: --box X,Y,W,H or --mask MASK.png (white = missing)")
    arr = read_image(args.image)
    model = load_repair_model(args, arr.shape[2], args.prompt is not None, "inpaint")
    c = model.config
    if args.prompt is not None and model.condition is None:
        raise UserError(f"{args.model or args.checkpoint} does not read descriptions: drop --prompt "
                        "or use a description-guided model (--model catalog-repair)")
    if args.prompt is None and model.condition is not None:
        raise UserError(f"{args.model or 'this model'} repairs from a description: add --prompt, "
                        'e.g. --prompt "a red striped mug"')
    mask = image_mask(args, arr.shape[:2], c.size)
    arr = fit_image(arr, c.size, c.channels, args, args.image)
    x = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255
    try:
        out = model.repair(x, mask[None, None], prompts=[args.prompt] if args.prompt is not None else None)
    except ValueError as err:
        raise UserError(f"--prompt {args.prompt!r}: {err}") from None
    fixed = _to_uint8(out)[0]
    fixed = np.where(mask.numpy()[:, :, None] > 0.5, fixed, arr)   # outside the hole: the input bytes
    path = save_png(fixed, args.out, provenance(args, args.prompt))
    print(f"repaired {int(mask.sum())} pixels of {args.image}; wrote {path} ({c.size}x{c.size})")
    return 0


def repair_batch(args: argparse.Namespace) -> int:
    try:
        with np.load(args.batch, allow_pickle=False) as z:
            files = set(z.files)
            if not {"images", "masks"} <= files:
                raise UserError(f"{args.batch} must hold 'images' (N,H,W,C uint8) and 'masks' (N,H,W, 1 = missing); "
                                f"it holds {sorted(files)}")
            images, masks = z["images"], z["masks"]
            prompts = [str(p) for p in z["prompts"]] if "prompts" in files else None
    except FileNotFoundError:
        raise UserError(f"{args.batch}: no such file") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{args.batch}: not a readable .npz of arrays ({err})") from None
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise UserError(f"{args.batch}: images must be uint8 (N,H,W,C) with C = 1 or 3, got {images.dtype} {images.shape}")
    n, h, w, ch = images.shape
    if masks.shape != (n, h, w):
        raise UserError(f"{args.batch}: masks must be (N,H,W) = {(n, h, w)} to match the images, got {masks.shape}")
    if prompts is not None and len(prompts) != n:
        raise UserError(f"{args.batch}: {len(prompts)} prompts for {n} images")
    m = torch.from_numpy(masks.astype(np.float32) > 0.5).float()
    holes = m.flatten(1).sum(1)
    for bad, what in ((holes == 0, "have an empty mask (nothing marked missing)"),
                      (holes == h * w, "have a mask covering the whole image")):
        if bad.any():
            idx = bad.nonzero().flatten().tolist()
            raise UserError(f"{args.batch}: images {idx[:10]}{' ...' if len(idx) > 10 else ''} {what}")
    model = load_repair_model(args, ch, prompts is not None, "inpaint")
    c = model.config
    if (h, w, ch) != (c.size, c.size, c.channels):
        raise UserError(f"{args.batch}: images are {w}x{h} with {ch} channel(s); the model repairs "
                        f"{c.size}x{c.size} with {c.channels}: resize/convert them first (single images: --resize/--convert)")
    if (prompts is None) != (model.condition is None):
        raise UserError(f"{args.batch}: " + ("this model repairs from descriptions: add a 'prompts' array"
                                             if prompts is None else "this model does not read descriptions: drop 'prompts'"))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    try:
        out = model.repair(x, m[:, None], prompts=prompts)
    except ValueError as err:
        raise UserError(f"{args.batch}: {err}") from None
    fixed = np.where(masks[..., None] > 0.5, _to_uint8(out), images)
    arrays = {"images": fixed, "masks": masks,
              **provenance_arrays(provenance(args, prompts[0] if prompts and len(set(prompts)) == 1 else None))}
    if prompts is not None:
        arrays["prompts"] = np.asarray(prompts, dtype=np.str_)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **arrays)
    print(f"repaired {n} images; wrote {out_path}")
    return 0


def upscale_command(args: argparse.Namespace) -> int:
    arr = read_image(args.image)
    model = load_repair_model(args, arr.shape[2], False, "sr")
    c = model.config
    side = c.size // c.sr_factor
    arr = fit_image(arr, side, c.channels, args, args.image)
    low = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255
    big = _to_uint8(model.upscale(low))[0]
    path = save_png(big, args.out, provenance(args))
    print(f"up-sampled {args.image} from {side}x{side} to {c.size}x{c.size}; wrote {path}")
    return 0
