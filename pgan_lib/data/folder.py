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
* ``ignored``: files that are not images (by extension), e.g. ``notes.txt``, and
  folders whose name looks like an image (``x.png/``), which are scanned as folders.
  Hidden files and folders (names starting with ".", such as Jupyter's
  ``.ipynb_checkpoints``) and ``__MACOSX`` are passed over without a note.

The loader stays inside the folder. Every path (captions rows and the files it walks)
is resolved first: a row such as ``../secret.png`` or a link that leads outside the
folder is skipped by name and never opened, and nothing of a file outside the folder
is ever printed. Only regular files are opened: FIFOs, devices, sockets, broken or
looping links and linked folders are named with their reason, and a folder or file
that cannot be read is named without ending the scan. Limits keep memory bounded:
an image over ``max_pixels`` pixels (default 64 million) is skipped before it is
decoded, ``size`` is at most 1024, a description at most 2000 characters (a longer
row is skipped), captions.csv at most 64 MB. Names are printed with control
characters escaped, so a file name cannot forge a report line.

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
import os
import stat
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import torch
from PIL import Image, ImageOps

from pgan_lib.data.base import SPLITS, ProductData, split_indices
from pgan_lib.safety import (
    MAX_CAPTIONS_BYTES,
    MAX_DESCRIPTION_CHARS,
    MAX_IMAGE_FILE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIZE,
    MAX_LOADED_BYTES,
    format_bytes,
    safe_text,
)

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
        lines = [f"{len(self.skipped)} problem(s) in image folder {safe_text(self.root, 300)}:"]
        lines += [_entry_line(p, r) for p, r in self.skipped]
        lines.append(FIX_HINT)
        return "\n".join(lines)

    def summary(self) -> str:
        """A readable multi-line summary of everything found."""
        lines = [f"Image folder {safe_text(self.root, 300)} ({self.layout or 'no layout'}): {self.loaded} item(s) loaded."]
        sections = (
            (self.skipped, "skipped (broken, left out)"),
            (self.unlisted, "not loaded (not in the catalogue)"),
            (self.ignored, "ignored (not images)"),
        )
        for entries, title in sections:
            if entries:
                lines.append(f"{len(entries)} {title}:")
                lines += [_entry_line(p, r) for p, r in entries]
        lines += [f"note: {safe_text(n, 500)}" for n in self.notes]
        if self.skipped:
            lines.append(SKIP_HINT)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _entry_line(path: str, reason: str) -> str:
    """One report line; names and reasons are escaped so a control character cannot forge a line."""
    return f"  - {safe_text(path, 300)}: {safe_text(reason, 500)}"


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


class _Refused(Exception):
    """An entry the loader will not read; the message is the reason shown in the report."""


def _read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file, opened without following a final symlink and without
    blocking on a FIFO; OSError, or _Refused with the reason, otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Refused(f"not a regular file ({_kind(st.st_mode)}); not read")
        if st.st_size > limit:
            raise _Refused(f"file is {format_bytes(st.st_size)}, over the limit of {format_bytes(limit)}; not read")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _Refused(f"file is over the limit of {format_bytes(limit)}; not read")
    return data


def _open_image(data: bytes, size: int, max_pixels: int) -> tuple[Image.Image | None, str]:
    """Open (not decode) an image, shrink a JPEG while decoding where it is larger than needed,
    and check its pixel count; returns (image, "") or (None, reason)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            return None, f"image too large to decode safely ({exc}); shrink it below {max_pixels:,} pixels"
    bomb = any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught)
    if im.format == "JPEG":
        im.draft("RGB" if im.mode not in ("L", "1") else "L", (size, size))  # decode at 1/2, 1/4 or 1/8 scale
    w, h = im.size
    if w * h > max_pixels or (bomb and w * h > (Image.MAX_IMAGE_PIXELS or 0)):
        im.close()
        return None, (f"image is {w} x {h} = {w * h:,} pixels, over the limit of {max_pixels:,}; "
                      "shrink it (the kit uses small images anyway) or pass a larger max_pixels")
    return im, ""


def _decode(path: Path, size: int, channels: int, max_pixels: int = MAX_IMAGE_PIXELS) -> torch.Tensor | str:
    """The converted image, or a reason string when it cannot be read. Cached in memory.

    ``path`` must already be resolved inside the folder: it is opened as a regular file
    only (never a FIFO, device or a symlink swapped in meanwhile).
    """
    global _cache_bytes
    try:
        st = path.stat()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    key = (str(path), st.st_mtime_ns, st.st_size, size, channels, max_pixels)
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit
    try:
        data = _read_regular_file(path, MAX_IMAGE_FILE_BYTES)
        im, why = _open_image(data, size, max_pixels)
        if im is None:
            result: torch.Tensor | str = why
        else:
            with warnings.catch_warnings():
                # Only harmless decoder remarks are hidden here (e.g. "palette images with
                # transparency ..."): the pixel limit was checked above, before decoding.
                warnings.simplefilter("ignore")
                with im:
                    im.load()
                    result = convert_image(im, size, channels)
    except PermissionError as exc:
        result = f"cannot be read (permission denied: {safe_text(exc.filename or path.name, 200)})"
    except _Refused as exc:
        result = str(exc)
    except OSError as exc:
        if getattr(exc, "errno", None) is not None and not isinstance(exc, Image.UnidentifiedImageError):
            result = f"cannot be read ({exc.strerror or exc})"
        else:
            result = _describe_decode_error(path, exc)
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


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _confine(root_real: Path, path: Path) -> tuple[Path | None, str]:
    """``path`` with every link followed, if it stays inside the folder: (real path, "") or (None, reason).

    Nothing outside the folder is opened or named: a link that leaves it is refused by name.
    """
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        return None, "file not found" if not path.is_symlink() else "broken link: its target does not exist"
    except RuntimeError:  # symlink loop (Python < 3.13)
        return None, "link loop: the link points (through other links) back to itself"
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return None, "link loop: the link points (through other links) back to itself"
        return None, f"cannot be read ({exc.strerror or exc})"
    except ValueError:  # e.g. an embedded NUL
        return None, "not a valid file name"
    if real != root_real and not real.is_relative_to(root_real):
        return None, "leads outside the image folder (through '..' or a link); not read. Copy the file into the folder"
    return real, ""


@dataclass
class _Scan:
    """What walking the folder found: regular files (relative paths) and entries it will not read."""

    files: list[Path] = field(default_factory=list)
    special: list[tuple[str, str, bool]] = field(default_factory=list)   # (path, reason, counts as skipped)


def _walk(root: Path, root_real: Path) -> _Scan:
    """All non-hidden regular files under ``root`` (sorted), plus every special entry with its reason.

    Symlinked folders are not followed; a symlinked file counts only when it stays inside the
    folder. A folder or entry that cannot be read is named, never the end of the scan.
    """
    scan = _Scan()
    stack = [Path()]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(root / rel_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            why = f"folder cannot be read ({exc.strerror or exc}); its files were not loaded"
            scan.special.append((rel_dir.as_posix(), why, True))
            continue
        for entry in entries:
            rel = rel_dir / entry.name
            if _is_hidden(rel):
                continue
            name = rel.as_posix()
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                scan.special.append((name, f"cannot be read ({exc.strerror or exc})", _is_image_name(rel)))
                continue
            if stat.S_ISLNK(mode):
                real, why = _confine(root_real, root / rel)
                if real is None:
                    scan.special.append((name, why, True))
                    continue
                try:
                    mode = real.stat().st_mode
                except OSError as exc:
                    scan.special.append((name, f"cannot be read ({exc.strerror or exc})", True))
                    continue
                if stat.S_ISDIR(mode):
                    scan.special.append((name, "link to a folder; not followed (move the files into the folder itself)", True))
                    continue
            if stat.S_ISDIR(mode):
                if _is_image_name(rel):
                    scan.special.append((name, "a folder with an image file name; its contents are scanned as a folder", False))
                stack.append(rel)
            elif stat.S_ISREG(mode):
                scan.files.append(rel)
            else:
                scan.special.append((name, f"{_kind(mode)}, not a regular file; not read", _is_image_name(rel)))
    scan.files.sort(key=lambda r: r.as_posix())
    scan.special.sort()
    return scan


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


def _find_captions(root: Path, root_real: Path) -> Path | None:
    """The folder's captions.csv (any letter case), checked to be a regular file inside the folder."""
    found = None
    try:
        with os.scandir(root) as it:
            names = sorted(e.name for e in it)
    except OSError as exc:
        raise FolderDataError(f"cannot read the image folder {safe_text(root, 300)} ({exc.strerror or exc})") from None
    if CAPTIONS_FILE in names:
        found = root / CAPTIONS_FILE
    else:
        found = next((root / n for n in names if n.lower() == CAPTIONS_FILE), None)
    if found is None:
        return None
    real, why = _confine(root_real, found)
    if real is None:
        raise FolderDataError(f"{safe_text(found, 300)}: {why}. It was not read.")
    if not real.is_file():
        raise FolderDataError(f"{safe_text(found, 300)} is {_kind(real.stat().st_mode)}, not a CSV file. "
                              f"Replace it with a text file or remove it.")
    return real


_CSV_EXAMPLE = (
    "file,description,label\n"
    'img/001.jpg,"a red leather boot, ankle height",boot\n'
    "img/002.jpg,a white ceramic mug,mug"
)


def _captions_text(csv_path: Path) -> str:
    """captions.csv as text (a regular file inside the folder, at most MAX_CAPTIONS_BYTES, UTF-8)."""
    shown = safe_text(csv_path, 300)
    try:
        return _read_regular_file(csv_path, MAX_CAPTIONS_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FolderDataError(
            f"{shown} is not UTF-8 text (byte {exc.start} cannot be decoded). "
            "Save it as UTF-8 (in a spreadsheet: 'CSV UTF-8') and try again."
        ) from None
    except _Refused as exc:
        raise FolderDataError(f"{shown}: {exc}") from None
    except OSError as exc:
        raise FolderDataError(f"cannot read {shown}: {exc.strerror or exc}") from None


def _row_problem(file: str, description: str, label: str, n_values: int, n_header: int, extra: bool) -> str:
    """Why a captions row cannot be used ("" when it can)."""
    if len(file) > 4096 or "\x00" in file:
        return f"file name is not usable ({len(file)} characters{', holds a NUL' if chr(0) in file else ''})"
    if extra:
        return (f"has {n_values} columns but the header has {n_header}; "
                "put a description that contains commas in double quotes")
    if len(description) > MAX_DESCRIPTION_CHARS:
        return f"description is {len(description)} characters, over the limit of {MAX_DESCRIPTION_CHARS}; shorten it"
    if len(label) > MAX_DESCRIPTION_CHARS:
        return f"label is {len(label)} characters, over the limit of {MAX_DESCRIPTION_CHARS}"
    return ""


def _read_captions(csv_path: Path) -> tuple[list[dict[str, str | None]], bool, list[tuple[str, str]]]:
    """Rows as dicts with keys file, description, label, row; whether a label column exists; bad rows."""
    shown = safe_text(csv_path, 300)
    text = _captions_text(csv_path)
    first_line = text.splitlines()[0] if text.strip() else ""
    delimiter, header = ",", []
    for delim in (",", ";", "\t"):
        fields = [h.strip().lower() for h in next(csv.reader([first_line[:10000]], delimiter=delim), [])]
        if "file" in fields and "description" in fields:
            delimiter, header = delim, fields
            break
    if not header:
        found = ", ".join(repr(h.strip()) for h in next(csv.reader([first_line[:10000]]), [])) or "nothing"
        raise FolderDataError(
            f"{shown} needs a header row with the columns 'file' and 'description' "
            f"(and optionally 'label'); found {safe_text(found, 120)}. Its first lines should look like:\n{_CSV_EXAMPLE}"
        )

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    col: dict[str, int] = {name: header.index(name) for name in ("file", "description", "label") if name in header}
    rows: list[dict[str, str | None]] = []
    bad: list[tuple[str, str]] = []
    old_limit = csv.field_size_limit()
    csv.field_size_limit(max(old_limit, len(text) + 1))  # a long field is judged per row below, not fatal here
    try:
        next(reader)
        all_values = [(reader.line_num, values) for values in reader]
    except csv.Error as exc:
        raise FolderDataError(
            f"{shown} cannot be read as CSV near line {reader.line_num} ({safe_text(exc, 200)}). "
            "Check that quotes are balanced and save it again as CSV UTF-8."
        ) from None
    finally:
        csv.field_size_limit(old_limit)
    for row_no, values in all_values:
        if not any(v.strip() for v in values):
            continue

        def get(name: str, values: list[str] = values) -> str:
            i = col.get(name)
            return values[i].strip() if i is not None and i < len(values) else ""

        file, description, label = get("file").replace("\\", "/"), get("description"), get("label")
        where = f"{csv_path.name} line {row_no}"
        if not file:
            bad.append((where, "row has no file name"))
            continue
        why = _row_problem(file, description, label, len(values), len(header),
                           any(v.strip() for v in values[len(header):]))
        if why:
            shown = where if why.startswith("file name") else Path(file).as_posix()
            bad.append((shown, f"{where} {why}" if why.startswith("has ") else f"{where}: {why}"))
            continue
        rows.append({"file": Path(file).as_posix(), "description": description, "label": label or None, "row": where})
    return rows, "label" in col, bad


def _check_args(size: int, channels: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_IMAGE_SIZE:
        raise ValueError(f"size must be a whole number from 1 to {MAX_IMAGE_SIZE} (pixels per side), got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")


def _resolve_root(path: str | Path) -> Path:
    root = Path(path).expanduser()
    shown = safe_text(path, 300)
    if not root.exists():
        raise FolderDataError(
            f"image folder not found: {shown} (looked in {safe_text(root.absolute(), 300)}). "
            f"Check the spelling; a relative path is taken from the current directory {safe_text(Path.cwd(), 300)}."
        )
    if not root.is_dir():
        raise FolderDataError(f"{shown} is a file, not a folder. Pass the folder that holds your images.")
    return root


def _check_row_path(root: Path, root_real: Path, rel: str) -> tuple[Path | None, str]:
    """Where a captions row's file really is, if it is a regular file inside the folder: (path, "") or (None, reason)."""
    if Path(rel).is_absolute() or rel.startswith("/"):
        return None, "use a path relative to the folder, not an absolute path"
    if os.path.normpath(rel).split(os.sep)[0] == "..":
        return None, "leads outside the image folder ('..'); not read. Use a path inside the folder"
    real, why = _confine(root_real, root / rel)
    if real is None:
        return None, why
    try:
        mode = real.stat().st_mode
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return None, "is a folder, not an image file"
    if not stat.S_ISREG(mode):
        return None, f"{_kind(mode)}, not a regular file; not read"
    return real, ""


_Entry = tuple[str, str, "str | None", Path]   # (relative path, description, label, real path)


def _captions_entries(root: Path, root_real: Path, captions: Path, scan: _Scan, report: FolderReport) -> list[_Entry]:
    """The items a captions.csv lists, each checked to be a regular file inside the folder."""
    files = scan.files
    report.layout = CAPTIONS_FILE
    rows, has_label, bad_rows = _read_captions(captions)
    report.skipped += bad_rows
    on_disk = {f.as_posix() for f in files}
    by_lower = {f.as_posix().lower(): f.as_posix() for f in files}
    listed: set[str] = {p for p, _ in bad_rows}   # a refused row's file is named once, not also "unlisted"
    entries: list[_Entry] = []
    for row in rows:
        rel, where = str(row["file"]), str(row["row"])
        listed.add(rel)
        real, why = _check_row_path(root, root_real, rel)
        if real is None:
            guess = by_lower.get(rel.lower()) if why == "file not found" and rel not in on_disk else None
            hint = f" (did you mean {guess}? names are case-sensitive)" if guess else ""
            report.skipped.append((rel, f"{where}: {why}{hint}"))
        elif not row["description"]:
            report.skipped.append((rel, f"{where}: empty description"))
        else:
            entries.append((rel, str(row["description"]), row["label"], real))
    captions_rel = captions.relative_to(root_real).as_posix()
    for f in files:
        name = f.as_posix()
        if name == captions_rel or name in listed:
            continue
        if _is_image_name(f):
            report.unlisted.append((name, f"image has no row in {captions.name}; not loaded"))
        else:
            report.ignored.append((name, f"not an image ({f.suffix or 'no extension'})"))
    for name, why, as_skip in scan.special:
        if name not in listed:
            (report.skipped if as_skip else report.ignored).append((name, why))
    if not has_label:
        report.notes.append(f"{captions.name} has no 'label' column: class_names is [] and every label is -1")
        if any(len(f.parts) > 1 and _is_image_name(f) for f in files):
            report.notes.append(f"{captions.name} takes precedence over sub-folders; add a 'label' column to use classes")
    if not rows and not bad_rows:
        raise FolderDataError(
            f"{safe_text(captions, 300)} has a header but no rows. Add one row per image, e.g.:\n{_CSV_EXAMPLE}")
    return entries


def _layout_entries(path: str | Path, root_real: Path, scan: _Scan, report: FolderReport) -> list[_Entry]:
    """The items of a folder without captions.csv: class sub-folders, or a flat folder."""
    images = [f for f in scan.files if _is_image_name(f)]
    for f in scan.files:
        if not _is_image_name(f):
            report.ignored.append((f.as_posix(), f"not an image ({f.suffix or 'no extension'})"))
    for name, why, as_skip in scan.special:
        (report.skipped if as_skip else report.ignored).append((name, why))
    if not images:
        if report.skipped:
            raise FolderDataError(f"no readable images in {safe_text(path, 300)}.\n" + report.error_message(), report)
        raise FolderDataError(
            f"no images found in {safe_text(path, 300)} (looked for {', '.join(sorted(e for e in IMAGE_EXTENSIONS))}). "
            f"Put images in class sub-folders ({path}/boot/1.png, {path}/mug/2.jpg) "
            f"or add a {CAPTIONS_FILE} listing file,description."
        )
    if any(len(f.parts) > 1 for f in images):
        report.layout = "sub-folders"
        entries: list[_Entry] = []
        for f in images:
            if len(f.parts) == 1:
                report.unlisted.append((f.as_posix(), "not inside a class sub-folder; not loaded"))
            else:
                entries.append((f.as_posix(), describe_class(f.parts[0]), f.parts[0], root_real / f))
        return entries
    report.layout = "flat"
    report.notes.append(
        f"no {CAPTIONS_FILE} and no class sub-folders: every image is described as "
        f"'{FLAT_DESCRIPTION}' with label -1; add {CAPTIONS_FILE} for real descriptions"
    )
    return [(f.as_posix(), FLAT_DESCRIPTION, None, root_real / f) for f in images]


def scan_folder(path: str | Path, size: int = 32, channels: int = 3,
                max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[list[FolderItem], FolderReport]:
    """Read every image in the folder and report on each problem (see module docstring).

    Only regular files inside the folder are read: rows or links that lead outside it,
    FIFOs, devices and broken links are named in the report with their reason. An image
    over ``max_pixels`` pixels is skipped and named before it is decoded.

    Raises :class:`FolderDataError` only when the folder itself is unusable: missing, not a
    folder, holding no images at all, with a captions.csv lacking the required columns, or
    with more images than fit the memory limit. An empty item list with a report full of
    skipped files is returned, not raised.
    """
    _check_args(size, channels)
    root = _resolve_root(path)
    root_real = root.resolve()
    report = FolderReport(root=str(path))
    scan = _walk(root, root_real)
    captions = _find_captions(root, root_real)
    if captions is not None:
        entries = _captions_entries(root, root_real, captions, scan, report)
    else:
        entries = _layout_entries(path, root_real, scan, report)

    distinct = len({rel for rel, *_ in entries})
    need = distinct * channels * size * size
    if need > MAX_LOADED_BYTES:
        raise FolderDataError(
            f"{distinct} images of {channels} x {size} x {size} would take {format_bytes(need)} in memory, over the "
            f"limit of {format_bytes(MAX_LOADED_BYTES)}; use a smaller size or a folder with fewer images.", report)

    items: list[FolderItem] = []
    decoded: dict[str, torch.Tensor | str] = {}
    for rel, description, label, real in entries:
        if rel not in decoded:
            decoded[rel] = _decode(real, size, channels, max_pixels)
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
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> tuple[ProductData, FolderReport]:
    """Like :func:`load_folder`, but returns the :class:`FolderReport` instead of warning."""
    if split not in SPLITS and split != "all":
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or 'all', got {split!r}")
    if on_error not in ("skip", "fail"):
        raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    items, report = scan_folder(path, size=size, channels=channels, max_pixels=max_pixels)
    if report.skipped and on_error == "fail":
        raise FolderDataError(report.error_message(), report)
    if not items:
        raise FolderDataError(
            f"none of the images in {safe_text(path, 300)} could be loaded.\n" + report.error_message(), report
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
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> ProductData:
    """Load one split of your own image folder as :class:`ProductData` (layout: module docstring).

    ``on_error="skip"`` leaves broken items out; ``on_error="fail"`` raises
    :class:`FolderDataError` naming every broken file. ``split`` is "train", "val", "test"
    or "all". The report summary is shown as a :class:`FolderDataWarning` when files were
    skipped, unlisted or ignored, when the folder had no layout (flat), or when the split
    asked for is empty. ``max_pixels``: images with more pixels are skipped and named
    before they are decoded (memory stays bounded).
    """
    data, report = load_folder_with_report(path, split=split, size=size, channels=channels, on_error=on_error, seed=seed,
                                           max_pixels=max_pixels)
    if not report.clean or report.layout == "flat" or len(data) == 0:
        warnings.warn(report.summary(), FolderDataWarning, stacklevel=2)
    return data
