"""Tests for the bring-your-own-catalogue folder loader."""
from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from pgan_lib.data.folder import (
    FolderDataError,
    FolderDataWarning,
    FolderReport,
    clear_cache,
    describe_class,
    load_folder,
    load_folder_with_report,
    scan_folder,
)

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def write_captions(folder: Path, rows: list[list[str]], header=("file", "description", "label"), bom=False) -> None:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    (folder / "captions.csv").write_bytes(buf.getvalue().encode("utf-8-sig" if bom else "utf-8"))


def solid(path: Path, color=RED, size=(32, 32), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


def pixel(data, i: int, y: int, x: int) -> tuple[int, ...]:
    return tuple(int(v) for v in data.images[i, :, y, x])


def by_description(data) -> dict[str, int]:
    return {d: i for i, d in enumerate(data.descriptions)}


# ---------------------------------------------------------------------------
# Awkward image modes
# ---------------------------------------------------------------------------


@pytest.fixture
def awkward(tmp_path: Path) -> Path:
    """A captions.csv folder with one image of each awkward kind (all 32x32 unless noted)."""
    root = tmp_path / "shop"
    root.mkdir()

    pal = Image.new("P", (32, 32), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))  # index 1 = red
    pal.save(root / "palette.png")

    ptrans = Image.new("P", (32, 32), 0)
    ptrans.putpalette([0, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))  # index 0 black (transparent), 1 blue
    ptrans.paste(1, (0, 16, 32, 32))  # bottom half blue
    ptrans.save(root / "palette_transparent.png", transparency=0)

    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 4, 4))  # fully transparent black corner
    rgba.save(root / "rgba.png")

    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(root / "cmyk.jpg", quality=95)  # red in CMYK

    la = Image.new("LA", (32, 32), (100, 255))
    la.paste((0, 0), (0, 0, 16, 32))  # left half transparent
    la.save(root / "grey_alpha.png")

    Image.new("I;16", (32, 32), 32896).save(root / "grey16.png")  # 32896 = 128 * 257
    g16 = Image.new("I;16", (32, 32), 0)
    g16.paste(65535, (16, 0, 32, 32))
    g16.save(root / "grey16_black_white.png")

    one = Image.new("1", (32, 32), 0)
    one.paste(1, (16, 0, 32, 32))  # right half white
    one.save(root / "bitmap.png")

    solid(root / "wide.png", GREEN, size=(64, 32))

    write_captions(
        root,
        [
            ["palette.png", "a red palette swatch", "swatch"],
            ["palette_transparent.png", "a blue half swatch", "swatch"],
            ["rgba.png", "a red card", "card"],
            ["cmyk.jpg", "a printed red card", "card"],
            ["grey_alpha.png", "a grey half card", "card"],
            ["grey16.png", "a mid grey tile", "tile"],
            ["grey16_black_white.png", "a black and white tile", "tile"],
            ["bitmap.png", "a bitmap tile", ""],
            ["wide.png", "a wide green banner", "banner"],
        ],
    )
    return root


def test_awkward_modes_rgb(awkward: Path) -> None:
    data, report = load_folder_with_report(awkward, split="all")
    assert report.skipped == [] and report.unlisted == []
    assert data.images.dtype == torch.uint8
    assert tuple(data.images.shape) == (9, 3, 32, 32)
    assert data.labels.dtype == torch.int64
    idx = by_description(data)

    assert pixel(data, idx["a red palette swatch"], 10, 10) == RED

    i = idx["a blue half swatch"]
    assert pixel(data, i, 2, 2) == (255, 255, 255)  # transparent palette index -> white
    assert pixel(data, i, 28, 2) == BLUE

    i = idx["a red card"]
    assert pixel(data, i, 0, 0) == (255, 255, 255)  # transparent corner -> white, not black
    assert pixel(data, i, 3, 3) == (255, 255, 255)
    assert pixel(data, i, 20, 20) == RED

    r, g, b = pixel(data, idx["a printed red card"], 16, 16)
    assert r > 230 and g < 30 and b < 30

    i = idx["a grey half card"]
    assert pixel(data, i, 16, 4) == (255, 255, 255)
    assert pixel(data, i, 16, 28) == (100, 100, 100)

    grey = data.images[idx["a mid grey tile"]]
    assert int(grey.min()) >= 127 and int(grey.max()) <= 129  # 16-bit mid-grey -> ~128, not clipped to 255

    i = idx["a black and white tile"]
    assert pixel(data, i, 16, 4) == (0, 0, 0)
    assert pixel(data, i, 16, 28) == (255, 255, 255)

    i = idx["a bitmap tile"]
    assert set(data.images[i].unique().tolist()) == {0, 255}
    assert pixel(data, i, 16, 4) == (0, 0, 0) and pixel(data, i, 16, 28) == (255, 255, 255)
    assert int(data.labels[i]) == -1  # empty label -> unknown

    i = idx["a wide green banner"]  # 64x32 -> 32x16 in the middle, white bars above and below
    assert all(pixel(data, i, y, 16) == (255, 255, 255) for y in (0, 7, 24, 31))
    assert all(pixel(data, i, y, x) == GREEN for y in (9, 16, 22) for x in (0, 16, 31))


def test_awkward_modes_grey_and_size(awkward: Path) -> None:
    data = load_folder(awkward, split="all", size=16, channels=1)
    assert tuple(data.images.shape) == (9, 1, 16, 16)
    idx = by_description(data)
    i = idx["a grey half card"]
    assert int(data.images[i, 0, 8, 1]) == 255 and int(data.images[i, 0, 8, 14]) == 100
    assert abs(int(data.images[idx["a mid grey tile"], 0, 8, 8]) - 128) <= 1
    assert int(data.images[idx["a red palette swatch"], 0, 8, 8]) == 76  # luma of pure red


# ---------------------------------------------------------------------------
# captions.csv
# ---------------------------------------------------------------------------


def test_captions_bom_quoted_comma_and_labels(tmp_path: Path) -> None:
    solid(tmp_path / "img" / "a.png", RED)
    solid(tmp_path / "img" / "b.png", GREEN)
    solid(tmp_path / "img" / "c.png", BLUE)
    write_captions(
        tmp_path,
        [
            ["img/a.png", "a red leather boot, ankle height", "boot"],
            ["img/b.png", "a green mug", "mug"],
            ["img/c.png", "a blue thing", ""],
        ],
        bom=True,
    )
    raw = (tmp_path / "captions.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b'"a red leather boot, ankle height"' in raw
    data, report = load_folder_with_report(tmp_path, split="all")
    assert report.skipped == [] and report.layout == "captions.csv"
    assert data.descriptions == ["a red leather boot, ankle height", "a green mug", "a blue thing"]
    assert data.class_names == ["boot", "mug"]
    assert data.labels.tolist() == [0, 1, -1]
    assert pixel(data, 1, 5, 5) == GREEN
    assert data.name == f"folder:{tmp_path}"


def test_captions_without_label_column(tmp_path: Path) -> None:
    solid(tmp_path / "a.png")
    solid(tmp_path / "shoes" / "b.png")
    write_captions(tmp_path, [["a.png", "a red card"], ["shoes/b.png", "a red shoe"]], header=("file", "description"))
    data, report = load_folder_with_report(tmp_path, split="all")
    assert data.class_names == []
    assert data.labels.tolist() == [-1, -1]
    assert any("label" in n for n in report.notes)


def test_semicolon_separated_captions(tmp_path: Path) -> None:
    solid(tmp_path / "a.png")
    (tmp_path / "captions.csv").write_text("File;Description\na.png;a red card, square\n", encoding="utf-8")
    data = load_folder(tmp_path, split="all")
    assert data.descriptions == ["a red card, square"]


def test_trailing_empty_column_and_broken_quotes(tmp_path: Path) -> None:
    solid(tmp_path / "a.png")
    (tmp_path / "captions.csv").write_text("file,description\na.png,a red card,\n", encoding="utf-8")
    assert load_folder(tmp_path, split="all").descriptions == ["a red card"]
    (tmp_path / "captions.csv").write_text('file,description\na.png,"a red card\nb.png,a blue card\n', encoding="utf-8")
    with pytest.raises(FolderDataError, match="cannot be read as CSV"):
        load_folder(tmp_path)


def test_captions_missing_columns(tmp_path: Path) -> None:
    solid(tmp_path / "a.png")
    (tmp_path / "captions.csv").write_text("image,text\na.png,a red card\n", encoding="utf-8")
    with pytest.raises(FolderDataError) as err:
        load_folder(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "captions.csv") in msg
    assert "'file'" in msg and "'description'" in msg and "'image'" in msg


def test_captions_not_utf8(tmp_path: Path) -> None:
    solid(tmp_path / "a.png")
    (tmp_path / "captions.csv").write_bytes("file,description\na.png,caf\xe9 mug\n".encode("latin-1"))
    with pytest.raises(FolderDataError, match="UTF-8"):
        load_folder(tmp_path)


# ---------------------------------------------------------------------------
# Bad input is reported by name
# ---------------------------------------------------------------------------


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    root = tmp_path / "messy"
    for i, c in enumerate((RED, GREEN, BLUE)):
        solid(root / f"good{i}.png", c)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), RED).save(buf, "PNG")
    (root / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (root / "fake.jpg").write_text("this is not a picture\n", encoding="utf-8")
    solid(root / "extra.png", GREEN)  # image with no caption row
    (root / "notes.txt").write_text("shop notes", encoding="utf-8")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "x.png").write_text("hidden, never looked at", encoding="utf-8")
    rows = [
        ["good0.png", "a red card", "card"],
        ["good1.png", "a green card", "card"],
        ["good2.png", "a blue card", "card"],
        ["truncated.png", "a cut-off card", "card"],
        ["fake.jpg", "a text file", "card"],
        ["gone.png", "a card that was deleted", "card"],
        ["good0.png", "", "card"],
    ]
    write_captions(root, rows)
    with open(root / "captions.csv", "a", encoding="utf-8") as fh:
        fh.write("good1.png,a green card, with a comma but no quotes,card\n")
    return root


def test_bad_items_reported_by_name(messy: Path) -> None:
    data, report = load_folder_with_report(messy, split="all", on_error="skip")
    assert isinstance(report, FolderReport)
    assert len(data) == 3
    assert sorted(data.descriptions) == ["a blue card", "a green card", "a red card"]
    reasons = dict(report.skipped)
    assert set(reasons) >= {"truncated.png", "fake.jpg", "gone.png", "good0.png", "good1.png"}
    assert "truncated" in reasons["truncated.png"]
    assert "not a readable image" in reasons["fake.jpg"]
    assert "not found" in reasons["gone.png"] and "line 7" in reasons["gone.png"]
    assert "empty description" in reasons["good0.png"]
    assert "double quotes" in reasons["good1.png"]
    assert report.unlisted == [("extra.png", "image has no row in captions.csv; not loaded")]
    assert [p for p, _ in report.ignored] == ["notes.txt"]
    assert not any(".ipynb_checkpoints" in p for p, _ in report.skipped + report.unlisted + report.ignored)
    text = report.summary()
    for name in ("truncated.png", "fake.jpg", "gone.png", "extra.png", "notes.txt"):
        assert name in text


def test_load_folder_warns_with_report(messy: Path) -> None:
    with pytest.warns(FolderDataWarning) as caught:
        data = load_folder(messy, split="all")
    assert len(data) == 3
    message = str(caught[0].message)
    assert "truncated.png" in message and "fake.jpg" in message and "gone.png" in message


def test_on_error_fail_names_every_bad_file(messy: Path) -> None:
    with pytest.raises(FolderDataError) as err:
        load_folder(messy, on_error="fail")
    msg = str(err.value)
    for name in ("truncated.png", "fake.jpg", "gone.png", "good0.png", "good1.png"):
        assert name in msg
    assert "on_error='skip'" in msg and "remove" in msg
    assert isinstance(err.value, ValueError)
    assert err.value.report is not None and len(err.value.report.skipped) == 5
    assert "extra.png" not in msg  # unlisted images are a warning, not an error


def test_every_item_bad_fails_even_with_skip(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "b.jpg").write_bytes(b"")
    with pytest.raises(FolderDataError) as err:
        load_folder(tmp_path, on_error="skip")
    assert "a.png" in str(err.value) and "b.jpg" in str(err.value)


def test_case_mismatch_hint(tmp_path: Path) -> None:
    solid(tmp_path / "Boot.PNG")
    solid(tmp_path / "mug.png")
    write_captions(tmp_path, [["boot.png", "a red boot", "boot"], ["mug.png", "a red mug", "mug"]])
    _, report = load_folder_with_report(tmp_path, split="all")
    assert "did you mean Boot.PNG" in dict(report.skipped)["boot.png"]


def test_fixed_file_is_read_again(tmp_path: Path) -> None:
    solid(tmp_path / "ok.png")
    (tmp_path / "later.png").write_text("not yet an image", encoding="utf-8")
    write_captions(tmp_path, [["ok.png", "a red card", "card"], ["later.png", "a green card", "card"]])
    _, report = load_folder_with_report(tmp_path, split="all")
    assert [p for p, _ in report.skipped] == ["later.png"]
    solid(tmp_path / "later.png", GREEN)
    data, report = load_folder_with_report(tmp_path, split="all")
    assert report.skipped == [] and len(data) == 2
    assert pixel(data, by_description(data)["a green card"], 3, 3) == GREEN


# ---------------------------------------------------------------------------
# Folder-level errors
# ---------------------------------------------------------------------------


def test_missing_folder_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_shop"
    with pytest.raises(FolderDataError) as err:
        load_folder(missing)
    assert str(missing) in str(err.value) and "not found" in str(err.value)


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(FolderDataError) as err:
        scan_folder(tmp_path)
    assert "no images found" in str(err.value) and str(tmp_path) in str(err.value)


def test_file_instead_of_folder(tmp_path: Path) -> None:
    f = solid(tmp_path / "a.png")
    with pytest.raises(FolderDataError, match="not a folder"):
        load_folder(f)


def test_bad_arguments(tmp_path: Path) -> None:
    solid(tmp_path / "a" / "x.png")
    with pytest.raises(ValueError, match="split"):
        load_folder(tmp_path, split="validation")
    with pytest.raises(ValueError, match="on_error"):
        load_folder(tmp_path, on_error="ignore")
    with pytest.raises(ValueError, match="channels"):
        load_folder(tmp_path, channels=4)


# ---------------------------------------------------------------------------
# Sub-folder layout
# ---------------------------------------------------------------------------


def test_subfolder_layout(tmp_path: Path) -> None:
    solid(tmp_path / "mug" / "1.png", RED)
    solid(tmp_path / "mug" / "2.jpg", RED)
    solid(tmp_path / "boot" / "a.png", GREEN)
    solid(tmp_path / "tote_bag" / "deep" / "t.png", BLUE)
    solid(tmp_path / "loose.png", RED)
    data, report = load_folder_with_report(tmp_path, split="all")
    assert report.layout == "sub-folders"
    assert data.class_names == ["boot", "mug", "tote_bag"]
    got = sorted(zip(data.labels.tolist(), data.descriptions))
    assert got == [
        (0, "a product photo of a boot"),
        (1, "a product photo of a mug"),
        (1, "a product photo of a mug"),
        (2, "a product photo of a tote bag"),
    ]
    boot = data.labels.tolist().index(0)
    assert pixel(data, boot, 10, 10) == GREEN
    assert [p for p, _ in report.unlisted] == ["loose.png"]


def test_captions_win_over_subfolders(tmp_path: Path) -> None:
    solid(tmp_path / "mug" / "1.png")
    solid(tmp_path / "boot" / "2.png")
    write_captions(tmp_path, [["mug/1.png", "a tall red mug", "cup"], ["boot/2.png", "a red boot", "shoe"]])
    data = load_folder(tmp_path, split="all")
    assert data.class_names == ["cup", "shoe"]
    assert data.descriptions == ["a tall red mug", "a red boot"]


def test_flat_folder_fallback(tmp_path: Path) -> None:
    solid(tmp_path / "a.png")
    solid(tmp_path / "b.png")
    data, report = load_folder_with_report(tmp_path, split="all")
    assert report.layout == "flat"
    assert data.descriptions == ["a product photo", "a product photo"]
    assert data.labels.tolist() == [-1, -1] and data.class_names == []


def test_describe_class() -> None:
    assert describe_class("boot") == "a product photo of a boot"
    assert describe_class("tote_bag") == "a product photo of a tote bag"
    assert describe_class("ankle-boot") == "a product photo of an ankle boot"
    assert describe_class("umbrella") == "a product photo of an umbrella"
    assert describe_class("jeans") == "a product photo of jeans"
    assert describe_class("dress") == "a product photo of a dress"


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------


def _numbered_folder(root: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        solid(root / f"{i:03d}.png", (i * 9 % 256, 0, 0), size=(8, 8))
        rows.append([f"{i:03d}.png", f"item {i}", "even" if i % 2 == 0 else "odd"])
    write_captions(root, rows)
    return root


def test_splits_disjoint_and_cover(tmp_path: Path) -> None:
    root = _numbered_folder(tmp_path, 30)
    parts = {s: load_folder(root, split=s, size=8) for s in ("train", "val", "test")}
    sets = {s: set(d.descriptions) for s, d in parts.items()}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [24, 3, 3]
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert sets["train"] | sets["val"] | sets["test"] == {f"item {i}" for i in range(30)}
    assert all(d.class_names == ["even", "odd"] for d in parts.values())
    assert len(load_folder(root, split="all", size=8)) == 30
    again = load_folder(root, split="val", size=8)
    assert again.descriptions == parts["val"].descriptions  # deterministic
    assert torch.equal(again.images, parts["val"].images)
    other = {s: set(load_folder(root, split=s, size=8, seed=1).descriptions) for s in ("val", "test")}
    assert other != {"val": sets["val"], "test": sets["test"]}


def test_duplicate_captions_share_a_split(tmp_path: Path) -> None:
    root = _numbered_folder(tmp_path, 20)
    with open(root / "captions.csv", "a", encoding="utf-8") as fh:
        for i in range(20):
            fh.write(f"{i:03d}.png,second caption {i},odd\n")
    for s in ("train", "val", "test"):
        d = load_folder(root, split=s, size=8)
        firsts = {x.split()[-1] for x in d.descriptions if x.startswith("item")}
        seconds = {x.split()[-1] for x in d.descriptions if x.startswith("second")}
        assert firsts == seconds and firsts


def test_small_folder_all_train(tmp_path: Path) -> None:
    root = _numbered_folder(tmp_path, 4)
    train, report = load_folder_with_report(root, split="train", size=8)
    assert len(train) == 4
    assert any("train" in n for n in report.notes)
    for s in ("val", "test"):
        with pytest.warns(FolderDataWarning, match="all are in 'train'"):
            d = load_folder(root, split=s, size=8)
        assert len(d) == 0 and tuple(d.images.shape) == (0, 3, 8, 8) and d.labels.shape == (0,)
        assert d.class_names == ["even", "odd"]


def test_clean_folder_does_not_warn(tmp_path: Path) -> None:
    root = _numbered_folder(tmp_path, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_folder(root, size=8)
    assert len(data) == 10


def test_notes_alone_do_not_warn(tmp_path: Path) -> None:
    for i in range(10):
        solid(tmp_path / f"{i}.png", size=(8, 8))
    write_captions(tmp_path, [[f"{i}.png", f"item {i}"] for i in range(10)], header=("file", "description"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_folder(tmp_path, size=8)
    assert len(data) == 8 and data.class_names == []


def test_folder_named_like_an_image(tmp_path: Path) -> None:
    solid(tmp_path / "a.png")
    (tmp_path / "b.png").mkdir()
    write_captions(tmp_path, [["a.png", "a red card", ""], ["b.png", "a folder", ""]])
    _, report = load_folder_with_report(tmp_path, split="all")
    assert report.skipped == [("b.png", "captions.csv line 3: is a folder, not an image file")]
