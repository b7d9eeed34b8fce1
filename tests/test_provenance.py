"""Provenance metadata: written into PNGs (text chunks + XMP) and .npz files, read back, lost on re-save;
C2PA content credentials: signed offline, validated, broken by a changed pixel."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pgan_lib import content_credentials as cc
from pgan_lib.provenance import (
    DIGITAL_SOURCE_TYPE,
    Provenance,
    format_provenance,
    parse_xmp,
    provenance_arrays,
    read_provenance,
    save_png_with_provenance,
    xmp_packet,
)

SHA = "0123456789abcdef" * 4


def _prov(**kw) -> Provenance:
    return Provenance(**{"model": "catalog-t2i", "checkpoint_sha256": SHA, "seed": 7, "prompt": "a red striped mug",
                         **kw})


def test_png_round_trip_text_and_xmp(tmp_path):
    picture = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    path = save_png_with_provenance(picture, tmp_path / "mug.png", _prov(prompt="un bol « rouge » <&>"))
    info = read_provenance(path)
    assert info is not None and info["sources"] == ["png-text", "xmp"] and info["agree"]
    f = info["fields"]
    assert f["model"] == "catalog-t2i" and f["checkpoint_sha256"] == SHA and f["seed"] == "7"
    assert f["prompt"] == "un bol « rouge » <&>"          # escaping survives both copies
    assert f["digital_source_type"] == DIGITAL_SOURCE_TYPE
    assert f["created"].endswith("Z") and f["kit_version"]
    with Image.open(path) as img:                         # the pixels are what was given
        assert np.array_equal(np.asarray(img), picture)
        assert "trainedAlgorithmicMedia" in img.info["XML:com.adobe.xmp"]
    assert parse_xmp(xmp_packet(_prov()))["prompt"] == "a red striped mug"
    assert "catalog-t2i" in format_provenance(info, path)


def test_float_chw_grey_and_label(tmp_path):
    img = np.random.default_rng(1).random((1, 28, 28))
    p = save_png_with_provenance(img, tmp_path / "x.png", _prov(prompt=None, label=9, class_name="ankle boot"))
    f = read_provenance(p)["fields"]
    assert f["label"] == "9" and f["class_name"] == "ankle boot" and "prompt" not in f
    assert Provenance.from_text(f).label == 9
    with Image.open(p) as im:
        assert im.mode == "L" and im.size == (28, 28)


def test_resave_and_screenshot_lose_it(tmp_path):
    p = save_png_with_provenance(np.zeros((28, 28), np.uint8), tmp_path / "a.png", _prov())
    with Image.open(p) as im:
        im.save(tmp_path / "resaved.png")                 # a plain re-save keeps no text chunks
        im.convert("RGB").save(tmp_path / "shot.jpg")
    assert read_provenance(tmp_path / "resaved.png") is None
    assert read_provenance(tmp_path / "shot.jpg") is None
    assert "carries no provenance" in format_provenance(None, "resaved.png")


def test_text_and_xmp_disagreeing_is_reported(tmp_path):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("pgan:model", "edited-by-hand")
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(_prov()))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "e.png", pnginfo=info)
    got = read_provenance(tmp_path / "e.png")
    assert got["agree"] is False and "disagree" in format_provenance(got, "e.png")


def test_npz_arrays_load_without_pickle(tmp_path):
    path = tmp_path / "s.npz"
    np.savez_compressed(path, images=np.zeros((2, 28, 28, 1), np.uint8), **provenance_arrays(_prov()))
    with np.load(path, allow_pickle=False) as z:          # an object (pickled) array would raise here
        arrays = {k: z[k] for k in z.files}
    assert all(a.dtype.kind == "U" for k, a in arrays.items() if k.startswith("provenance_"))
    assert read_provenance(path)["fields"]["model"] == "catalog-t2i"
    np.savez(tmp_path / "plain.npz", images=np.zeros((1, 8, 8, 1), np.uint8))
    assert read_provenance(tmp_path / "plain.npz") is None


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="64 lowercase hex"):
        Provenance(model="m", checkpoint_sha256="xyz")
    with pytest.raises(ValueError, match="model"):
        Provenance(model="")
    with pytest.raises(ValueError, match=".png"):
        save_png_with_provenance(np.zeros((8, 8)), "out.jpg", _prov())
    with pytest.raises(FileNotFoundError):
        read_provenance("/nonexistent/file.png")


@pytest.mark.skipif(not cc.available(), reason="c2pa-python is not installed")
def test_c2pa_sign_validate_and_tamper(tmp_path, monkeypatch):
    monkeypatch.setenv("PGAN_C2PA_KEY_DIR", str(tmp_path / "keys"))
    picture = (np.random.default_rng(2).random((32, 32, 3)) * 255).astype(np.uint8)
    src = save_png_with_provenance(picture, tmp_path / "a.png", _prov())
    assert cc.read_credentials(src) is None
    signed = cc.sign_png(src, _prov(), tmp_path / "signed.png")
    cred = cc.read_credentials(signed)
    assert cred["integrity"] and not cred["trusted"]              # intact, but the test key proves no identity
    assert cred["actions"][0]["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert "not who signed it" in cc.format_credentials(cred)
    assert read_provenance(signed)["fields"]["seed"] == "7"       # the text chunks survive signing
    data = bytearray(signed.read_bytes())
    i = data.find(b"IDAT")
    data[i + 12] ^= 0xFF                                           # one changed byte of the pixel data
    (tmp_path / "tampered.png").write_bytes(bytes(data))
    bad = cc.read_credentials(tmp_path / "tampered.png")
    assert bad is not None and not bad["integrity"]


# -- every image command writes it -----------------------------------------------------------------

def test_generate_sample_and_explorer_write_provenance(tmp_path, capsys):
    from pgan_lib import explore, pretrained
    from pgan_lib.cli import main

    out = tmp_path / "mug.png"
    assert main(["generate", "a purple dotted mug", "--model", "catalog-t2i", "--n", "2", "--seed", "5",
                 "--out", str(out)]) == 0
    f = read_provenance(out)["fields"]
    assert (f["model"], f["seed"], f["prompt"]) == ("catalog-t2i", "5", "a purple dotted mug")
    assert f["checkpoint_sha256"] == pretrained.SHIPPED["catalog-t2i"].sha256
    assert main(["sample", "--model", "fashion-cgan", "--n", "3", "--labels", "4", "--seed", "2",
                 "--out", str(tmp_path / "s.npz")]) == 0
    f = read_provenance(tmp_path / "s.npz")["fields"]
    assert (f["model"], f["seed"], f["label"]) == ("fashion-cgan", "2", "4")
    png = explore.save_design(explore.Design(model="fashion-cgan", seed=3, label=9), tmp_path / "d.png")
    f = read_provenance(png)["fields"]
    assert (f["model"], f["seed"], f["label"], f["class_name"]) == ("fashion-cgan", "3", "9", "ankle boot")
    assert explore.read_design(png).seed == 3                   # the explorer still reads its design back
    capsys.readouterr()
    assert main(["inspect", str(out), "--json", str(tmp_path / "i.json")]) == 0
    text = capsys.readouterr().out
    assert "catalog-t2i" in text and "trainedAlgorithmicMedia" in text
    import json

    assert json.loads((tmp_path / "i.json").read_text())["provenance"]["fields"]["seed"] == "5"


def test_inspect_plain_and_missing_files(tmp_path, capsys):
    from pgan_lib.cli import main

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "plain.png")
    assert main(["inspect", str(tmp_path / "plain.png")]) == 0
    out = capsys.readouterr().out
    assert "carries no provenance" in out and "no kit watermark found" in out
    assert main(["inspect", str(tmp_path / "nope.png")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_inspect_reads_the_watermark(tmp_path, capsys):
    from pgan_lib import watermark as wm
    from pgan_lib.cli import main
    from pgan_lib.data import load_dataset

    x = load_dataset("catalog", "test", limit=1).float_images()
    bits = wm.payload_bits(wm.model_id_of("catalog-t2i"), 77)
    marked = wm.embed(x, bits)[0]
    save_png_with_provenance(marked, tmp_path / "m.png", _prov())
    assert main(["inspect", str(tmp_path / "m.png")]) == 0
    out = capsys.readouterr().out
    assert "a kit watermark is present" in out and f"model id {wm.model_id_of('catalog-t2i')}, seed bits 77" in out


@pytest.mark.skipif(not cc.available(), reason="c2pa-python is not installed")
def test_generate_sign_then_inspect(tmp_path, monkeypatch, capsys):
    from pgan_lib.cli import main

    monkeypatch.setenv("PGAN_C2PA_KEY_DIR", str(tmp_path / "keys"))
    out = tmp_path / "boot.png"
    assert main(["generate", "a dark slim ankle boot", "--model", "fashion-t2i", "--n", "1", "--out", str(out),
                 "--sign"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "content credentials (C2PA): Valid" in text and "trusted: no" in text
