"""Real-vs-generated detectors: the CNN learns on the shared trainer, the DCT baseline fits, the metrics
are right on hand-made cases, the threshold comes from held-out data, inputs are normalised, PGD works."""
from __future__ import annotations

import pytest
import torch

from pgan_lib.eval import detection as D
from pgan_lib.models.base import load_model
from pgan_lib.models.detector import Detector, DetectorConfig, FrequencyDetector, blur_batch, dct_features
from pgan_lib.train import TrainConfig, Trainer


def _blobs(n: int, seed: int, fake: bool) -> torch.Tensor:
    """uint8 (n, 1, 28, 28): bright discs on black; 'generated' ones carry a faint checkerboard
    (the periodic trace up-sampling layers leave)."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    c = torch.rand(n, 3, generator=gen)
    cy, cx, r = 8 + 12 * c[:, :1, None], 8 + 12 * c[:, 1:2, None], 5 + 5 * c[:, 2:, None]
    x = (((yy - cy) ** 2 + (xx - cx) ** 2) < r ** 2).float() * (0.6 + 0.4 * torch.rand(n, 1, 1, generator=gen))
    x = x + 0.03 * torch.rand(x.shape, generator=gen)
    if fake:
        x = x + 0.06 * ((yy + xx) % 2)
    return (x.clamp(0, 1)[:, None] * 255).round().to(torch.uint8)


def test_metrics_on_hand_made_cases():
    y = torch.tensor([1, 0, 1, 0])
    assert D.average_precision(torch.tensor([4.0, 3, 2, 1]), y) == pytest.approx((1 + 2 / 3) / 2)
    assert D.average_precision(torch.tensor([4.0, 3, 2, 1]), torch.tensor([1, 1, 0, 0])) == 1.0
    assert D.balanced_accuracy(torch.tensor([4.0, 3, 2, 1]), y, 2.5) == pytest.approx(0.5)
    s = torch.tensor([-3.0, -2, -1, 5, 6, 7])
    lab = torch.tensor([0, 0, 0, 1, 1, 1])
    thr = D.choose_threshold(s, lab)
    assert -1 < thr < 5 and D.balanced_accuracy(s, lab, thr) == 1.0
    shifted = s - 6                                       # same ranking, moved scores
    assert D.average_precision(shifted, lab) == 1.0 and D.balanced_accuracy(shifted, lab, 0.0) < 1.0


def test_cnn_learns_with_the_shared_trainer(tmp_path):
    torch.manual_seed(0)
    train = D.labelled(_blobs(160, 1, False), _blobs(160, 2, True), "blobs", "train")
    val = D.labelled(_blobs(64, 3, False), _blobs(64, 4, True), "blobs", "val")
    model = Detector(DetectorConfig(widths=(8, 16, 16)))
    before = D.average_precision(model.scores(val.images), val.labels)
    cfg = TrainConfig(max_steps=50, batch_size=32, lr=3e-3, log_every=25, val_every=50, checkpoint_every=50,
                      tensorboard=False, progress=False)
    Trainer(cfg, tmp_path / "run", device="cpu").fit(model, train, val)
    after = D.average_precision(model.scores(val.images), val.labels)
    assert after > 0.95 and after > before
    cal = D.labelled(_blobs(64, 10, False), _blobs(64, 11, True), "blobs", "calibration")
    thr = D.choose_threshold(model.scores(cal.images), cal.labels)      # chosen on other images than val
    assert D.balanced_accuracy(model.scores(val.images), val.labels, thr) > 0.85
    assert set(model.validation_metrics(val)) == {"val_loss", "val_acc"}
    again = load_model(tmp_path / "run" / "last")             # the checkpoint rebuilds the same detector
    assert torch.allclose(again.scores(val.images), model.scores(val.images), atol=1e-5)


def test_frequency_baseline_sees_the_checkerboard():
    x = torch.cat([_blobs(200, 5, False), _blobs(200, 6, True)])
    y = torch.cat([torch.zeros(200, dtype=torch.long), torch.ones(200, dtype=torch.long)])
    f = FrequencyDetector(28).fit(x, y)
    xt = torch.cat([_blobs(100, 7, False), _blobs(100, 8, True)])
    yt = torch.cat([torch.zeros(100, dtype=torch.long), torch.ones(100, dtype=torch.long)])
    assert D.average_precision(f.scores(xt), yt) > 0.95
    assert dct_features(x[:2]).shape == (2, 784)


def test_pgd_lowers_the_score_within_budget():
    torch.manual_seed(0)
    model = Detector(DetectorConfig(widths=(8, 8, 8))).eval()
    x = _blobs(8, 9, True)
    adv = D.attack_detector(model, x, eps=2 / 255, steps=10)
    assert (adv - x.float() / 255).abs().max() <= 2 / 255 + 1e-6
    assert model.scores(adv).mean() < model.scores(x).mean()


def test_blur_keeps_constant_images():
    x = torch.full((2, 3, 8, 8), 0.4)
    assert torch.allclose(blur_batch(x, 0.8), x, atol=1e-6)


def test_normalise_input_accepts_common_layouts_and_names_the_problem():
    hwc = torch.randint(0, 256, (3, 32, 32, 3), dtype=torch.uint8)
    x, setup = D.normalise_input(hwc)
    assert setup == "catalog" and x.shape == (3, 3, 32, 32) and torch.equal(x.permute(0, 2, 3, 1), hwc)
    x, setup = D.normalise_input(torch.rand(2, 28, 28))
    assert setup == "fashion" and x.shape == (2, 1, 28, 28) and x.dtype == torch.uint8
    x, setup = D.normalise_input(torch.randint(0, 256, (1, 3, 28, 28), dtype=torch.uint8))
    assert setup == "fashion" and x.shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match="28x28 grey .* 32x32 colour"):
        D.normalise_input(torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "big.png")
    with pytest.raises(ValueError, match=r"weird.npz: float images must be in \[0, 1\]"):
        D.normalise_input(torch.full((1, 28, 28), 7.0), "weird.npz")
    with pytest.raises(ValueError, match="takes images"):
        Detector(DetectorConfig())(torch.zeros(1, 3, 28, 28))


# -- the shipped detector and ``pgan detect`` ---------------------------------------------------------

@pytest.fixture(scope="module")
def fashion_pair():
    real = D.load_dataset("fashion-mnist", "test", limit=150)
    fake = D.generator_samples("fashion-cgan", 150, real, seed=7)
    return real.images, fake


def test_shipped_detector_separates_its_generator(fashion_pair):
    from pgan_lib import pretrained

    real, fake = fashion_pair
    det = pretrained.load("detector-fashion")
    scores = torch.cat([det.scores(real), det.scores(fake)])
    labels = torch.cat([torch.zeros(len(real), dtype=torch.long), torch.ones(len(fake), dtype=torch.long)])
    assert D.average_precision(scores, labels) >= 0.97
    assert "cvae-fashion-clip" in det.config.calibrated_on      # the threshold came from held-out generators


def test_pgan_detect_batch_json_and_files(tmp_path, fashion_pair, capsys):
    import json

    import numpy as np
    from PIL import Image

    from pgan_lib.cli import main
    from pgan_lib.eval.samples import save_samples

    real, fake = fashion_pair
    x = torch.cat([real[:5], fake[:5]])
    save_samples(tmp_path / "mix.npz", x)
    save_samples(tmp_path / "rev.npz", x.flip(0))
    assert main(["detect", "--batch", str(tmp_path / "mix.npz"), "--json", str(tmp_path / "a.json")]) == 0
    assert main(["detect", "--batch", str(tmp_path / "rev.npz"), "--json", str(tmp_path / "b.json")]) == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert len(a["scores"]) == 10 and a["scores"] == pytest.approx(b["scores"][::-1], abs=1e-5)   # input order
    assert isinstance(a["threshold"], float) and a["detector_version"].startswith("detector-fashion@")
    assert sum(s > a["threshold"] for s in a["scores"][5:]) > sum(s > a["threshold"] for s in a["scores"][:5])
    for i in range(2):                                        # plain files from any program: PNG, grey and colour
        Image.fromarray(x[i, 0].numpy()).save(tmp_path / f"g{i}.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "c.png")
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "g0.png"), str(tmp_path / "g1.png"), str(tmp_path / "c.png"),
                 "--json", str(tmp_path / "c.json")]) == 0
    got = json.loads((tmp_path / "c.json").read_text())
    assert len(got["scores"]) == 3 and got["scores"][:2] == pytest.approx(a["scores"][:2], abs=1e-5)
    assert set(got["threshold"]) == {"detector-fashion", "detector-catalog"}
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "big.png")
    assert main(["detect", str(tmp_path / "big.png")]) == 2
    assert "28x28 grey" in capsys.readouterr().err


def test_notebook_exercise_check_for_the_threshold(capsys):
    from pgan_lib.course.responsible import check_threshold

    def plain_accuracy(scores, labels):               # ignores the class imbalance
        cands = torch.sort(scores).values
        return float(max(cands, key=lambda t: float(((scores > t) == labels.bool()).float().mean())))

    assert check_threshold(D.choose_threshold) and "PASS" in capsys.readouterr().out
    assert not check_threshold(plain_accuracy) and "balanced" in capsys.readouterr().out
    assert not check_threshold(lambda s, y: 5.0) and "FAIL" in capsys.readouterr().out
