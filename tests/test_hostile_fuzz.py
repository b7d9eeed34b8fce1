"""Property-based fuzzing: the captions parser, the sidecar validator, the tokeniser, names and prompts files.

Each property says what any input, however odd, may lead to: a result that keeps its
promises, or the one documented error. Anything else (a TypeError, a RecursionError, a
hang) is a failure that hypothesis shrinks to a small example.
"""
from __future__ import annotations

import importlib
import json
import os
import tempfile
import unicodedata
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pgan_lib.checkpoint import FORMAT, CheckpointError, parse_sidecar, validate_meta
from pgan_lib.data.folder import FolderDataError, clear_cache, scan_folder
from pgan_lib.models.base import config_from_dict
from pgan_lib.models.vae import VAEConfig
from pgan_lib.safety import Prompts, PromptsFileError, read_prompts, safe_text

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_BAD = ("Cc", "Zl", "Zp")


def _printable_line(text: str) -> bool:
    return all(unicodedata.category(ch) not in _BAD for ch in text)


# ---------------------------------------------------------------- safe_text


@FUZZ
@given(st.text(), st.integers(min_value=4, max_value=300))
def test_safe_text_is_one_bounded_printable_line(text, max_len):
    out = safe_text(text, max_len)
    assert len(out) <= max_len
    assert _printable_line(out)
    if len(text) <= max_len and all(ch.isalnum() or ch in " ./-_" for ch in text):
        assert out == text                        # ordinary names are shown as they are
    if len(out) < len(text) and not out.endswith("..."):
        pytest.fail("a shortened name must end with '...'")


# ---------------------------------------------------------------- captions parser

_cells = st.one_of(
    st.sampled_from(["a.png", "b.png", "sub/c.png", "../x.png", "/etc/passwd", "a.png\x00", "A.PNG", "", " ",
                     "missing.png", "sub", "..\\x.png", "sub/../a.png"]),
    st.text(max_size=30),
)
_rows = st.lists(st.lists(_cells, min_size=0, max_size=5), max_size=8)
_headers = st.sampled_from(["file,description,label", "file;description", "file\tdescription\tlabel",
                            "description,file", "FILE , Description", "nothing,here", "", "file,description,file"])
_quoting = st.sampled_from([",", ";", "\t"])


@pytest.fixture(scope="module")
def shop():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shop"
        (root / "sub").mkdir(parents=True)
        for name in ("a.png", "b.png", "sub/c.png"):
            Image.new("RGB", (8, 8), (200, 10, 10)).save(root / name)
        (Path(tmp) / "x.png").write_bytes(b"outside")
        yield root


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(header=_headers, rows=_rows, sep=_quoting, junk=st.binary(max_size=40), bom=st.booleans())
def test_captions_parser_gives_a_report_or_one_folder_error(shop, header, rows, sep, junk, bom):
    text = header + "\n" + "\n".join(sep.join(f'"{c}"' if "," in c else c for c in r) for r in rows)
    data = ("\ufeff" if bom else "").encode() + text.encode("utf-8", "surrogatepass") + junk
    (shop / "captions.csv").write_bytes(data)
    clear_cache()
    try:
        items, report = scan_folder(shop, size=8)
    except FolderDataError as err:
        assert "Traceback" not in str(err)
        return
    for item in items:          # only files inside the folder are ever loaded
        assert (shop / item.path).resolve().is_relative_to(shop.resolve())
        assert item.path != "../x.png"
    for line in report.summary().splitlines():
        assert _printable_line(line)
    assert report.loaded == len(items)


# ---------------------------------------------------------------- sidecar validator

_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
_KEYS = ["arch", "config", "step", "history", "best_metric", "weights_sha256", "optimizers", "schedulers", "rng",
         "versions", "recipe", "data_fingerprint", "train_config", "seconds", "bad_validations", "format"]


@FUZZ
@given(st.dictionaries(st.sampled_from(_KEYS), _json, max_size=8), st.booleans())
def test_sidecar_validator_accepts_or_raises_one_checkpoint_error(fields, with_format):
    meta = {"format": FORMAT, "weights_sha256": "0" * 64, **fields} if with_format else fields
    data = json.dumps(meta).encode()
    try:
        out = parse_sidecar(data, "fuzz.json")
    except CheckpointError:
        return
    # what passes has the types the kit relies on
    assert out["format"] == FORMAT and isinstance(out["weights_sha256"], str) and len(out["weights_sha256"]) == 64
    # an export may copy a null step or history from its training checkpoint; anything else has its type
    assert isinstance(out.get("config", {}), dict) and isinstance(out.get("history") or [], list)
    step = out.get("step") or 0
    assert isinstance(step, int) and step >= 0


@FUZZ
@given(st.binary(max_size=200))
def test_sidecar_bytes_never_raise_anything_else(data):
    try:
        parse_sidecar(data, "fuzz.json")
    except CheckpointError:
        pass


@FUZZ
@given(st.dictionaries(st.sampled_from(["channels", "size", "latent_dim", "hidden", "beta", "likelihood", "cond",
                                        "num_classes", "cond_dim", "vocab", "text_encoder", "other"]),
                       _json, max_size=5))
def test_config_values_of_any_type_give_a_config_or_a_checkpoint_error(values):
    try:
        config = config_from_dict(VAEConfig, values)
    except CheckpointError:
        return
    assert isinstance(config.latent_dim, int) and isinstance(config.beta, (int, float))


def test_validate_meta_names_every_problem_at_once():
    with pytest.raises(CheckpointError, match=r"'step' must .*'history' must"):
        validate_meta({"format": FORMAT, "weights_sha256": "0" * 64, "step": "x", "history": 3})


# ---------------------------------------------------------------- tokeniser


def _tokenizer_class():
    for mod, name in (("pgan_lib.text", "TextTokenizer"), ("pgan_lib.text.tokenizer", "TextTokenizer"),
                      ("pgan_lib.conditioning", "Tokenizer")):
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    pytest.fail("no tokeniser class found: update _tokenizer_class to where it lives now")


@FUZZ
@given(st.lists(st.text(max_size=200), max_size=5), st.lists(st.text(max_size=12), max_size=10), st.booleans())
def test_tokeniser_maps_any_text_to_valid_ids_or_a_documented_error(texts, vocab, check):
    """Any text gives ids inside the vocabulary, or (when checking) the documented ValueError naming it."""
    Tokenizer = _tokenizer_class()
    try:
        tok = Tokenizer(["<pad>", "<unk>", "red", "mug", "slim-fit", *vocab], max_len=8)
    except ValueError:      # a vocabulary it refuses (a word twice, an empty word): refused by name, fine
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # unknown words and long texts are warned about, by design
        try:
            ids = tok.encode(list(texts), check=check)
        except ValueError:
            assert check, "without checking, encode must never refuse a text"
            return
    assert ids.shape == (len(texts), 8) and ids.dtype == torch.long
    if ids.numel():
        assert int(ids.min()) >= 0 and int(ids.max()) < len(tok.vocab)


# ---------------------------------------------------------------- prompts files


@FUZZ
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=80))
def test_prompts_reader_keeps_good_lines_and_numbers_the_bad_ones(data, max_chars):
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
        f.write(data)
    try:
        got = read_prompts(f.name, max_chars=max_chars)
    except PromptsFileError:
        return
    finally:
        os.unlink(f.name)
    n_lines = len(data.split(b"\n")) - (1 if data.endswith(b"\n") else 0)
    numbers = [n for n, _ in got.prompts] + [n for n, _ in got.problems]
    assert len(numbers) == len(set(numbers)) and all(1 <= n <= max(n_lines, 1) for n in numbers)
    for _, text in got.prompts:
        assert text and len(text) <= max_chars and _printable_line(text.replace("\t", " "))
    for _, why in got.problems:
        assert _printable_line(why)


def test_prompts_file_limits(tmp_path):
    good = tmp_path / "p.txt"
    good.write_bytes("a red mug\n\n# a comment\n" .encode() + b"\xff\xfe bad\n" + b"x" * 2000 + b"\nbell\x07\na blue mug\n")
    got = read_prompts(good)
    assert got.texts == ["a red mug", "a blue mug"]
    assert [n for n, _ in got.problems] == [4, 5, 6]
    assert "not UTF-8" in got.problems[0][1] and "2000 characters (limit 1000)" in got.problems[1][1]
    assert "control characters" in got.problems[2][1]
    with pytest.raises(PromptsFileError, match="larger than"):
        read_prompts("/dev/zero")
    with pytest.raises(PromptsFileError, match="is a folder"):
        read_prompts(tmp_path)
    with pytest.raises(PromptsFileError, match="not found"):
        read_prompts(tmp_path / "nope.txt")
    many = tmp_path / "many.txt"
    many.write_text("a mug\n" * 11)
    with pytest.raises(PromptsFileError, match="more than 10 prompts"):
        read_prompts(many, max_lines=10)
    assert isinstance(read_prompts(many), Prompts)
