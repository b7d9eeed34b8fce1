"""Defences: adversarial training (a quick run, the shipped robust classifier) and the
feature-squeezing detector (squeezers, scores, thresholds, ROC and AUC, the adaptive attack)."""
from __future__ import annotations

import pytest
import torch

from pgan_lib import pretrained
from pgan_lib.attacks import Attack, pgd, robust_accuracy
from pgan_lib.defenses import (
    AdversarialClassifier,
    AdversarialConfig,
    FeatureSqueezing,
    adaptive_attack,
    auc,
    bit_depth,
    evaluate_detector,
    median_filter,
    roc_curve,
    seconds_per_step,
)
from pgan_lib.models.classifier import Classifier
from pgan_lib.train import TrainConfig, Trainer


def tiny_config(**kw) -> AdversarialConfig:
    base = dict(channels=1, size=8, widths=(8, 16), feature_dim=16, dropout=0.0, head_sizes=(2,),
                value_names=("left", "right"), shift=0, flip=False, adv_eps=0.1, val_n=32, val_steps=3)
    base.update(kw)
    return AdversarialConfig(**base)


# ====================================================================== adversarial training

@pytest.mark.parametrize("method", ["fgsm-rs", "pgd"])
def test_quick_adversarial_training_run(tiny_data, tmp_path, method):
    torch.manual_seed(0)
    model = AdversarialClassifier(tiny_config(adv_method=method, adv_steps=3, adv_ramp_steps=10))
    cfg = TrainConfig(max_steps=30, batch_size=16, lr=3e-3, log_every=10, val_every=15, checkpoint_every=15,
                      early_stop_metric="val_pgd_acc", early_stop_mode="max", patience=5,
                      tensorboard=False, progress=False)
    result = Trainer(cfg, tmp_path / method).fit(model, tiny_data, tiny_data)
    last = result.history[-1]
    assert {"val_acc", "val_pgd_acc", "val_fgsm_acc"} <= set(last)
    assert 0 <= last["val_pgd_acc"] <= last["val_acc"] <= 1
    assert last["val_acc"] > 0.9                                  # the two blob classes are easy
    assert (tmp_path / method / "best.json").exists()
    # the shipped form: a plain Classifier with the same outputs
    plain = model.classifier()
    assert type(plain) is Classifier and plain.arch == "classifier" and not plain.training
    x = tiny_data.float_images()[:8]
    model.eval()
    with torch.no_grad():
        assert torch.allclose(plain(x), model(x), atol=1e-6)


def test_adversarial_training_resists_the_attack_better_than_plain_training(tiny_data, tmp_path):
    """On the two-blob data, eps = 0.3 can erase a blob; adversarial training must hold up better."""
    accs = {}
    for method in ("none", "pgd"):
        torch.manual_seed(0)
        model = AdversarialClassifier(tiny_config(adv_method=method, adv_eps=0.3, adv_steps=5, val_n=64))
        cfg = TrainConfig(max_steps=40, batch_size=32, lr=3e-3, log_every=20, val_every=40, checkpoint_every=40,
                          tensorboard=False, progress=False)
        Trainer(cfg, tmp_path / method).fit(model, tiny_data)
        accs[method] = robust_accuracy(model, tiny_data.float_images(), tiny_data.labels,
                                       Attack("pgd", eps=0.3, steps=10)).robust_acc
    assert accs["pgd"] > accs["none"] + 0.2, accs


def test_config_checks_and_eps_ramp():
    with pytest.raises(ValueError):
        tiny_config(adv_method="free")
    with pytest.raises(ValueError):
        tiny_config(clean_weight=1.5)
    model = AdversarialClassifier(tiny_config(adv_ramp_steps=100, adv_eps=0.2))
    assert model.eps_at(0) == 0.0 and model.eps_at(50) == pytest.approx(0.1) and model.eps_at(500) == 0.2
    assert tiny_config(adv_method="pgd", adv_steps=5).step_ratio == pytest.approx(0.5)
    assert tiny_config().step_ratio == pytest.approx(1.25)
    assert set(tiny_config().classifier_config().__dataclass_fields__) == set(Classifier.Config.__dataclass_fields__)
    fast = seconds_per_step(tiny_config(adv_method="none"), batch_size=16, steps=2)
    assert fast > 0


@pytest.mark.skipif(not pretrained.available("fashion-classifier-robust"),
                    reason="fashion-classifier-robust is not shipped in checkpoints/")
def test_shipped_robust_classifier():
    from pgan_lib.data import load_dataset

    model = pretrained.load("fashion-classifier-robust")
    assert type(model) is Classifier and not model.training
    test = load_dataset("fashion-mnist", "test", limit=200)
    report = robust_accuracy(model, test.float_images(), test.labels, Attack("pgd", eps=0.1, steps=5))
    assert report.clean_acc > 0.8 and report.robust_acc > 0.6


# ====================================================================== feature squeezing

def test_squeezers():
    x = torch.rand(5, 1, 7, 7)
    for bits in (1, 3, 4):
        q = bit_depth(x, bits)
        levels = 2 ** bits - 1
        assert torch.allclose(q * levels, (q * levels).round(), atol=1e-5)        # only 2^bits grey levels
        assert (q - x).abs().max() <= 0.5 / levels + 1e-6
    x.requires_grad_(True)
    bit_depth(x, 3, straight_through=True).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))                               # identity gradient (BPDA)
    img = torch.full((1, 1, 6, 6), 0.3)
    img[0, 0, 2, 3] = 1.0                                                        # one bright pixel
    for size in (2, 3):
        out = median_filter(img, size)
        assert out.shape == img.shape and torch.allclose(out, torch.full_like(img, 0.3))
    assert torch.equal(median_filter(img, 1), img)
    stripes = torch.zeros(1, 1, 6, 6)
    stripes[..., :, 3:] = 1.0                                                    # an edge survives a median
    assert torch.equal(median_filter(stripes, 3), stripes)


def _model(seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    return AdversarialClassifier(tiny_config()).classifier()


def test_detector_scores_have_the_right_shape_and_range():
    model = _model()
    det = FeatureSqueezing(bits=3, median_size=2)
    x = torch.rand(13, 1, 8, 8)
    s = det.score(model, x, batch_size=5)
    assert s.shape == (13,) and (s >= 0).all() and (s <= 2 + 1e-6).all()
    assert torch.allclose(s, det.score(model, x))                               # batching does not matter
    assert len(det.probabilities(model, x)) == 3
    assert FeatureSqueezing(bits=None, median_size=3).score(model, x).shape == (13,)
    with pytest.raises(ValueError):
        FeatureSqueezing(bits=None, median_size=None).score(model, x)
    smooth = torch.full((4, 1, 8, 8), 0.0)                                       # already squeezed: score 0
    assert torch.allclose(det.score(model, smooth), torch.zeros(4), atol=1e-6)


def test_threshold_behaviour_is_monotone():
    model = _model()
    det = FeatureSqueezing(bits=2, median_size=2)
    clean = torch.rand(200, 1, 8, 8)
    scores = det.score(model, clean)
    flagged = [det.flag(scores, t).float().mean().item() for t in torch.linspace(0, 2, 41).tolist()]
    assert all(a >= b for a, b in zip(flagged, flagged[1:]))                    # a higher threshold flags fewer
    assert flagged[-1] == 0.0
    thr = det.fit(model, clean, fpr=0.1)
    assert det.threshold == thr
    assert 0.05 <= det.detect(model, clean).float().mean().item() <= 0.1 + 1e-6
    with pytest.raises(ValueError):
        FeatureSqueezing().flag(scores)                                         # no threshold yet


def test_roc_curve_and_auc():
    fpr, tpr, thr = roc_curve(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.4, 0.5]))
    assert auc(fpr, tpr) == pytest.approx(1.0)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    fpr, tpr, _ = roc_curve(torch.tensor([0.4, 0.5]), torch.tensor([0.1, 0.2]))
    assert auc(fpr, tpr) == pytest.approx(0.0)
    same = torch.rand(50)
    assert auc(*roc_curve(same, same)[:2]) == pytest.approx(0.5)
    # AUC = P(adversarial score > clean score), ties counting half
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(0, 20, (70,), generator=g).float(), torch.randint(5, 25, (90,), generator=g).float()
    pairs = (b[:, None] > a[None, :]).double().mean() + 0.5 * (b[:, None] == a[None, :]).double().mean()
    fpr, tpr, thr = roc_curve(a, b)
    assert auc(fpr, tpr) == pytest.approx(float(pairs))
    assert (fpr.diff() >= 0).all() and (tpr.diff() >= 0).all() and (thr.diff() < 0).all()
    with pytest.raises(ValueError):
        roc_curve(torch.tensor([]), b)


def test_detection_report_and_adaptive_attack_bounds():
    model = _model(1)
    det = FeatureSqueezing(bits=3, median_size=2)
    x = torch.rand(40, 1, 8, 8)
    with torch.no_grad():
        y = model(x).argmax(1)                                                  # right on every clean image
    det.fit(model, x, fpr=0.05)
    x_adv = pgd(model, x, y, eps=0.1, steps=5)
    report, curve = evaluate_detector(model, det, x, x_adv, y, "PGD-5")
    assert 0 <= report.auc <= 1 and report.n == 40 and 0 <= report.fooled_unflagged <= report.fooled <= 1
    assert curve["clean_scores"].shape == curve["adv_scores"].shape == (40,)
    assert "AUC" in str(report)
    adapted = adaptive_attack(model, det, x, y, eps=0.1, steps=5)
    assert adapted.shape == x.shape and (adapted - x).abs().max() <= 0.1 + 1e-6
    assert adapted.min() >= 0 and adapted.max() <= 1
    with pytest.raises(ValueError):
        adaptive_attack(model, FeatureSqueezing(), x, y)                        # unfitted detector
