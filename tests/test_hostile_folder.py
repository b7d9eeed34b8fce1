"""The folder loader against hostile folders: traversal rows, links out, special files, bombs, odd names.

Every case is built on the fly in a temporary folder. "Nothing outside the folder is read"
is checked with an audit hook that records every file Python opens while the loader runs.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from pgan_lib.data import folder as folder_mod
from pgan_lib.data.folder import FolderDataError, clear_cache, load_folder_with_report, scan_folder
from pgan_lib.safety import MAX_DESCRIPTION_CHARS, MAX_IMAGE_SIZE

ROOT = Path(__file__).resolve().parent.parent

_opened: list[str] = []
_recording = [False]


def _audit(event: str, args: tuple) -> None:
    if _recording[0] and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


class _Opens:
    """Records the paths opened inside the ``with`` block."""

    def __enter__(self) -> list[str]:
        _opened.clear()
        _recording[0] = True
        return _opened

    def __exit__(self, *exc) -> None:
        _recording[0] = False


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def solid(path: Path, color=(255, 0, 0), size=(16, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def captions(folder: Path, rows: list[tuple[str, str]]) -> None:
    lines = ["file,description"] + [f'"{f}","{d}"' for f, d in rows]
    (folder / "captions.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def layout(tmp_path):
    """A shop folder next to a 'secret' folder that must never be read."""
    shop, secret = tmp_path / "shop", tmp_path / "secret"
    solid(shop / "img" / "ok.png")
    solid(secret / "secret.png", color=(1, 2, 3))
    solid(secret / "x.png", color=(1, 2, 3))
    (secret / "passwd").write_text("root:SECRET-LINE:0:0\n")
    return shop, secret


def reasons(report) -> dict[str, str]:
    return {p: r for p, r in report.skipped + report.ignored + report.unlisted}


def _outside(opened: list[str], secret: Path) -> list[str]:
    s = str(secret.resolve())
    return [p for p in opened if os.path.realpath(p).startswith(s)]


def test_traversal_rows_and_links_out_are_refused_by_name_and_never_opened(layout):
    shop, secret = layout
    (shop / "linkdir").symlink_to(secret, target_is_directory=True)
    (shop / "img" / "link.png").symlink_to(secret / "secret.png")
    rows = [("img/ok.png", "a red mug"), ("../secret/secret.png", "stolen"), ("img/../../secret/x.png", "stolen"),
            ("..\\secret\\x.png", "stolen"), ("linkdir/x.png", "stolen"), ("img/link.png", "stolen"),
            (str(secret / "x.png"), "stolen")]
    captions(shop, rows)
    with _Opens() as opened:
        items, report = scan_folder(shop)
    assert [it.path for it in items] == ["img/ok.png"]
    got = reasons(report)
    for rel in ("../secret/secret.png", "img/../../secret/x.png", "../secret/x.png", "linkdir/x.png", "img/link.png"):
        assert "outside the image folder" in got[rel], (rel, got.get(rel))
    assert "absolute path" in got[str(secret / "x.png")]
    assert "outside the image folder" in got["linkdir"]        # the walk names the link itself too
    assert _outside(opened, secret) == []
    assert any(p.endswith("ok.png") for p in opened)   # the hook does see the loader's reads


def test_walked_links_out_are_named_and_not_read(layout):
    shop, secret = layout
    (shop / "img" / "out.png").symlink_to(secret / "secret.png")
    (shop / "inside.png").symlink_to(shop / "img" / "ok.png")     # a link that stays inside is fine
    with _Opens() as opened:
        items, report = scan_folder(shop)
    assert "outside the image folder" in reasons(report)["img/out.png"]
    assert sorted(it.path for it in items) == ["img/ok.png"]      # inside.png is top level: unlisted, not skipped
    assert "inside.png" in dict(report.unlisted)
    assert _outside(opened, secret) == []


def test_captions_link_to_a_foreign_file_is_refused_without_echoing_it(layout):
    shop, secret = layout
    (shop / "captions.csv").symlink_to(secret / "passwd")
    with _Opens() as opened, pytest.raises(FolderDataError) as err:
        scan_folder(shop)
    assert "outside the image folder" in str(err.value)
    assert "SECRET" not in str(err.value)
    assert _outside(opened, secret) == []


def test_special_entries_are_named_with_their_reason(tmp_path):
    shop = tmp_path / "shop"
    solid(shop / "boot" / "1.png")
    (shop / "boot" / "zero.png").symlink_to("/dev/zero")
    (shop / "boot" / "random.png").symlink_to("/dev/urandom")
    (shop / "boot" / "dangling.png").symlink_to(shop / "nowhere.png")
    (shop / "boot" / "loop1.png").symlink_to(shop / "boot" / "loop2.png")
    (shop / "boot" / "loop2.png").symlink_to(shop / "boot" / "loop1.png")
    os.mkfifo(shop / "boot" / "pipe.png")
    (shop / "boot" / "dir.png").mkdir()
    items, report = scan_folder(shop)
    got = reasons(report)
    assert len(items) == 1
    assert "outside the image folder" in got["boot/zero.png"] and "outside" in got["boot/random.png"]
    assert "broken link" in got["boot/dangling.png"]
    assert "loop" in got["boot/loop1.png"] and "loop" in got["boot/loop2.png"]
    assert "FIFO" in got["boot/pipe.png"]
    assert "folder with an image file name" in got["boot/dir.png"]
    # a device inside the folder itself (a link to /dev would leave it): name it, never open it
    assert all(p in report.summary() for p in ("boot/pipe.png", "boot/zero.png", "boot/dir.png"))


def test_fifo_listed_in_captions_does_not_block(tmp_path):
    shop = tmp_path / "shop"
    solid(shop / "ok.png")
    os.mkfifo(shop / "pipe.png")
    captions(shop, [("ok.png", "a mug"), ("pipe.png", "a pipe")])
    items, report = scan_folder(shop)        # would hang for ever if the FIFO were opened for reading
    assert len(items) == 1 and "FIFO" in reasons(report)["pipe.png"]


def test_an_unreadable_folder_or_entry_is_named_and_the_scan_goes_on(tmp_path, monkeypatch):
    shop = tmp_path / "shop"
    solid(shop / "boot" / "1.png")
    solid(shop / "locked" / "2.png")
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(folder_mod.os, "scandir", scandir)
    items, report = scan_folder(shop)
    assert [it.path for it in items] == ["boot/1.png"]
    assert "folder cannot be read (Permission denied)" in reasons(report)["locked"]


def test_unreadable_image_is_named(tmp_path, monkeypatch):
    shop = tmp_path / "shop"
    solid(shop / "boot" / "1.png")
    solid(shop / "boot" / "2.png")
    real_open = os.open

    def deny(path, flags, *a, **k):
        if str(path).endswith("2.png"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(folder_mod.os, "open", deny)
    items, report = scan_folder(shop)
    assert len(items) == 1 and "permission denied" in reasons(report)["boot/2.png"]


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A tiny PNG that claims w x h pixels (its data is cut short): a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                     + chunk(b"IEND", b""))


def _png_bomb(path: Path, w: int, h: int) -> None:
    """A real, complete w x h black PNG, written row by row (small file, huge image)."""
    comp = zlib.compressobj(9)
    row = b"\0" + b"\0" * (3 * w)
    body = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_images_over_the_pixel_limit_are_skipped_and_named_before_decoding(tmp_path):
    shop = tmp_path / "shop"
    solid(shop / "boot" / "ok.png")
    _png_header_only(shop / "boot" / "bomb.png", 12000, 12000)     # over Pillow's own bomb error limit
    _png_header_only(shop / "boot" / "big.png", 9000, 8000)        # under Pillow's warning, over the kit's limit
    items, report = scan_folder(shop)
    got = reasons(report)
    assert len(items) == 1
    assert "too large" in got["boot/bomb.png"] or "pixels" in got["boot/bomb.png"]
    assert "9000 x 8000 = 72,000,000 pixels" in got["boot/big.png"]
    _, report = scan_folder(shop, max_pixels=100)
    assert "16 x 16 = 256 pixels, over the limit of 100" in reasons(report)["boot/ok.png"]


def test_a_large_jpeg_is_decoded_at_reduced_scale(tmp_path):
    shop = tmp_path / "shop"
    solid(shop / "boot" / "ok.png")
    Image.new("L", (9000, 8000), 200).save(shop / "boot" / "photo.jpg", quality=50)
    items, report = scan_folder(shop, size=32)
    assert len(items) == 2, report.summary()


def test_a_png_bomb_keeps_memory_bounded(tmp_path):
    """A 12000 x 12000 PNG (a few hundred KB) is refused without decoding: peak memory grows < 150 MB."""
    shop = tmp_path / "shop"
    solid(shop / "boot" / "ok.png")
    _png_bomb(shop / "boot" / "bomb.png", 12000, 12000)
    assert (shop / "boot" / "bomb.png").stat().st_size < 2_000_000
    script = (
        "import resource, json, sys\n"
        "import torch\n"
        "from pgan_lib.data.folder import scan_folder\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"items, report = scan_folder({str(shop)!r})\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'grew_kb': after - before, 'loaded': len(items), 'skipped': report.skipped}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["loaded"] == 1 and res["skipped"][0][0] == "boot/bomb.png"
    assert res["grew_kb"] < 150_000, res


def test_control_characters_in_names_cannot_forge_report_lines(tmp_path):
    shop = tmp_path / "shop"
    solid(shop / "boot" / "ok.png")
    evil = "x.png\n  - fake.png: loaded OK\x1b[2J"
    (shop / "boot" / evil).write_bytes(b"not an image")
    (shop / "boot" / "notes\rtxt").write_text("hi")
    _, report = scan_folder(shop)
    text = report.summary()
    assert "\x1b" not in text and "\r" not in text
    lines = text.splitlines()
    assert not any(line.startswith("  - fake.png") for line in lines)
    assert any("x.png\\n  - fake.png: loaded OK\\x1b[2J" in line for line in lines)


def test_a_too_long_description_skips_its_row_not_the_folder(tmp_path):
    shop = tmp_path / "shop"
    solid(shop / "a.png")
    solid(shop / "b.png")
    captions(shop, [("a.png", "a red mug"), ("b.png", "x" * 200_000)])    # longer than csv's own field limit
    items, report = scan_folder(shop)
    assert [it.path for it in items] == ["a.png"]
    assert f"over the limit of {MAX_DESCRIPTION_CHARS}" in reasons(report)["b.png"]
    assert "captions.csv line 3" in reasons(report)["b.png"]


@pytest.mark.parametrize("size", [0, -1, MAX_IMAGE_SIZE + 1, 20000, 2**64, 3.5, True])
def test_size_is_bounded(tmp_path, size):
    solid(tmp_path / "a.png")
    with pytest.raises(ValueError, match=f"size must be a whole number from 1 to {MAX_IMAGE_SIZE}"):
        scan_folder(tmp_path, size=size)


def test_total_decoded_memory_is_bounded(tmp_path, monkeypatch):
    for i in range(3):
        solid(tmp_path / f"{i}.png")
    monkeypatch.setattr(folder_mod, "MAX_LOADED_BYTES", 1000)
    with pytest.raises(FolderDataError, match=r"3 images of 3 x 32 x 32 would take 9\.0 KiB .* over the limit"):
        load_folder_with_report(tmp_path)
