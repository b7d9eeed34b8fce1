"""``pgan eval`` end to end, and the controlled cases the metrics must rank correctly."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pgan_lib import pretrained
from pgan_lib.cli import main

pytestmark = pytest.mark.skipif(not pretrained.available("fashion-classifier"),
                                reason="needs the shipped fashion-classifier checkpoint")

N_REAL = 2000          # real test images used as the reference (the CLI default is all 10,000)
N_CASES_REAL = 1000


@pytest.fixture(scope="module", autouse=True)
def eval_cache(tmp_path_factory):
    """A private cache folder: the first test measures the reference features, the others reuse them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGAN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def val():
    from pgan_lib.data import load_dataset

    return load_dataset("fashion-mnist", "val", limit=1000)


def run_eval(tmp_path, name: str, images: np.ndarray, capsys, **arrays) -> tuple[int, dict | None, str]:
    path = tmp_path / f"{name}.npz"
    np.savez(path, images=images, **arrays)
    out = tmp_path / f"{name}.json"
    rc = main(["eval", "--samples", str(path), "--dataset", "fashion-mnist", "--limit", str(N_REAL),
               "--kid-subsets", "10", "--json", str(out)])
    text = capsys.readouterr()
    return rc, json.loads(out.read_text()) if out.exists() else None, text.out + text.err


def nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


def test_eval_real_images_with_labels_and_prompts(tmp_path, capsys, val):
    prompts = np.array(val.descriptions, dtype=np.str_)
    rc, result, text = run_eval(tmp_path, "real", nhwc(val.images), capsys, labels=val.labels.numpy(), prompts=prompts)
    assert rc == 0, text
    for key in ("n", "fid", "kid", "precision", "recall", "density", "coverage", "class_histogram",
                "conditional_accuracy", "feature_extractor"):
        assert key in result, key
    sha = pretrained.SHIPPED["fashion-classifier"].sha256
    assert result["feature_extractor"] == f"fashion-classifier@{sha[:12]}/penultimate-128"
    assert result["n"] == 1000 and result["n_real"] == N_REAL
    assert sum(result["class_histogram"].values()) == 1000
    assert result["fid"] < 3.0                                   # real vs real: near 0
    assert result["precision"] > 0.8 and result["recall"] > 0.8
    assert result["conditional_accuracy"] > 0.9                  # the classifier's accuracy on real images
    # The descriptions' shade and fit words were written by the same pixel rules that check them.
    assert result["conditional"]["shade"] == 1.0 and result["conditional"]["fit"] > 0.9
    assert "FID" in text and result["feature_extractor"] in text


def test_eval_ranks_noise_far_below_real(tmp_path, capsys, val):
    rng = np.random.default_rng(0)
    rc, noise, text = run_eval(tmp_path, "noise", rng.integers(0, 256, size=(500, 28, 28, 1), dtype=np.uint8), capsys)
    assert rc == 0, text
    assert "conditional_accuracy" not in noise
    rc, real, _ = run_eval(tmp_path, "real500", nhwc(val.images[:500]), capsys)
    assert noise["fid"] > 20 * max(real["fid"], 1.0)
    assert noise["kid"] > 10 * abs(real["kid"]) and noise["recall"] < 0.05
    # Precision is fooled by a few outlying real images with huge neighbourhoods; density and coverage are not.
    assert noise["density"] < 0.1 and noise["coverage"] < 0.05 < noise["precision"]


@pytest.mark.parametrize("arrays, message", [
    ({"pictures": np.zeros((10, 28, 28, 1), np.uint8)}, "no 'images' array"),
    ({"images": np.zeros((10, 28, 28, 1), np.float32)}, "uint8"),
    ({"images": np.zeros((10, 32, 32, 3), np.uint8)}, "1-channel"),
    ({"images": np.zeros((10, 28, 28, 1), np.uint8), "labels": np.full(10, 12)}, "labels"),
    ({"images": np.zeros((3, 28, 28, 1), np.uint8)}, "at least"),
])
def test_eval_refuses_bad_sample_files(tmp_path, capsys, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    assert main(["eval", "--samples", str(path), "--limit", "50"]) == 2
    assert message in capsys.readouterr().err


def test_eval_refuses_missing_files_and_bad_options(tmp_path, capsys):
    assert main(["eval", "--samples", str(tmp_path / "nothing.npz")]) == 2
    assert "no such samples file" in capsys.readouterr().err
    path = tmp_path / "ok.npz"
    np.savez(path, images=np.zeros((10, 28, 28, 1), np.uint8))
    assert main(["eval", "--samples", str(path), "--split", "heldout"]) == 2
    assert "splits" in capsys.readouterr().err


def test_controlled_cases_are_ranked_in_the_expected_order():
    """Known-good and known-bad "generators" must come out in the order they were built to have."""
    from pgan_lib.data import load_dataset
    from pgan_lib.eval import FeatureExtractor, evaluate_samples, reference
    from pgan_lib.eval import metrics as M
    from pgan_lib.eval.degrade import controlled_cases

    held_out = load_dataset("fashion-mnist", "val", limit=1200)
    train = load_dataset("fashion-mnist", "train", limit=2000)
    cases = {c.name: c for c in controlled_cases(held_out, train, n=500)}
    ext = FeatureExtractor.for_dataset("fashion-mnist")
    res = {name: evaluate_samples(c.images, labels=c.labels, limit=N_CASES_REAL, kid_subsets=5, extractor=ext)
           for name, c in cases.items()}
    fid = {name: r["fid"] for name, r in res.items()}
    real = res["real (held out)"]
    # Image quality: more blur, worse FID/KID/precision/density; noise worst of all.
    order = ["real (held out)", "blur sigma=0.5", "blur sigma=1.0", "blur sigma=2.0", "uniform noise"]
    assert [fid[n] for n in order] == sorted(fid[n] for n in order), fid
    assert [res[n]["kid"] for n in order[1:]] == sorted(res[n]["kid"] for n in order[1:])
    assert res["blur sigma=2.0"]["precision"] < res["blur sigma=0.5"]["precision"] < real["precision"] + 0.02
    # Lost modes: recall and coverage fall, precision does not.
    half = next(r for n, r in res.items() if n.startswith("half the classes"))
    assert half["recall"] < real["recall"] - 0.2 and half["coverage"] < real["coverage"] - 0.2
    assert half["precision"] > real["precision"] - 0.05
    assert half["inception_score"] < real["inception_score"]
    # Mode collapse: one image repeated covers nothing and has no diversity.
    collapse = res["one image repeated"]
    assert collapse["coverage"] < 0.02 and collapse["diversity"] < 1e-3 and collapse["fid"] > fid["blur sigma=0.5"]
    # Memorisation: copies of training images look perfect to FID but not to the nearest-neighbour check.
    assert fid["training copies"] < fid["blur sigma=1.0"]
    train_f = ext(train.images).features
    test_f = reference(ext, "fashion-mnist", "test", limit=N_CASES_REAL).extracted.features
    copied = M.memorisation(ext(cases["training copies"].images).features, train_f, test_f)
    fresh = M.memorisation(ext(cases["real (held out)"].images).features, train_f, test_f)
    assert copied["near_copy_share"] > 0.95 and fresh["near_copy_share"] < 0.05


def test_ab_test_records_answers_and_reports_a_wilson_interval(tmp_path):
    from pgan_lib.eval.abtest import ABTest, wilson_interval

    lo, hi = wilson_interval(1, 4)
    assert (round(lo, 3), round(hi, 3)) == (0.046, 0.699)     # textbook values for 1 of 4
    assert wilson_interval(0, 0) == (0.0, 1.0)
    real, fake = torch.zeros(6, 1, 4, 4), torch.ones(6, 1, 4, 4)
    test = ABTest(real, fake, seed=1)
    for _ in range(len(test)):
        left, right = test.pair()
        test.answer("left" if left.sum() == 0 else "right")    # a judge who is always right
    s = test.summary()
    assert s["n"] == 6 and s["fooled"] == 0 and s["ci_high"] < 0.5
    with pytest.raises(ValueError, match='"left" or "right"'):
        ABTest(real, fake).answer("middle")
    lines = test.save_csv(tmp_path / "answers.csv").read_text().splitlines()
    assert lines[0].startswith("trial,") and len(lines) == 7
