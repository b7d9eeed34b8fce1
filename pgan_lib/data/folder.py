"""Bring your own catalogue: load a folder of your own product images.

Lay out your folder in one of two ways.

1. **Class sub-folders** (quickest). Each sub-folder name is a class; every
   image gets a generated description such as "a product photo of a boot"
   (underscores and hyphens in the folder name become spaces)::

       my_shop/
           boot/      1.png  2.jpg ...
           mug/       a.jpg  b.webp ...
           tote_bag/  x.png ...

   Name folders in the singular ("boot", not "boots") so the sentence reads well.

2. **captions.csv** (your own descriptions). Put a file called ``captions.csv``
   in the folder root, UTF-8 (with or without a BOM, so "CSV UTF-8" from a
   spreadsheet works), with a header row. ``file`` and ``description`` are
   required, ``label`` is optional; file paths are relative to the folder.
   Put a description in double quotes when it contains a comma::

       file,description,label
       img/001.jpg,"a red leather boot, ankle height",boot
       img/002.jpg,a white ceramic mug,mug
       img/003.jpg,a blue canvas tote bag,

   Class names are the sorted distinct labels; a row with an empty label gets
   label -1 ("unknown"). Without a ``label`` column there are no classes:
   ``class_names`` is ``[]`` and every label is -1, so nothing pretends to know
   a class it was never told. If both captions.csv and sub-folders exist,
   captions.csv wins (sub-folder names are not used).

   Semicolon- or tab-separated files are accepted too.

A folder with images but neither captions.csv nor class sub-folders still
loads: every image gets the description "a product photo" and label -1, and
the report says so.

How images are converted
------------------------
* Every image becomes a square of ``size`` x ``size`` pixels: it is resized to
  fit, keeping its aspect ratio, and the leftover border is padded with white
  ("letterbox on white"), so no part of the product is cut off.
* Transparency (RGBA, LA, palette images with a transparent colour) is
  flattened onto white, as on a shop page.
* ``channels=3`` gives RGB, ``channels=1`` gives grey. Palette, CMYK, 1-bit and
  16-bit grey images are converted (16-bit values are scaled to 8 bits, so
  mid-grey 32896 becomes 128). Phone photos are turned upright using their
  EXIF orientation; animated GIFs and multi-page TIFFs use their first frame.

What happens to problems
------------------------
Nothing is skipped silently; every problem is listed by file name in a
:class:`FolderReport`:

* ``skipped``: items that could not be used: an image file that is corrupt,
  truncated or not really an image, a captions.csv row whose file is missing,
  a row with an empty description or too many columns. With
  ``on_error="skip"`` (the default) these are left out and the rest loads;
  with ``on_error="fail"`` a :class:`FolderDataError` lists every one of them.
* ``unlisted``: images that exist but have no captions.csv row (or, with
  sub-folders, lie outside any sub-folder). They are not loaded and are not
  an error, only a warning, since a captions.csv may describe a subset on purpose.
* ``ignored``: files that are not images (by extension), e.g. ``notes.txt``.
  Hidden files and folders (names starting with ".", such as Jupyter's
  ``.ipynb_checkpoints``) and ``__MACOSX`` are passed over without a note.

:func:`load_folder` shows the report with ``warnings.warn`` (a
:class:`FolderDataWarning`) when any file was skipped, unlisted or ignored, when
the folder had no layout, or when the split asked for is empty;
:func:`load_folder_with_report` returns the report instead, and
:func:`scan_folder` gives the decoded items and the report without splitting.
If no item at all can be loaded, a :class:`FolderDataError` is raised even
with ``on_error="skip"``.

Splits
------
The good images are split into train/val/test 80/10/10 with a fixed seed.
The split is made over distinct image files (sorted by path), so two caption
rows for the same image always land in the same split. A folder with fewer
than 10 distinct images is too small to hold anything out: all of it goes to
``train`` and ``val``/``test`` are empty (0 items, right shape), with a note in
the report. ``split="all"`` returns everything.

Decoded images are kept in a small in-memory cache (keyed by the file's path,
modification time and size, so an edited file is read again); nothing is
written to disk. :func:`clear_cache` empties it.
"""
from __future__ import annotations

import csv
import io
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import torch
from PIL import Image, ImageOps

from pgan_lib.data.base import SPLITS, ProductData, split_indices

__all__ = [
    "CAPTIONS_FILE",
    "IMAGE_EXTENSIONS",
    "FolderDataError",
    "FolderDataWarning",
    "FolderItem",
    "FolderReport",
    "clear_cache",
    "convert_image",
    "describe_class",
    "load_folder",
    "load_folder_with_report",
    "scan_folder",
]

CAPTIONS_FILE = "captions.csv"
#: File extensions treated as images. Files with other extensions are ignored with a note.
IMAGE_EXTENSIONS = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".gif", ".webp",
        ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico",
        ".avif", ".heic", ".heif",
    }
)
#: Folders with fewer distinct images than this go entirely into ``train``.
MIN_IMAGES_TO_SPLIT = 10
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
FLAT_DESCRIPTION = "a product photo"
FIX_HINT = "Fix or remove these files (or their rows in captions.csv), or pass on_error='skip' to load only the good ones."
SKIP_HINT = "Fix or remove the skipped files (or their rows in captions.csv) to load them too."
_SKIP_DIRS = frozenset({"__MACOSX", "__pycache__"})
_WHITE_RGBA = (255, 255, 255, 255)


class FolderDataError(ValueError):
    """A folder cannot be loaded as asked; the message names the path(s) and the fix."""

    def __init__(self, message: str, report: "FolderReport | None" = None) -> None:
        super().__init__(message)
        self.report = report


class FolderDataWarning(UserWarning):
    """Problems found while loading a folder (see the attached report text)."""


@dataclass
class FolderItem:
    """One usable item: ``path`` relative to the folder, ``label`` a string or None."""

    path: str
    description: str
    label: str | None
    image: torch.Tensor  # uint8 (C, size, size)


@dataclass
class FolderReport:
    """What a folder scan found. Paths are relative to ``root``, with "/" separators.

    skipped:  (path, reason) items left out because they are broken; errors under
              ``on_error="fail"``.
    unlisted: (path, reason) images that exist but were not part of the catalogue
              (no captions.csv row, or outside every class sub-folder); warnings only.
    ignored:  (path, reason) files that are not images; notes only.
    notes:    other remarks (no label column, layout fallback, small-folder split);
              information only.
    """

    root: str
    layout: str = ""
    loaded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unlisted: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no item had to be skipped."""
        return not self.skipped

    @property
    def clean(self) -> bool:
        """True when no file was skipped, left unlisted or ignored (notes don't count)."""
        return not (self.skipped or self.unlisted or self.ignored)

    def error_message(self) -> str:
        """The skipped items as an error message ending with how to fix them."""
        lines = [f"{len(self.skipped)} problem(s) in image folder {self.root}:"]
        lines += [f"  - {p}: {r}" for p, r in self.skipped]
        lines.append(FIX_HINT)
        return "\n".join(lines)

    def summary(self) -> str:
        """A readable multi-line summary of everything found."""
        lines = [f"Image folder {self.root} ({self.layout or 'no layout'}): {self.loaded} item(s) loaded."]
        sections = (
            (self.skipped, "skipped (broken, left out)"),
            (self.unlisted, "not loaded (not in the catalogue)"),
            (self.ignored, "ignored (not images)"),
        )
        for entries, title in sections:
            if entries:
                lines.append(f"{len(entries)} {title}:")
                lines += [f"  - {p}: {r}" for p, r in entries]
        lines += [f"note: {n}" for n in self.notes]
        if self.skipped:
            lines.append(SKIP_HINT)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------------
# Image conversion
# ---------------------------------------------------------------------------


def _flatten_on_white(im: Image.Image) -> Image.Image:
    """RGBA -> RGB with transparent parts painted white."""
    im = im.convert("RGBA")
    canvas = Image.new("RGBA", im.size, _WHITE_RGBA)
    canvas.alpha_composite(im)
    return canvas.convert("RGB")


def _wide_grey_to_l(im: Image.Image) -> Image.Image:
    """16/32-bit integer or float grey -> 8-bit "L", scaled and rounded.

    "I;16*" is scaled by 255/65535. "I" (as some readers give for 16-bit files) is
    scaled the same way when its values exceed 255, kept as-is when they fit in 0..255,
    and stretched from its own min..max when they exceed 16 bits. "F" in 0..1 is
    scaled by 255, otherwise clipped to 0..255.
    """
    if im.mode == "F":
        lo, hi = cast("tuple[float, float]", im.getextrema())
        scale = 255.0 if 0.0 <= lo and hi <= 1.0 else 1.0
        return im.point(lambda v: v * scale + 0.5).convert("L")
    sixteen_bit = im.mode.startswith("I;16")
    im = im.convert("I")
    lo, hi = cast("tuple[int, int]", im.getextrema())
    if hi <= 255 and lo >= 0 and not sixteen_bit:
        return im.convert("L")
    if lo >= 0 and hi <= 65535:
        return im.point(lambda v: v * (255.0 / 65535.0) + 0.5).convert("L")
    span = max(hi - lo, 1)
    return im.point(lambda v: (v - lo) * (255.0 / span) + 0.5).convert("L")


def convert_image(im: Image.Image, size: int = 32, channels: int = 3) -> torch.Tensor:
    """A PIL image of any mode as a uint8 tensor (channels, size, size), letterboxed on white."""
    try:
        im = ImageOps.exif_transpose(im) or im
    except Exception:  # a broken EXIF block should not make a good image unusable
        pass
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        im = _wide_grey_to_l(im)
    elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        im = _flatten_on_white(im)
    elif mode == "1":
        im = im.convert("L")
    elif mode not in ("L", "RGB"):
        im = im.convert("RGB")  # P, CMYK, YCbCr, RGBX, ...
    if channels == 1:
        im = im.convert("L")
        fill: int | tuple[int, int, int] = 255
    else:
        im = im.convert("RGB")
        fill = (255, 255, 255)
    im = ImageOps.pad(im, (size, size), method=Image.Resampling.LANCZOS, color=fill, centering=(0.5, 0.5))
    data = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
    return data.view(size, size, channels).permute(2, 0, 1).contiguous()


def _describe_decode_error(path: Path, exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, Image.UnidentifiedImageError):
        hint = ""
        if path.suffix.lower() in (".heic", ".heif", ".avif"):
            hint = f"; this Pillow cannot read {path.suffix} files, save it as PNG or JPEG"
        return f"not a readable image (Pillow cannot identify the file; is it really a {path.suffix or 'image'} file?){hint}"
    if "truncated" in text.lower():
        return f"truncated or corrupt image ({text}); re-export or re-download it"
    if isinstance(exc, (OSError, SyntaxError, EOFError, ValueError)):
        return f"corrupt or unsupported image ({type(exc).__name__}: {text})"
    return f"could not decode image ({type(exc).__name__}: {text})"


# ---------------------------------------------------------------------------
# In-memory cache of decoded images
# ---------------------------------------------------------------------------

_CACHE_MAX_BYTES = 512 * 1024 * 1024
_cache: "OrderedDict[tuple, torch.Tensor | str]" = OrderedDict()
_cache_bytes = 0


def clear_cache() -> None:
    """Forget every decoded image."""
    global _cache_bytes
    _cache.clear()
    _cache_bytes = 0


def _decode(path: Path, size: int, channels: int) -> torch.Tensor | str:
    """The converted image, or a reason string when it cannot be read. Cached in memory."""
    global _cache_bytes
    try:
        st = path.stat()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    key = (str(path), st.st_mtime_ns, st.st_size, size, channels)
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "palette images with transparency ..."
            with Image.open(path) as im:
                im.load()
                result: torch.Tensor | str = convert_image(im, size, channels)
    except PermissionError as exc:
        result = f"cannot be read (permission denied: {exc.filename or path.name})"
    except Exception as exc:  # any decoder failure is reported by file name, never raised
        result = _describe_decode_error(path, exc)
    nbytes = result.numel() if isinstance(result, torch.Tensor) else 64
    _cache[key] = result
    _cache_bytes += nbytes
    while _cache_bytes > _CACHE_MAX_BYTES and len(_cache) > 1:
        _, old = _cache.popitem(last=False)
        _cache_bytes -= old.numel() if isinstance(old, torch.Tensor) else 64
    return result


# ---------------------------------------------------------------------------
# Scanning
# ---------------------------------------------------------------------------


def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") or part in _SKIP_DIRS for part in rel.parts)


def _walk(root: Path) -> list[Path]:
    """All non-hidden files under ``root``, as sorted relative paths."""
    found = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if _is_hidden(rel) or not p.is_file():
            continue
        found.append(rel)
    return sorted(found, key=lambda r: r.as_posix())


def _is_image_name(rel: Path) -> bool:
    return rel.suffix.lower() in IMAGE_EXTENSIONS


def describe_class(name: str) -> str:
    """A description for a class folder name: "tote_bag" -> "a product photo of a tote bag"."""
    words = " ".join(name.replace("_", " ").replace("-", " ").split())
    lower = words.lower()
    if not words:
        return FLAT_DESCRIPTION
    if lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
        return f"a product photo of {words}"  # plural-looking: "jeans", "boots"
    consonant_u = ("uni", "use", "usb", "usu", "uti", "eu", "ewe", "one", "once")
    article = "an" if lower[0] in "aeiou" and not lower.startswith(consonant_u) else "a"
    return f"a product photo of {article} {words}"


def _find_captions(root: Path) -> Path | None:
    exact = root / CAPTIONS_FILE
    if exact.is_file():
        return exact
    for p in root.iterdir():
        if p.is_file() and p.name.lower() == CAPTIONS_FILE:
            return p
    return None


_CSV_EXAMPLE = (
    "file,description,label\n"
    'img/001.jpg,"a red leather boot, ankle height",boot\n'
    "img/002.jpg,a white ceramic mug,mug"
)


def _read_captions(csv_path: Path) -> tuple[list[dict[str, str | None]], bool, list[tuple[str, str]]]:
    """Rows as dicts with keys file, description, label, row; whether a label column exists; bad rows."""
    try:
        text = csv_path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FolderDataError(
            f"{csv_path} is not UTF-8 text (byte {exc.start} cannot be decoded). "
            "Save it as UTF-8 (in a spreadsheet: 'CSV UTF-8') and try again."
        ) from None
    except OSError as exc:
        raise FolderDataError(f"cannot read {csv_path}: {exc.strerror or exc}") from None

    first_line = text.splitlines()[0] if text.strip() else ""
    delimiter, header = ",", []
    for delim in (",", ";", "\t"):
        fields = [h.strip().lower() for h in next(csv.reader([first_line], delimiter=delim), [])]
        if "file" in fields and "description" in fields:
            delimiter, header = delim, fields
            break
    if not header:
        found = ", ".join(repr(h.strip()) for h in next(csv.reader([first_line]), [])) or "nothing"
        raise FolderDataError(
            f"{csv_path} needs a header row with the columns 'file' and 'description' "
            f"(and optionally 'label'); found {found}. Its first lines should look like:\n{_CSV_EXAMPLE}"
        )

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    next(reader)
    col: dict[str, int] = {name: header.index(name) for name in ("file", "description", "label") if name in header}
    rows: list[dict[str, str | None]] = []
    bad: list[tuple[str, str]] = []
    try:
        all_values = [(reader.line_num, values) for values in reader]
    except csv.Error as exc:
        raise FolderDataError(
            f"{csv_path} cannot be read as CSV near line {reader.line_num} ({exc}). "
            "Check that quotes are balanced and save it again as CSV UTF-8."
        ) from None
    for row_no, values in all_values:
        if not any(v.strip() for v in values):
            continue

        def get(name: str, values: list[str] = values) -> str:
            i = col.get(name)
            return values[i].strip() if i is not None and i < len(values) else ""

        file = get("file").replace("\\", "/")
        file = Path(file).as_posix() if file else file
        where = f"{csv_path.name} line {row_no}"
        if not file:
            bad.append((where, "row has no file name"))
            continue
        if any(v.strip() for v in values[len(header):]):
            bad.append(
                (file, f"{where} has {len(values)} columns but the header has {len(header)}; "
                 "put a description that contains commas in double quotes")
            )
            continue
        rows.append({"file": file, "description": get("description"), "label": get("label") or None, "row": where})
    return rows, "label" in col, bad


def _check_args(size: int, channels: int) -> None:
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")


def _resolve_root(path: str | Path) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise FolderDataError(
            f"image folder not found: {path} (looked in {root.absolute()}). "
            f"Check the spelling; a relative path is taken from the current directory {Path.cwd()}."
        )
    if not root.is_dir():
        raise FolderDataError(f"{path} is a file, not a folder. Pass the folder that holds your images.")
    return root


def scan_folder(path: str | Path, size: int = 32, channels: int = 3) -> tuple[list[FolderItem], FolderReport]:
    """Read every image in the folder and report on each problem (see module docstring).

    Raises :class:`FolderDataError` only when the folder itself is unusable: missing, not a
    folder, holding no images at all, or with a captions.csv lacking the required columns.
    An empty item list with a report full of skipped files is returned, not raised.
    """
    _check_args(size, channels)
    root = _resolve_root(path)
    report = FolderReport(root=str(path))
    files = _walk(root)
    captions = _find_captions(root)
    entries: list[tuple[str, str, str | None]] = []  # (relative path, description, label)

    if captions is not None:
        report.layout = CAPTIONS_FILE
        rows, has_label, bad_rows = _read_captions(captions)
        report.skipped += bad_rows
        on_disk = {f.as_posix() for f in files}
        by_lower = {f.as_posix().lower(): f.as_posix() for f in files}
        listed: set[str] = set()
        for row in rows:
            rel, where = str(row["file"]), str(row["row"])
            listed.add(rel)
            if Path(rel).is_absolute() or rel.startswith("/"):
                report.skipped.append((rel, f"{where}: use a path relative to the folder, not an absolute path"))
            elif (root / rel).is_dir():
                report.skipped.append((rel, f"{where}: is a folder, not an image file"))
            elif not (root / rel).is_file():
                guess = by_lower.get(rel.lower()) if rel not in on_disk else None
                hint = f" (did you mean {guess}? names are case-sensitive)" if guess else ""
                report.skipped.append((rel, f"{where}: file not found{hint}"))
            elif not row["description"]:
                report.skipped.append((rel, f"{where}: empty description"))
            else:
                entries.append((rel, str(row["description"]), row["label"]))
        for f in files:
            name = f.as_posix()
            if f == captions.relative_to(root) or name in listed:
                continue
            if _is_image_name(f):
                report.unlisted.append((name, f"image has no row in {captions.name}; not loaded"))
            else:
                report.ignored.append((name, f"not an image ({f.suffix or 'no extension'})"))
        if not has_label:
            report.notes.append(
                f"{captions.name} has no 'label' column: class_names is [] and every label is -1"
            )
            if any(len(f.parts) > 1 and _is_image_name(f) for f in files):
                report.notes.append(
                    f"{captions.name} takes precedence over sub-folders; add a 'label' column to use classes"
                )
        if not rows and not bad_rows:
            raise FolderDataError(
                f"{captions} has a header but no rows. Add one row per image, e.g.:\n{_CSV_EXAMPLE}"
            )
    else:
        images = [f for f in files if _is_image_name(f)]
        for f in files:
            if not _is_image_name(f):
                report.ignored.append((f.as_posix(), f"not an image ({f.suffix or 'no extension'})"))
        if not images:
            raise FolderDataError(
                f"no images found in {path} (looked for {', '.join(sorted(e for e in IMAGE_EXTENSIONS))}). "
                f"Put images in class sub-folders ({path}/boot/1.png, {path}/mug/2.jpg) "
                f"or add a {CAPTIONS_FILE} listing file,description."
            )
        nested = [f for f in images if len(f.parts) > 1]
        if nested:
            report.layout = "sub-folders"
            for f in images:
                if len(f.parts) == 1:
                    report.unlisted.append((f.as_posix(), "not inside a class sub-folder; not loaded"))
                else:
                    entries.append((f.as_posix(), describe_class(f.parts[0]), f.parts[0]))
        else:
            report.layout = "flat"
            report.notes.append(
                f"no {CAPTIONS_FILE} and no class sub-folders: every image is described as "
                f"'{FLAT_DESCRIPTION}' with label -1; add {CAPTIONS_FILE} for real descriptions"
            )
            entries = [(f.as_posix(), FLAT_DESCRIPTION, None) for f in images]

    items: list[FolderItem] = []
    decoded: dict[str, torch.Tensor | str] = {}
    for rel, description, label in entries:
        if rel not in decoded:
            decoded[rel] = _decode(root / rel, size, channels)
            if isinstance(decoded[rel], str):
                report.skipped.append((rel, str(decoded[rel])))
        image = decoded[rel]
        if isinstance(image, torch.Tensor):
            items.append(FolderItem(path=rel, description=description, label=label, image=image))
    report.loaded = len(items)
    return items, report


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _split_files(files: list[str], seed: int) -> dict[str, str]:
    """Map each distinct file to train/val/test (80/10/10; all train below MIN_IMAGES_TO_SPLIT)."""
    n = len(files)
    if n < MIN_IMAGES_TO_SPLIT:
        return {f: "train" for f in files}
    train_frac, val_frac, test_frac = SPLIT_FRACTIONS
    train_idx, rest_idx = split_indices(n, (train_frac, val_frac + test_frac), seed)
    val_pos, test_pos = split_indices(len(rest_idx), (val_frac, test_frac), seed + 1)
    assign = {files[i]: "train" for i in train_idx.tolist()}
    assign.update({files[int(rest_idx[i])]: "val" for i in val_pos.tolist()})
    assign.update({files[int(rest_idx[i])]: "test" for i in test_pos.tolist()})
    return assign


def load_folder_with_report(
    path: str | Path,
    split: str = "train",
    size: int = 32,
    channels: int = 3,
    on_error: str = "skip",
    seed: int = 0,
) -> tuple[ProductData, FolderReport]:
    """Like :func:`load_folder`, but returns the :class:`FolderReport` instead of warning."""
    if split not in SPLITS and split != "all":
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or 'all', got {split!r}")
    if on_error not in ("skip", "fail"):
        raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    items, report = scan_folder(path, size=size, channels=channels)
    if report.skipped and on_error == "fail":
        raise FolderDataError(report.error_message(), report)
    if not items:
        raise FolderDataError(
            f"none of the images in {path} could be loaded.\n" + report.error_message(), report
        )

    class_names = sorted({it.label for it in items if it.label is not None})
    index = {name: i for i, name in enumerate(class_names)}
    files = sorted({it.path for it in items})
    assign = _split_files(files, seed)
    if len(files) < MIN_IMAGES_TO_SPLIT and split != "all":
        report.notes.append(
            f"only {len(files)} distinct image(s) (< {MIN_IMAGES_TO_SPLIT}): all are in 'train'; 'val' and 'test' are empty"
        )
    chosen = items if split == "all" else [it for it in items if assign[it.path] == split]

    if chosen:
        images = torch.stack([it.image for it in chosen])
    else:
        images = torch.empty((0, channels, size, size), dtype=torch.uint8)
    labels = torch.tensor([index[it.label] if it.label is not None else -1 for it in chosen], dtype=torch.int64)
    data = ProductData(
        name=f"folder:{path}",
        split=split,
        images=images,
        descriptions=[it.description for it in chosen],
        labels=labels.reshape(len(chosen)),
        class_names=class_names,
    )
    return data, report


def load_folder(
    path: str | Path,
    split: str = "train",
    size: int = 32,
    channels: int = 3,
    on_error: str = "skip",
    seed: int = 0,
) -> ProductData:
    """Load one split of your own image folder as :class:`ProductData` (layout: module docstring).

    ``on_error="skip"`` leaves broken items out; ``on_error="fail"`` raises
    :class:`FolderDataError` naming every broken file. ``split`` is "train", "val", "test"
    or "all". The report summary is shown as a :class:`FolderDataWarning` when files were
    skipped, unlisted or ignored, when the folder had no layout (flat), or when the split
    asked for is empty.
    """
    data, report = load_folder_with_report(path, split=split, size=size, channels=channels, on_error=on_error, seed=seed)
    if not report.clean or report.layout == "flat" or len(data) == 0:
        warnings.warn(report.summary(), FolderDataWarning, stacklevel=2)
    return data
