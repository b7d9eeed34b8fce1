"""Tests for the procedurally rendered product catalogue."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from pgan_lib.config import ModeSettings
from pgan_lib.data import catalog
from pgan_lib.data.catalog import (
    CATEGORIES,
    COLOURS,
    HELD_OUT_TEMPLATES,
    HELDOUT_COMBOS,
    PATTERNS,
    TEMPLATES,
    TRAIN_TEMPLATES,
    cache_path,
    describe,
    load_catalog,
    render,
)

N = 320  # two items per seen combination: small, but every value shows up


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """All four splits of one small catalogue, rendered into a temporary cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGAN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield {s: load_catalog(s, n_items=N, seed=0) for s in catalog.SPLIT_NAMES}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path))
    return tmp_path


def _combos(data) -> set[tuple[str, str, str]]:
    a = data.attributes
    return {
        (CATEGORIES[c], COLOURS[k], PATTERNS[p])
        for c, k, p in zip(a["category"].tolist(), a["colour"].tolist(), a["pattern"].tolist())
    }


def _foreground(images: torch.Tensor, threshold: float = 40.0) -> torch.Tensor:
    """Bool (N, H, W): pixels far from the image's top-left corner (which is background)."""
    img = images.float()
    corner = img[:, :, :2, :2].mean(dim=(2, 3), keepdim=True)
    return (img - corner).abs().sum(dim=1) > threshold


# ---------------------------------------------------------------- determinism and cache


def test_render_is_deterministic_per_seed():
    cat, col, pat = [0, 1, 2, 3, 4, 5] * 3, list(range(10)) + list(range(8)), [0, 1, 2] * 6
    a = render(cat, col, pat, seed=7)
    b = render(cat, col, pat, seed=7)
    c = render(cat, col, pat, seed=8)
    assert a.dtype == torch.uint8 and a.shape == (18, 3, 32, 32)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # Neither the batch size nor the thread count may change a single byte.
    assert torch.equal(a, render(cat, col, pat, seed=7, chunk=4))
    before = torch.get_num_threads()
    assert torch.equal(a, render(cat, col, pat, seed=7, threads=2))
    assert torch.get_num_threads() == before  # the setting is restored


def test_load_is_deterministic_and_seed_dependent(tmp_path, monkeypatch):
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path / "one"))
    a = load_catalog("train", n_items=60, seed=1)
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path / "two"))  # fresh render, no cache
    b = load_catalog("train", n_items=60, seed=1)
    c = load_catalog("train", n_items=60, seed=2)
    assert torch.equal(a.images, b.images) and a.descriptions == b.descriptions
    assert not torch.equal(a.images, c.images)


def test_cache_round_trip(cache, monkeypatch):
    first = load_catalog("val", n_items=80, seed=3)
    path = cache_path(80, 32, 3)
    assert path.exists() and path.name == "catalog-v1-32-80-3.npz"
    assert not list(cache.glob("*.tmp")), "temporary file left behind"

    def no_render(*args, **kwargs):
        raise AssertionError("should have been read from the cache")

    monkeypatch.setattr(catalog, "render", no_render)
    again = load_catalog("val", n_items=80, seed=3)
    assert torch.equal(first.images, again.images)
    assert first.descriptions == again.descriptions
    assert torch.equal(first.labels, again.labels)
    for key in first.attributes:
        assert torch.equal(first.attributes[key], again.attributes[key])


def test_damaged_cache_is_rendered_again(cache):
    good = load_catalog("test", n_items=40, seed=4)
    path = cache_path(40, 32, 4)
    path.write_bytes(b"not a zip file")
    again = load_catalog("test", n_items=40, seed=4)
    assert torch.equal(good.images, again.images)
    np.load(path)["images"]  # and the cache file was repaired


# ---------------------------------------------------------------- shapes and errors


@pytest.mark.parametrize("size", [32, 64])
def test_shapes(cache, size):
    data = load_catalog("train", n_items=30, size=size)
    assert data.images.shape == (len(data), 3, size, size)
    assert data.images.dtype == torch.uint8
    assert data.name == "catalog" and data.split == "train"
    assert data.class_names == list(CATEGORIES)
    assert torch.equal(data.labels, data.attributes["category"])
    assert data.labels.dtype == torch.int64


def test_split_sizes(splits):
    assert len(splits["train"]) + len(splits["val"]) + len(splits["test"]) == N
    assert len(splits["train"]) == 256 and len(splits["val"]) == 32 and len(splits["test"]) == 32
    assert len(splits["heldout"]) == len(splits["test"])


def test_default_size_comes_from_the_mode(cache, monkeypatch):
    monkeypatch.setattr(catalog, "get_mode", lambda: ModeSettings("tiny", None, None, catalog_items=50))
    assert len(load_catalog("train")) == 40
    assert cache_path(50, 32, 0).exists()


def test_bad_arguments():
    with pytest.raises(ValueError, match="32, 64"):
        load_catalog("train", n_items=20, size=48)
    with pytest.raises(ValueError, match="32, 64"):
        render([0], [0], [0], size=16)
    with pytest.raises(ValueError, match="train, val, test, heldout"):
        load_catalog("validation", n_items=20)
    with pytest.raises(ValueError):
        render([6], [0], [0])
    with pytest.raises(ValueError):
        render([0, 1], [0], [0])


# ---------------------------------------------------------------- hold-out


def test_heldout_combos_are_a_tenth_and_cover_every_value():
    assert 0.10 <= len(HELDOUT_COMBOS) / (6 * len(COLOURS) * len(PATTERNS)) <= 0.12
    assert len(set(HELDOUT_COMBOS)) == len(HELDOUT_COMBOS)
    for cat, col, pat in HELDOUT_COMBOS:
        assert cat in CATEGORIES and col in COLOURS and pat in PATTERNS


def test_heldout_split_is_disjoint(splits):
    held = set(HELDOUT_COMBOS)
    for name in ("train", "val", "test"):
        assert not _combos(splits[name]) & held, f"held-out combination in {name}"
    assert _combos(splits["heldout"]) <= held
    assert _combos(splits["heldout"]) == held  # 32 items cover all 20 combinations


def test_every_value_is_seen_in_training(splits):
    train = splits["train"]
    for key, vocab in (("category", CATEGORIES), ("colour", COLOURS), ("pattern", PATTERNS)):
        assert set(train.attributes[key].tolist()) == set(range(len(vocab))), key
        assert train.attribute_values[key] == list(vocab)
    # ... and each held-out combination's parts appear in training in other combinations.
    seen = _combos(train)
    for cat, col, pat in HELDOUT_COMBOS:
        assert any(c == cat and k == col for c, k, _ in seen)
        assert any(c == cat and p == pat for c, _, p in seen)
        assert any(k == col and p == pat for _, k, p in seen)


# ---------------------------------------------------------------- descriptions


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:-[a-z]+)?", text.lower())


def _check_description(text: str, cat: str, col: str, pat: str) -> None:
    words = _words(text)
    assert cat in words and col in words and pat in words, text
    # No other value's word: the attributes can be read back unambiguously.
    assert [w for w in words if w in CATEGORIES] == [cat], text
    assert [w for w in words if w in COLOURS] == [col], text
    assert [w for w in words if w in PATTERNS] == [pat], text


def test_descriptions_name_their_attributes(splits):
    for data in splits.values():
        for i, text in enumerate(data.descriptions):
            attrs = data.attribute_names(i)
            _check_description(text, attrs["category"], attrs["colour"], attrs["pattern"])


def test_descriptions_use_several_training_templates_only(splits):
    descriptions = [d for data in splits.values() for d in data.descriptions]
    # Every stored description is exactly some training template's phrasing of its item.
    for data in splits.values():
        for i, text in enumerate(data.descriptions):
            a = data.attribute_names(i)
            phrasings = {describe(a["category"], a["colour"], a["pattern"], template=t) for t in TRAIN_TEMPLATES}
            assert text in phrasings, text
    assert not any("(colour:" in d or "finish" in d for d in descriptions)  # held-out templates' words
    # Several phrasings really are used: e.g. both "in <colour>" and "<colour> <pattern>".
    assert any(" in " in d for d in descriptions) and any(d.startswith("product photo") for d in descriptions)
    assert len(TRAIN_TEMPLATES) >= 5 and len(HELD_OUT_TEMPLATES) >= 2


def test_describe_every_template():
    for t in range(len(TEMPLATES)):
        for cat, col, pat in [("mug", "red", "striped"), ("trousers", "orange", "plain"), ("t-shirt", "white", "dotted")]:
            _check_description(describe(cat, col, pat, template=t), cat, col, pat)
    assert describe("mug", "red", "striped", template=0) == "a red striped mug"
    assert describe("mug", "orange", "dotted", template=0) == "an orange dotted mug"
    assert describe("trousers", "blue", "plain", template=0) == "a pair of blue plain trousers"
    rng = np.random.default_rng(0)
    picked = {describe("dress", "pink", "plain", rng=rng) for _ in range(60)}
    assert len(picked) == len(TRAIN_TEMPLATES)
    assert "pink dress (colour" not in " ".join(picked)
    with pytest.raises(ValueError):
        describe("hat", "red", "plain")


# ---------------------------------------------------------------- the pictures themselves


def test_images_are_not_blank(splits):
    images = splits["train"].images
    fg = _foreground(images)
    coverage = fg.float().mean(dim=(1, 2))
    assert coverage.min() > 0.08, "some product is (almost) invisible"
    assert coverage.max() < 0.8
    # The background is light near-white.
    assert images[:, :, 0, 0].float().mean() > 200


def test_colours_show_in_the_foreground():
    n = 12
    cat = np.arange(n) % 6
    mean = {}
    for name in ("red", "blue", "green", "white", "black"):
        imgs = render(cat, [COLOURS.index(name)] * n, [0] * n, seed=1)
        fg = _foreground(imgs)
        assert fg.any(dim=(1, 2)).all(), f"a {name} product is invisible"
        pixels = imgs.float().permute(0, 2, 3, 1)[fg]  # (P, 3) foreground pixels
        mean[name] = pixels.mean(dim=0)
    r, g, b = mean["red"]
    assert r > g + 60 and r > b + 60, mean["red"]
    r, g, b = mean["blue"]
    assert b > r + 60 and b > g + 40, mean["blue"]
    r, g, b = mean["green"]
    assert g > r + 40 and g > b + 40, mean["green"]
    assert mean["white"].mean() > mean["black"].mean() + 100


def test_categories_have_distinct_silhouettes(splits):
    """A nearest-neighbour classifier on silhouettes must tell the six categories apart."""
    train = splits["train"]
    others = [splits[s] for s in ("val", "test", "heldout")]
    masks = _foreground(train.images).float().flatten(1)
    test_masks = torch.cat([_foreground(d.images).float().flatten(1) for d in others])
    test_labels = torch.cat([d.labels for d in others])
    nearest = torch.cdist(test_masks, masks).argmin(dim=1)
    accuracy = (train.labels[nearest] == test_labels).float().mean()
    assert accuracy > 0.9, accuracy


def test_patterns_change_the_inside_only():
    n = 12
    cat, col = np.arange(n) % 6, np.arange(n) % 10
    plain = render(cat, col, [0] * n, seed=2)
    striped = render(cat, col, [1] * n, seed=2)
    dotted = render(cat, col, [2] * n, seed=2)
    # Same seed, so the same silhouettes: only the fill may change.
    fg = _foreground(plain)
    for patterned in (striped, dotted):
        diff = (patterned.float() - plain.float()).abs().sum(dim=1)  # (N, H, W)
        assert (diff[fg] > 30).float().mean() > 0.1  # a good part of the inside changed
        assert (diff[~fg] > 30).float().mean() < 0.05  # the background hardly did
    # Stripes and dots differ from each other too.
    assert (striped.float() - dotted.float()).abs().mean() > 3


def test_size_64_draws_the_same_products(cache):
    small = render([5, 0], [0, 4], [1, 2], size=32, seed=9).float()
    large = render([5, 0], [0, 4], [1, 2], size=64, seed=9).float()
    shrunk = torch.nn.functional.avg_pool2d(large, 2)
    assert (shrunk - small).abs().mean() < 12


def test_polygon_helper_ignores_winding_order():
    grid = torch.linspace(-1, 1, 40)
    x, y = grid.view(1, 1, -1), grid.view(1, -1, 1)
    triangle = [(0.0, -0.5), (0.5, 0.5), (-0.5, 0.5)]
    a = catalog.polygon(x, y, triangle)
    b = catalog.polygon(x, y, triangle[::-1])
    assert torch.equal(a, b)
    assert 0.1 < a.float().mean() < 0.15  # area 0.5 of the 2x2 square: 12.5%


def test_render_words_matches_index_render():
    words = [("mug", "purple", "dotted"), ("t-shirt", "white", "striped")]
    by_words = catalog.render_words(words, size=32, seed=5)
    by_index = render([5, 0], [COLOURS.index("purple"), COLOURS.index("white")], [2, 1], seed=5)
    assert torch.equal(by_words, by_index)


def test_white_products_stand_out_from_the_light_background():
    n = 24
    images = render(np.arange(n) % 6, [COLOURS.index("white")] * n, [0] * n, seed=3).float().mean(dim=1)
    background = images[:, :2, :2].mean(dim=(1, 2))
    darkest = images.flatten(1).min(dim=1).values
    assert (background - darkest).min() > 50  # the outline draws a clearly darker edge
