"""Adversarial attacks: budgets and pixel range, FGSM by hand, PGD versus FGSM, targeted attacks,
restarts, the robustness curve, the discriminator attack and ``pgan attack``."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pgan_lib.attacks import (
    Attack,
    attack_discriminator,
    fgsm,
    format_curve,
    pgd,
    pgd_maximise,
    project,
    random_start,
    robust_accuracy,
    robustness_curve,
)
from pgan_lib.models.classifier import Classifier, ClassifierConfig


class Linear(nn.Module):
    """logits = W x + b on flattened images: its input gradient is known in closed form."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)       # (K, D)
        self.b = nn.Parameter(b)       # (K,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w.T + self.b


def linear_model(k: int = 3, d: int = 16, seed: int = 0) -> Linear:
    g = torch.Generator().manual_seed(seed)
    return Linear(torch.randn(k, d, generator=g), torch.randn(k, generator=g) * 0.1).eval()


@pytest.fixture(scope="module")
def trained():
    """A small classifier (a one-hidden-layer MLP: the attacks take any model) trained for a moment
    on 2048 Fashion-MNIST images, and 256 test images."""
    data = pytest.importorskip("pgan_lib.data")
    try:   # the validation split loads faster than the training split and serves as well here
        train = data.load_dataset("fashion-mnist", "val", limit=2048)
        test = data.load_dataset("fashion-mnist", "test", limit=256)
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = train.float_images(), train.labels
    for _ in range(300):
        i = torch.randint(0, len(x), (128,))
        loss = F.cross_entropy(model(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), test.float_images(), test.labels


# ====================================================================== budgets and valid pixels

ATTACKS = [
    Attack("fgsm", eps=0.1), Attack("fgsm", eps=0.1, random_init=True), Attack("pgd", eps=0.1, steps=5),
    Attack("pgd", eps=0.1, steps=5, restarts=2, loss="margin"), Attack("pgd", eps=0.1, steps=5, targeted=True),
    Attack("fgsm", eps=0.8, norm="l2"), Attack("fgsm", eps=0.8, norm="l2", random_init=True),
    Attack("pgd", eps=0.8, norm="l2", steps=5), Attack("pgd", eps=0.8, norm="l2", steps=5, targeted=True, restarts=2),
    Attack("pgd", eps=0.3, steps=4, step_size=0.5),          # steps far larger than eps: projection must hold
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.describe() for a in ATTACKS])
def test_perturbation_stays_in_the_ball_and_in_range(attack):
    model = Classifier(ClassifierConfig(size=8, widths=(4, 8), feature_dim=8, dropout=0.0)).eval()
    torch.manual_seed(1)
    x = torch.rand(24, 1, 8, 8)
    x[:8] = (x[:8] > 0.5).float()                              # pixels exactly at 0 and 1
    y = torch.randint(0, 10, (24,))
    target = (y + 1) % 10
    x_adv = attack(model, x, y, target)
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if attack.norm == "linf" else delta.norm(dim=1)
    assert (size <= attack.eps + 1e-5).all(), size.max()
    assert size.max() > 0.5 * attack.eps                        # and it did move


def test_projection_and_random_start():
    torch.manual_seed(0)
    x = torch.rand(50, 1, 6, 6)
    for norm, eps in (("linf", 0.2), ("l2", 1.0)):
        delta = project(x, torch.randn_like(x) * 3, eps, norm)
        size = delta.abs().flatten(1).amax(1) if norm == "linf" else delta.flatten(1).norm(dim=1)
        assert (size <= eps + 1e-6).all()
        assert ((x + delta) >= 0).all() and ((x + delta) <= 1).all()
        # a point already inside is left alone
        small = project(torch.full_like(x, 0.5), torch.full_like(x, 1e-3), eps, norm)
        assert torch.allclose(small, torch.full_like(x, 1e-3))
        r = random_start(torch.full((400, 1, 6, 6), 0.5), eps, norm, torch.Generator().manual_seed(0))
        size = r.abs().flatten(1).amax(1) if norm == "linf" else r.flatten(1).norm(dim=1)
        assert (size <= eps + 1e-6).all() and size.mean() > 0.5 * eps     # fills the ball, not just its centre


# ====================================================================== FGSM by hand

def test_fgsm_is_the_sign_gradient_step_on_a_linear_model():
    """For logits W x + b, dCE/dx = W^T (softmax(z) - onehot(y)): FGSM is x + eps * sign of that."""
    model = linear_model(k=3, d=16)
    torch.manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(8, 1, 4, 4)                          # away from 0 and 1: no clipping...
    x[0, 0, 0, :2] = torch.tensor([0.0, 1.0])                       # ...except at two pixels
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    eps = 0.1
    with torch.no_grad():
        p = F.softmax(model(x), dim=1)
        grad = ((p - F.one_hot(y, 3).float()) @ model.w).view_as(x)   # (N, D) -> (N, 1, 4, 4)
    expected = (x + eps * grad.sign()).clamp(0, 1)
    assert torch.allclose(fgsm(model, x, y, eps), expected, atol=1e-6)
    # L2: one step of length eps along the gradient
    expected_l2 = x + eps * grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    inside = slice(1, None)                                        # image 0 is clipped at its 0 and 1 pixels
    assert torch.allclose(fgsm(model, x, y, eps, norm="l2")[inside], expected_l2[inside], atol=1e-6)
    # targeted: a step *down* the loss of the target class
    t = (y + 1) % 3
    with torch.no_grad():
        grad_t = ((p - F.one_hot(t, 3).float()) @ model.w).view_as(x)
    assert torch.allclose(fgsm(model, x, y, eps, target=t), (x - eps * grad_t.sign()).clamp(0, 1), atol=1e-6)
    # and the model's weights got no gradient from any of this
    assert model.w.grad is None


def test_pgd_with_one_step_of_size_eps_from_x_is_fgsm():
    model = linear_model()
    x = 0.2 + 0.6 * torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    y = torch.arange(6) % 3
    one = pgd(model, x, y, 0.1, steps=1, step_size=0.1, random_init=False, early_stop=False)
    # PGD keeps the stronger of x and its step; on a linear model the step always raises the loss
    assert torch.allclose(one, fgsm(model, x, y, 0.1), atol=1e-6)


# ====================================================================== strength

def test_pgd_is_at_least_as_strong_as_fgsm_on_a_trained_model(trained):
    model, x, y = trained
    clean = robust_accuracy(model, x, y, Attack("fgsm", eps=0.0)).robust_acc
    fg = robust_accuracy(model, x, y, Attack("fgsm", eps=0.05))
    pg = robust_accuracy(model, x, y, Attack("pgd", eps=0.05, steps=10))
    assert fg.clean_acc == pg.clean_acc == pytest.approx(clean) and clean > 0.6    # the model did learn
    assert pg.robust_acc <= fg.robust_acc < clean
    assert pg.robust_acc < 0.5 * clean


def test_targeted_attack_reaches_its_target(trained):
    model, x, y = trained
    x, y = x[:64], y[:64]
    target = (y + 3) % 10
    x_adv = pgd(model, x, y, eps=0.3, steps=20, target=target)
    with torch.no_grad():
        pred = model(x_adv).argmax(1)
    assert (pred == target).float().mean() >= 0.9
    # linear model, easy case: a large budget reaches any target
    lin = linear_model(k=3, d=16)
    xl = torch.full((30, 1, 4, 4), 0.5)
    yl = torch.arange(30) % 3
    tl = (yl + 1) % 3
    with torch.no_grad():
        assert (lin(pgd(lin, xl, yl, eps=0.5, steps=30, target=tl)).argmax(1) == tl).all()


def test_restarts_never_lower_attack_strength(trained):
    model, x, y = trained
    x, y = x[:128], y[:128]

    def fooled(restarts: int, steps: int = 3) -> torch.Tensor:
        x_adv = pgd(model, x, y, eps=0.03, steps=steps, restarts=restarts, seed=5)
        with torch.no_grad():
            return model(x_adv).argmax(1) != y

    one, three = fooled(1), fooled(3)
    assert (three | ~one).all()                       # every image fooled with one restart is fooled with three
    assert three.sum() >= one.sum()
    # the same holds for the loss that is kept, image by image
    def best_values(restarts: int) -> torch.Tensor:
        def objective(xa, idx):
            v = F.cross_entropy(model(xa), y[idx], reduction="none")
            return v, torch.zeros_like(v, dtype=torch.bool)

        x_best, _ = pgd_maximise(objective, x, 0.03, steps=2, restarts=restarts, early_stop=False, seed=9)
        with torch.no_grad():
            return F.cross_entropy(model(x_best), y, reduction="none")

    assert (best_values(3) >= best_values(1) - 1e-5).all()


def test_robust_accuracy_and_curve(trained):
    model, x, y = trained
    x, y = x[:96], y[:96]
    rows = robustness_curve(model, x, y, [Attack("fgsm"), Attack("pgd", steps=3)], [0.0, 0.02, 0.1], batch_size=40)
    assert len(rows) == 6
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    assert all(r["accuracy"] == pytest.approx(clean) for r in rows if r["eps"] == 0.0)
    pgd_rows = {r["eps"]: r["accuracy"] for r in rows if r["attack"] == "PGD-3"}
    assert pgd_rows[0.1] < pgd_rows[0.0]
    assert "eps=0.1" in rows[-1]["settings"] and "steps=3" in rows[-1]["settings"]
    table = format_curve(rows)
    assert "FGSM" in table and "PGD-3" in table and "eps=0.02" in table
    with pytest.raises(ValueError):
        robust_accuracy(model, x, y, Attack(targeted=True))


def test_attack_settings_are_checked_and_described():
    a = Attack("pgd", eps=0.1, steps=20, restarts=5)
    assert a.name == "PGD-20x5" and a.alpha == pytest.approx(0.0125)
    assert "eps=0.1" in a.describe() and "restarts=5" in a.describe() and "L-inf" in a.describe()
    assert Attack("fgsm", random_init=True).alpha == pytest.approx(0.125)
    assert Attack("fgsm").name == "FGSM" and Attack("fgsm", random_init=True).name == "FGSM-RS"
    for bad in (dict(method="cw"), dict(norm="l1"), dict(eps=-0.1), dict(steps=0), dict(restarts=0), dict(loss="hinge")):
        with pytest.raises(ValueError):
            Attack(**bad)
    with pytest.raises(ValueError, match="target"):
        Attack(targeted=True)(linear_model(), torch.rand(2, 1, 4, 4), torch.zeros(2, dtype=torch.long))


# ====================================================================== the discriminator

def test_attacking_the_discriminator_moves_its_score_both_ways():
    from pgan_lib.models.gan import GAN, GANConfig

    torch.manual_seed(0)
    gan = GAN(GANConfig(g_width=8, d_width=8, cond="label", num_classes=10)).eval()
    x = torch.rand(12, 1, 28, 28)
    labels = torch.arange(12) % 10
    for towards in ("fake", "real"):
        out = attack_discriminator(gan, x, towards, labels=labels, eps=0.1, steps=5)
        assert out.x_adv.shape == x.shape and out.before.shape == out.after.shape == (12,)
        assert (out.x_adv - x).abs().max() <= 0.1 + 1e-6 and out.x_adv.min() >= 0 and out.x_adv.max() <= 1
        moved = out.after - out.before
        assert (moved < 0).all() if towards == "fake" else (moved > 0).all()
        assert "judged real" in out.summary()
    with pytest.raises(ValueError):
        attack_discriminator(gan, x, "sideways", labels=labels)


# ====================================================================== pgan attack

def test_pgan_attack_command(tmp_path, capsys):
    from pgan_lib.checkpoint import save_checkpoint
    from pgan_lib.cli import main

    torch.manual_seed(0)
    model = Classifier(ClassifierConfig(widths=(4, 8), feature_dim=16))     # untrained: only the plumbing is tested
    ckpt = save_checkpoint(tmp_path / "clf", {f"model/{k}": v for k, v in model.state_dict().items()},
                           {"arch": model.arch, "config": model.config_dict()})
    out = tmp_path / "r.json"
    assert main(["attack", "--checkpoint", str(ckpt), "--attack", "pgd", "--eps", "0.05", "--steps", "3",
                 "--restarts", "1", "--n", "64", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "clean accuracy" in printed and "robust accuracy" in printed and "PGD-3" in printed
    result = json.loads(out.read_text())
    assert result["n"] == 64 and 0 <= result["robust_acc"] <= result["clean_acc"] <= 1
    assert result["settings"]["eps"] == 0.05 and result["settings"]["steps"] == 3
    assert main(["attack", "--checkpoint", str(ckpt), "--eps", "-1"]) == 2
    assert main(["attack", "--model", "no-such-model"]) == 2
    assert main(["attack", "--checkpoint", str(ckpt), "--n", "0"]) == 2
    assert "error" in capsys.readouterr().err
