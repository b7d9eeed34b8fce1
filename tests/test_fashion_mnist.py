"""Fashion-MNIST loading, checksums, splits, and descriptions that are true of their images."""
import shutil

import pytest
import torch

from pgan_lib.data import fashion_mnist as fm
from pgan_lib.data import load_dataset
from pgan_lib.data.attributes import FIT_WORDS, SHADE_WORDS, describe_fashion, fashion_attributes, shade_of, width_value
from pgan_lib.data.base import split_indices
from pgan_lib.data.lexicon import FASHION_FIT_LEXICON, FASHION_PRODUCT_WORDS, FASHION_SHADE_LEXICON, HELD_OUT_WORDS
from pgan_lib.text import normalise


def test_split_sizes_and_shapes():
    train = load_dataset("fashion-mnist", "train", limit=False)
    val = load_dataset("fashion-mnist", "val", limit=False)
    test = load_dataset("fashion-mnist", "test", limit=False)
    assert (len(train), len(val), len(test)) == (55000, 5000, 10000)
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == torch.uint8
    assert torch.bincount(test.labels).tolist() == [1000] * 10


def test_train_and_val_are_disjoint_and_fixed():
    a_train, a_val = split_indices(60000, (55000, 5000), seed=fm.SPLIT_SEED)
    b_train, b_val = split_indices(60000, (55000, 5000), seed=fm.SPLIT_SEED)
    assert torch.equal(a_val, b_val)
    assert not set(a_train.tolist()) & set(a_val.tolist())
    assert len(set(a_train.tolist()) | set(a_val.tolist())) == 60000


def test_quick_mode_limits_the_split(monkeypatch):
    monkeypatch.setenv("PGAN_MODE", "quick")
    assert len(load_dataset("fashion-mnist", "train")) == 4096
    assert len(load_dataset("fashion-mnist", "test")) == 1024


def test_descriptions_are_true_of_their_images():
    data = load_dataset("fashion-mnist", "test", limit=2000)
    again = fashion_attributes(data.images, data.labels)
    for key in ("shade", "fit"):
        assert torch.equal(again[key], data.attributes[key])
    tables = {"label": FASHION_PRODUCT_WORDS, "shade": FASHION_SHADE_LEXICON, "fit": FASHION_FIT_LEXICON}
    for i in range(len(data)):
        text = " " + " ".join(data.descriptions[i].replace(",", " ").split()) + " "
        truth = {"label": int(data.labels[i]), "shade": int(data.attributes["shade"][i]),
                 "fit": int(data.attributes["fit"][i])}
        for key, table in tables.items():       # named by a word of its own value, and of no other value
            named = {v for v, group in enumerate(table) if any(f" {w} " in text for w in group)}
            assert named == {truth[key]}, (text, key, named)


def test_descriptions_use_the_wider_lexicon_and_never_a_held_out_word():
    """Training descriptions draw every lexicon word, and no word of HELD_OUT_WORDS."""
    data = load_dataset("fashion-mnist", "train", limit=20000)
    words = {w for d in data.descriptions for w in normalise(d)}
    for table in (FASHION_PRODUCT_WORDS, FASHION_SHADE_LEXICON, FASHION_FIT_LEXICON):
        for group in table:
            for phrase in group:
                assert set(normalise(phrase)) <= words, phrase
    held = {w for attr in HELD_OUT_WORDS["fashion-mnist"].values() for ws in attr.values() for p in ws
            for w in normalise(p)}
    leaked = held & words
    # a held-out phrase may share a word with training ("flip-flops"); each has at least one word kept out
    assert all(not set(normalise(p)) <= words for attr in HELD_OUT_WORDS["fashion-mnist"].values()
               for ws in attr.values() for p in ws), leaked
    assert {"hoodie", "whitish", "blackish", "tight"} <= held - words


def test_every_attribute_value_occurs():
    data = load_dataset("fashion-mnist", "train", limit=5000)
    for key, values in data.attribute_values.items():
        assert torch.bincount(data.attributes[key], minlength=len(values)).min() > 500


def test_attribute_rules_on_drawn_images():
    img = torch.zeros(3, 1, 28, 28)
    img[0, :, 4:24, 12:16] = 0.9     # narrow and dark (a lot of ink)
    img[1, :, 4:24, 2:26] = 0.3      # wide and light
    img[2, :, 4:24, 8:20] = 0.65     # medium
    assert shade_of(img).tolist() == [SHADE_WORDS.index("dark"), SHADE_WORDS.index("light"), SHADE_WORDS.index("medium")]
    w = width_value(img)
    assert w[0] == pytest.approx(4 / 28) and w[1] == pytest.approx(24 / 28)
    fit = fashion_attributes(img, torch.tensor([1, 1, 1]))["fit"]  # judged as trousers
    assert fit[0] == FIT_WORDS.index("slim") and fit[1] == FIT_WORDS.index("wide")


def test_describe_uses_the_right_article():
    assert describe_fashion("ankle boot", "dark", "slim") == "a dark slim ankle boot"
    assert describe_fashion("coat", "dark", "regular", template=2) == "a regular coat in a dark tone"
    assert "looking for" in describe_fashion("bag", "light", "wide", held_out=True)


def test_checksum_mismatch_and_missing_files_are_explained(tmp_path, monkeypatch):
    fm._RAW.clear()
    for name in fm.FILES:
        shutil.copy(fm.find_files() / name, tmp_path / name)
    with open(tmp_path / "t10k-labels-idx1-ubyte.gz", "ab") as f:
        f.write(b"tampered")
    monkeypatch.setenv("PGAN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "nothing-here")
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(fm.FashionMNISTNotFound) as err:
        fm.find_files()
    msg = str(err.value)
    assert "checksum mismatch for t10k-labels-idx1-ubyte.gz" in msg
    assert "apt install dataset-fashion-mnist" in msg and "PGAN_DATA_DIR" in msg and "pgan data download" in msg
    fm._RAW.clear()


def test_data_dir_override_is_used(tmp_path, monkeypatch):
    for name in fm.FILES:
        shutil.copy(fm.find_files() / name, tmp_path / name)
    monkeypatch.setenv("PGAN_DATA_DIR", str(tmp_path))
    assert fm.find_files() == tmp_path
