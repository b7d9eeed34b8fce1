"""`pgan data show` for the three sources, and a folder with bad files."""
from PIL import Image

from pgan_lib.cli import main as pgan


def _folder(tmp_path, broken: bool):
    root = tmp_path / "shop"
    root.mkdir()
    rows = ["file,description,label"]
    for i, colour in enumerate(["red", "blue", "green"] * 4):
        Image.new("RGB", (40, 30), colour).save(root / f"item{i}.png")
        rows.append(f'item{i}.png,"a {colour} box, small",box')
    if broken:
        (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
        rows.append("broken.png,a broken picture,box")
        rows.append("missing.jpg,a picture that is not there,box")
    (root / "captions.csv").write_text("\n".join(rows) + "\n")
    return root


def test_show_fashion_mnist_writes_a_grid(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert pgan(["data", "show", "fashion-mnist", "--n", "8", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "train 55000, val 5000, test 10000" in text and "ankle boot" in text
    assert Image.open(out).size[0] > 400


def test_show_catalog_heldout(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path / "cache"))
    assert pgan(["data", "show", "catalog", "--split", "heldout", "--n", "8"]) == 0
    text = capsys.readouterr().out
    assert "heldout" in text and "category" in text and "colour" in text


def test_show_folder_reports_bad_files_by_name(tmp_path, capsys):
    root = _folder(tmp_path, broken=True)
    assert pgan(["data", "show", f"folder:{root}", "--n", "4", "--out", str(tmp_path / "g.png")]) == 0
    text = capsys.readouterr().out
    assert "broken.png" in text and "missing.jpg" in text and "12 item(s) loaded" in text
    assert pgan(["data", "show", f"folder:{root}", "--on-error", "fail"]) == 2
    err = capsys.readouterr().err
    assert "broken.png" in err and "missing.jpg" in err and "Traceback" not in err


def test_show_clean_folder_and_missing_folder(tmp_path, capsys):
    root = _folder(tmp_path, broken=False)
    assert pgan(["data", "show", f"folder:{root}", "--n", "4"]) == 0
    assert "a red box, small" in capsys.readouterr().out
    assert pgan(["data", "show", f"folder:{tmp_path / 'nope'}"]) == 2
    assert "nope" in capsys.readouterr().err


def test_show_rejects_unknown_source(capsys):
    assert pgan(["data", "show", "imagenet"]) == 2
    assert "Unknown data source" in capsys.readouterr().err
