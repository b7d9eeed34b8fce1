"""Tests of the product classifiers, their recipes, the shipped checkpoints and the evaluation helpers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pgan_lib import pretrained
from pgan_lib.models.classifier import Classifier, ClassifierConfig, random_shift_flip


def small_config(**kw) -> ClassifierConfig:
    base = dict(channels=1, size=8, widths=(8, 16), feature_dim=16, head_sizes=(2,), value_names=("left", "right"))
    base.update(kw)
    return ClassifierConfig(**base)


# ============================================================================ the model

def test_shapes_of_one_and_several_heads():
    clf = Classifier(ClassifierConfig()).eval()
    x = torch.rand(4, 1, 28, 28)
    assert clf(x).shape == (4, 10)
    assert clf.features(x).shape == (4, 128)
    assert (clf.features(x) >= 0).all()          # after a ReLU
    multi = Classifier(ClassifierConfig(channels=3, size=32, widths=(8, 16, 32), heads=("category", "colour", "pattern"),
                                        head_sizes=(6, 10, 3))).eval()
    logits = multi.all_logits(torch.rand(2, 3, 32, 32))
    assert {h: tuple(v.shape) for h, v in logits.items()} == {"category": (2, 6), "colour": (2, 10), "pattern": (2, 3)}
    assert torch.equal(multi(torch.zeros(2, 3, 32, 32)), multi.all_logits(torch.zeros(2, 3, 32, 32))["category"])
    with pytest.raises(ValueError, match="takes float images"):
        clf(torch.rand(4, 3, 28, 28))


def test_config_is_checked():
    with pytest.raises(ValueError):
        ClassifierConfig(heads=("a", "b"), head_sizes=(3,))
    with pytest.raises(ValueError):
        ClassifierConfig(value_names=("only", "two"))
    with pytest.raises(ValueError):
        ClassifierConfig(size=30, widths=(8, 16, 32))


def test_random_shift_flip_moves_a_pixel_by_at_most_the_shift():
    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0
    assert torch.equal(random_shift_flip(x, 0, False), x)
    torch.manual_seed(0)
    out = random_shift_flip(x, 2, False)
    assert out.shape == x.shape
    pos = out[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 9, pos % 9
    assert ((rows - 4).abs() <= 2).all() and ((cols - 4).abs() <= 2).all()
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5        # the shifts differ per image
    y = torch.zeros(200, 1, 3, 3)
    y[:, :, 1, 0] = 1.0
    flipped = random_shift_flip(y, 0, True)[:, 0, 1, 2] == 1.0
    assert 0.3 < flipped.float().mean() < 0.7


def test_trainer_teaches_the_classifier(tiny_data, tmp_path):
    from pgan_lib.train import TrainConfig, Trainer

    clf = Classifier(small_config(flip=False, shift=1))
    before = clf.evaluate(tiny_data)
    cfg = TrainConfig(max_steps=40, batch_size=32, lr=3e-3, val_every=20, checkpoint_every=40, early_stop_metric="val_acc",
                      early_stop_mode="max", tensorboard=False, progress=False, lr_schedule="cosine")
    result = Trainer(cfg, tmp_path, device="cpu").fit(clf, tiny_data, tiny_data)
    after = clf.evaluate(tiny_data)
    assert after["acc"] >= 0.95 and after["loss"] < before["loss"]
    assert result.best_metric == pytest.approx(max(h["val_acc"] for h in result.history))
    assert clf.predict(tiny_data.float_images())["label"].tolist() == tiny_data.labels.tolist()
    assert clf.names_of("label") == ["left", "right"]
    from pgan_lib.models.base import load_model

    again = load_model(tmp_path / "best")
    assert isinstance(again, Classifier) and again.config == clf.config


def test_recipes_are_registered():
    from pgan_lib.recipes import get_recipe

    for name in ("classifier-fashion", "classifier-catalog"):
        r = get_recipe(name)
        assert r.quick.max_steps < r.full.max_steps
        assert r.full.early_stop_metric == "val_acc" and r.full.early_stop_mode == "max"


# ============================================================================ the shipped classifiers

def _sidecar(name: str) -> dict:
    return json.loads(pretrained.path_of(name).with_suffix(".json").read_text())


def test_shipped_fashion_classifier_meets_its_accuracy():
    if not pretrained.available("fashion-classifier"):
        pytest.fail("checkpoints/fashion-classifier is missing or does not match its published sha256")
    from pgan_lib.data import load_dataset

    clf = pretrained.load("fashion-classifier")
    assert isinstance(clf, Classifier) and not clf.training
    test = load_dataset("fashion-mnist", "test", limit=False)
    assert len(test) == 10_000
    acc = clf.evaluate(test)["acc"]
    assert acc >= 0.93
    meta = _sidecar("fashion-classifier")
    assert meta["test_accuracy"] == pytest.approx(acc, abs=1e-4)
    stem = pretrained.path_of("fashion-classifier")
    assert stem.with_suffix(".safetensors").stat().st_size < 3 * 2 ** 20
    assert stem.with_suffix(".log").is_file()


def test_shipped_catalog_classifier_meets_its_accuracy():
    if "catalog-classifier" not in pretrained.SHIPPED:
        pytest.skip("no catalog classifier is shipped")
    from pgan_lib.data import load_dataset

    clf = pretrained.load("catalog-classifier")
    test = load_dataset("catalog", "test", mode="quick", size=32)
    m = clf.evaluate(test)
    for head in ("category", "colour", "pattern"):
        assert m[f"acc_{head}"] >= 0.98, head
    assert pretrained.path_of("catalog-classifier").with_suffix(".safetensors").stat().st_size < 3 * 2 ** 20


# ============================================================================ evaluation helpers

def test_feature_extractor_version_names_the_weights():
    from pgan_lib.eval import FeatureExtractor

    if not pretrained.available("fashion-classifier"):
        pytest.skip("no shipped fashion-classifier")
    ext = FeatureExtractor.for_dataset("fashion-mnist")
    sha = pretrained.SHIPPED["fashion-classifier"].sha256
    assert ext.version == f"fashion-classifier@{sha[:12]}/penultimate-128"
    out = ext(np.zeros((3, 28, 28, 1), dtype=np.uint8))
    assert out.features.shape == (3, 128) and out.logits["label"].shape == (3, 10)
    with pytest.raises(ValueError):
        FeatureExtractor.for_dataset("folder:/tmp")


def test_to_float_images_reads_every_layout():
    from pgan_lib.images import to_float_images

    nhwc = np.random.default_rng(0).integers(0, 256, size=(2, 5, 6, 3), dtype=np.uint8)
    nchw = torch.from_numpy(nhwc).permute(0, 3, 1, 2)
    a, b = to_float_images(nhwc), to_float_images(nchw)
    assert a.shape == (2, 3, 5, 6) and torch.equal(a, b)
    assert torch.allclose(a, nchw.float() / 255)
    assert to_float_images(np.zeros((4, 7, 7), dtype=np.uint8)).shape == (4, 1, 7, 7)
    assert torch.equal(to_float_images(b), b)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_float_images(torch.full((1, 1, 4, 4), 2.0))
    with pytest.raises(ValueError, match="channels"):
        to_float_images(nhwc, channels=1)


def test_prompts_are_read_for_class_and_attributes():
    from pgan_lib.eval.attributes import requested_attributes

    got = requested_attributes(["a dark slim ankle boot", "trousers, light", "looking for a t-shirt that is medium and wide",
                                "a shirt or a coat", "nothing known"], "fashion-mnist")
    assert got["label"].tolist() == [9, 1, 0, -1, -1]
    assert got["shade"].tolist() == [0, 2, 1, -1, -1]
    assert got["fit"].tolist() == [0, -1, 2, -1, -1]
    shopper = requested_attributes(["a charcoal skinny jumper", "white baggy jeans", "ivory trainers, fitted"],
                                   "fashion-mnist")
    assert shopper["label"].tolist() == [2, 1, 7] and shopper["shade"].tolist() == [0, 2, 2]
    assert shopper["fit"].tolist() == [0, 2, 0]
    cat = requested_attributes(["a pair of red striped trousers", "dotted mug in blue"], "catalog")
    assert cat["category"].tolist() == [1, 5] and cat["colour"].tolist() == [0, 4] and cat["pattern"].tolist() == [1, 2]


def test_samples_round_trip_and_bad_files_are_refused(tmp_path):
    from pgan_lib.eval import load_samples, save_samples

    imgs = torch.rand(5, 1, 28, 28)
    path = save_samples(tmp_path / "s.npz", imgs, labels=[0, 1, 2, 3, 4], prompts=["a"] * 5)
    x, y, p = load_samples(path)
    assert x.shape == (5, 28, 28, 1) and x.dtype == np.uint8 and y.tolist() == [0, 1, 2, 3, 4] and p == ["a"] * 5
    np.savez(tmp_path / "obj.npz", images=x, prompts=np.array(["a", 1, None] * 2, dtype=object)[:5])
    with pytest.raises(ValueError, match="pickle"):
        load_samples(tmp_path / "obj.npz")
    np.savez(tmp_path / "float.npz", images=x.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        load_samples(tmp_path / "float.npz")
    np.savez(tmp_path / "labels.npz", images=x, labels=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="labels"):
        load_samples(tmp_path / "labels.npz")


def test_catalog_evaluation_reads_prompts_and_accepts_64px():
    if not pretrained.available("catalog-classifier"):
        pytest.skip("no shipped catalog-classifier")
    from pgan_lib.data import load_dataset
    from pgan_lib.eval import FeatureExtractor, evaluate_samples

    test = load_dataset("catalog", "test", mode="quick", size=32, limit=300)
    ext = FeatureExtractor.for_dataset("catalog")
    up = torch.nn.functional.interpolate(test.float_images(), scale_factor=2, mode="nearest")   # (N, 3, 64, 64)
    assert torch.allclose(ext.prepare(up), test.float_images(), atol=1e-6)
    r = evaluate_samples(test.images, dataset="catalog", split="val", prompts=test.descriptions, mode="quick",
                         kid_subsets=5, extractor=ext, cache=False)
    assert r["feature_extractor"].startswith("catalog-classifier@")
    for head in ("category", "colour", "pattern", "all"):
        assert r["conditional"][head] > 0.97, head
    assert r["precision"] > 0.8 and r["recall"] > 0.8
