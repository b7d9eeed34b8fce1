"""Adversarial examples: small, deliberate changes to an image that flip a model's answer.

An attacker is given an image x (pixels in [0, 1]) with true class y and a
budget eps. It looks for x' = x + delta with

    ||delta|| <= eps     and     0 <= x' <= 1     (still a valid image)

that the classifier gets wrong. Two norms measure the budget:

    L-inf:  ||delta||_inf = max_i |delta_i|       every pixel may move by up to eps
    L2:     ||delta||_2   = sqrt(sum_i delta_i^2)  the total change is at most eps

All attacks here climb the classifier's loss L(x', y) (cross-entropy, or the
margin loss below) with its gradient with respect to the *image*, g = dL/dx'.

FGSM, the fast gradient sign method (Goodfellow et al., 2015), takes one step
of the full budget:

    L-inf:  x' = clip(x + eps * sign(g))
    L2:     x' = clip(x + eps * g / ||g||_2)

With a random start (Wong et al., 2020: "fast is better than free") the step
starts from a random point of the ball and has its own size alpha:

    x0 = x + u, u ~ Uniform(ball of radius eps)
    x' = clip(project(x0 + alpha * sign(g(x0)) - x) + x)

PGD, projected gradient descent (Madry et al., 2018), repeats small steps of
size alpha and projects back onto the allowed set after each:

    x_0     = x + u                                  (random start, or x)
    x_{t+1} = Proj_{ball(x, eps) and [0,1]} ( x_t + alpha * sign(g(x_t)) )     L-inf
    x_{t+1} = Proj_{ball(x, eps) and [0,1]} ( x_t + alpha * g / ||g||_2 )      L2

and, with restarts, begins again from another random start; for every image it
keeps the strongest point it found (a wrong answer beats a right one, then the
higher loss), so more steps or more restarts can never weaken it.
The default step size alpha = 2.5 * eps / steps lets the walk cross the ball
and back.

The projection onto "ball and valid pixels" is, per image,

    L-inf:  delta <- clamp(delta, -eps, eps)
    L2:     delta <- delta * min(1, eps / ||delta||_2)
    then:   delta <- clamp(x + delta, 0, 1) - x

(clamping to [0, 1] only moves pixels towards x, so it never leaves the ball).

Targeted attacks descend the loss of a chosen target class t instead:
x_{t+1} = x_t - alpha * sign(dL(x_t, t)/dx); they succeed when the model says t.

The margin loss (Carlini & Wagner, 2017) is the gap between the best wrong
logit and the right one, max_{j != y} z_j - z_y: positive exactly when the
model is fooled.

The same machinery points at a GAN discriminator (``attack_discriminator``):
push real products towards "fake" (lower D(x)), generated ones towards "real".
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

NORMS = ("linf", "l2")
METHODS = ("fgsm", "pgd")
LOSSES = ("ce", "margin")

# objective(x_adv (k, C, H, W), idx (k,)) -> (value to maximise (k,), success (k,) bool)
Objective = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


# -- the geometry: norms, random starts, steps, projection ---------------------------------------

def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm {norm!r}: use one of {NORMS}")


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-image L2 norm: (N, C, H, W) -> (N, 1, 1, 1), never zero."""
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.ndim - 1)))


def project(x: torch.Tensor, delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """The perturbation moved back into the eps-ball of ``norm`` and the valid range: x + delta in [0, 1]."""
    _check_norm(norm)
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * (eps / _flat_norm(delta)).clamp(max=1.0)
    return (x + delta).clamp(0.0, 1.0) - x


def random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random perturbation, uniform in the eps-ball (then clipped to valid pixels): (N, C, H, W).

    L-inf: every pixel ~ Uniform(-eps, eps). L2: a uniform direction (a normalised
    Gaussian) times a radius eps * u^(1/d), u ~ Uniform(0, 1), d = pixels per image.
    """
    _check_norm(norm)
    shape = x.shape
    if norm == "linf":
        delta = (torch.rand(shape, generator=generator) * 2 - 1) * eps
    else:
        d = math.prod(shape[1:])
        direction = torch.randn(shape, generator=generator)
        radius = eps * torch.rand(shape[0], generator=generator) ** (1.0 / d)
        delta = direction / _flat_norm(direction) * radius.view(-1, *([1] * (len(shape) - 1)))
    return project(x, delta.to(x.device, x.dtype), eps, norm)


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent step of unit size: sign(g) for L-inf, g / ||g||_2 for L2."""
    _check_norm(norm)
    return grad.sign() if norm == "linf" else grad / _flat_norm(grad)


def default_step_size(eps: float, steps: int) -> float:
    """alpha = 2.5 * eps / steps (Madry et al.): enough to reach the border from anywhere in the ball."""
    return 2.5 * eps / max(steps, 1)


# -- losses on a classifier ----------------------------------------------------------------------

def classifier_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None,
                    loss: str = "ce") -> torch.Tensor:
    """The per-image value an attack maximises, (N, K) logits -> (N,).

    untargeted: CE(z, y)          or  max_{j != y} z_j - z_y     (margin)
    targeted:   -CE(z, t)         or  z_t - max_{j != t} z_j
    """
    if loss not in LOSSES:
        raise ValueError(f"loss {loss!r}: use one of {LOSSES}")
    logits = logits.float()
    label = y if target is None else target
    if loss == "ce":
        value = F.cross_entropy(logits, label, reduction="none")
        return value if target is None else -value
    own = logits.gather(1, label[:, None]).squeeze(1)                               # (N,)
    others = logits.masked_fill(F.one_hot(label, logits.shape[1]).bool(), float("-inf")).amax(1)
    return others - own if target is None else own - others


def classifier_success(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) bool: the model is fooled (untargeted: argmax != y) or says the target (argmax == t)."""
    pred = logits.argmax(1)
    return pred != y if target is None else pred == target


# -- FGSM ------------------------------------------------------------------------------------------

def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None,
                   loss: str = "ce") -> torch.Tensor:
    """d(loss)/dx for every image at once: (N, C, H, W). Only the image's gradient is computed,
    the model's weights are left untouched."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        value = classifier_loss(model(x), y, target, loss).sum()   # a sum: each image gets its own gradient
        (grad,) = torch.autograd.grad(value, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "linf",
         target: torch.Tensor | None = None, random_init: bool = False, step_size: float | None = None,
         loss: str = "ce", generator: torch.Generator | None = None) -> torch.Tensor:
    """One gradient step of size eps (or ``step_size``), kept in the eps-ball and in [0, 1].

    x (N, C, H, W) in [0, 1], y (N,) true classes, target (N,) for a targeted attack.
    With ``random_init`` the step starts from a random point of the ball
    (default step 1.25 * eps, as in Wong et al. 2020). Returns x' (N, C, H, W).
    """
    x = x.detach()
    if step_size is None:
        step_size = 1.25 * eps if random_init else eps
    delta = random_start(x, eps, norm, generator) if random_init else torch.zeros_like(x)
    grad = input_gradient(model, x + delta, y, target, loss)
    delta = project(x, delta + step_size * ascent_direction(grad, norm), eps, norm)
    return (x + delta).detach()


# -- PGD ---------------------------------------------------------------------------------------------

def pgd_maximise(objective: Objective, x: torch.Tensor, eps: float, norm: str = "linf", steps: int = 20,
                 step_size: float | None = None, restarts: int = 1, random_init: bool = True,
                 early_stop: bool = True, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The PGD loop for any objective; returns the strongest x' found per image and whether it succeeded.

    ``objective(x_adv, idx)`` gives, for the images ``idx`` of the batch, the value
    to maximise (k,) and whether each one already counts as a success (k,).
    For each image the best point seen (over all steps and restarts) is kept: a
    success beats a failure, then the higher value wins. With ``early_stop`` an
    image that succeeded is not attacked further (which saves most of the work on
    a non-robust model and changes no accuracy). Restarts only attack the images
    that have not yet succeeded; restart r draws its random start from ``seed + r``,
    so the first restart is the same whatever the number of restarts.

    x (N, C, H, W) -> (x' (N, C, H, W), success (N,) bool)
    """
    _check_norm(norm)
    if steps < 0 or restarts < 1:
        raise ValueError(f"steps must be >= 0 and restarts >= 1, got steps={steps}, restarts={restarts}")
    x = x.detach()
    n = x.shape[0]
    alpha = default_step_size(eps, steps) if step_size is None else step_size
    best_x = x.clone()
    best_value = torch.full((n,), float("-inf"), device=x.device)
    best_success = torch.zeros(n, dtype=torch.bool, device=x.device)
    for r in range(restarts):
        active = torch.arange(n, device=x.device) if not early_stop else (~best_success).nonzero().flatten()
        if len(active) == 0:
            break
        gen = torch.Generator().manual_seed(seed + r)
        x0 = x[active]
        delta = random_start(x0, eps, norm, gen) if random_init else torch.zeros_like(x0)
        for t in range(steps + 1):
            xt = (x0 + delta).detach().requires_grad_(t < steps)
            with torch.enable_grad() if t < steps else torch.no_grad():
                value, success = objective(xt, active)
                total = value.sum()                     # a sum: each image gets its own gradient
            value_d = value.detach().float()
            # keep the better point: success first, then the larger value
            better = (success & ~best_success[active]) | ((success == best_success[active]) & (value_d > best_value[active]))
            if better.any():
                where = active[better]
                best_x[where] = xt.detach()[better]
                best_value[where] = value_d[better]
                best_success[where] = success[better]
            if t == steps:
                break
            (grad,) = torch.autograd.grad(total, xt)
            delta = project(x0, delta + alpha * ascent_direction(grad, norm), eps, norm)
            if early_stop and success.any():           # done with these images
                keep = ~success
                active, x0, delta = active[keep], x0[keep], delta[keep]
                if len(active) == 0:
                    break
    return best_x.detach(), best_success


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "linf", steps: int = 20,
        step_size: float | None = None, restarts: int = 1, random_init: bool = True,
        target: torch.Tensor | None = None, loss: str = "ce", early_stop: bool = True, seed: int = 0) -> torch.Tensor:
    """PGD on a classifier (see the module docstring): x (N, C, H, W) in [0, 1], y (N,) -> x' (N, C, H, W).

    ``target`` (N,) makes it targeted; ``loss`` is "ce" or "margin". The model is
    used as it is (call ``model.eval()`` first to attack the deployed model).
    """
    y = y.to(x.device)
    tgt = None if target is None else target.to(x.device)

    def objective(xa: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(xa)
        t = None if tgt is None else tgt[idx]
        return classifier_loss(logits, y[idx], t, loss), classifier_success(logits.detach(), y[idx], t)

    x_adv, _ = pgd_maximise(objective, x, eps, norm, steps, step_size, restarts, random_init, early_stop, seed)
    return x_adv


# -- one attack as a value: its settings, its name, how to run it ----------------------------------------

@dataclass(frozen=True)
class Attack:
    """The settings of one attack; calling it attacks a batch, ``describe()`` names it with its settings.

    method "fgsm" ignores ``steps`` and ``restarts``; its ``random_init`` defaults to off.
    step_size None: eps for FGSM (1.25 * eps with a random start), 2.5 * eps / steps for PGD.
    """

    method: str = "pgd"
    eps: float = 0.1
    norm: str = "linf"
    steps: int = 20
    step_size: float | None = None
    restarts: int = 1
    random_init: bool | None = None          # None: on for PGD, off for FGSM
    loss: str = "ce"
    targeted: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"attack {self.method!r}: use one of {METHODS}")
        _check_norm(self.norm)
        if self.loss not in LOSSES:
            raise ValueError(f"loss {self.loss!r}: use one of {LOSSES}")
        if not self.eps >= 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")
        if self.method == "pgd" and (self.steps < 1 or self.restarts < 1):
            raise ValueError(f"PGD needs steps >= 1 and restarts >= 1, got {self.steps} and {self.restarts}")

    @property
    def uses_random_init(self) -> bool:
        return self.method == "pgd" if self.random_init is None else self.random_init

    @property
    def alpha(self) -> float:
        if self.step_size is not None:
            return self.step_size
        if self.method == "fgsm":
            return 1.25 * self.eps if self.uses_random_init else self.eps
        return default_step_size(self.eps, self.steps)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 target: torch.Tensor | None = None) -> torch.Tensor:
        if self.targeted and target is None:
            raise ValueError("a targeted attack needs target classes")
        tgt = target if self.targeted else None
        if self.method == "fgsm":
            gen = torch.Generator().manual_seed(self.seed)
            return fgsm(model, x, y, self.eps, self.norm, tgt, self.uses_random_init, self.alpha, self.loss, gen)
        return pgd(model, x, y, self.eps, self.norm, self.steps, self.alpha, self.restarts, self.uses_random_init,
                   tgt, self.loss, early_stop=True, seed=self.seed)

    @property
    def name(self) -> str:
        """Short name for tables: FGSM, FGSM-RS, PGD-20, PGD-100x5."""
        if self.method == "fgsm":
            return "FGSM-RS" if self.uses_random_init else "FGSM"
        return f"PGD-{self.steps}" + (f"x{self.restarts}" if self.restarts > 1 else "")

    def describe(self) -> str:
        """Every setting that changes the number, e.g.
        'PGD-20 L-inf eps=0.1 step=0.0125 restarts=1 random start, CE loss, untargeted'."""
        norm = "L-inf" if self.norm == "linf" else "L2"
        parts = [f"{self.name} {norm} eps={self.eps:g} step={self.alpha:.4g}"]
        if self.method == "pgd":
            parts.append(f"steps={self.steps} restarts={self.restarts}")
        parts.append("random start" if self.uses_random_init else "no random start")
        text = " ".join(parts) + f", {self.loss.upper() if self.loss == 'ce' else 'margin'} loss"
        return text + (", targeted" if self.targeted else ", untargeted")

    def settings(self) -> dict:
        """The settings as a dict (for JSON), with the step size actually used."""
        return {**asdict(self), "step_size": self.alpha, "random_init": self.uses_random_init, "name": self.name}


# -- measuring: clean and robust accuracy, the robustness curve -----------------------------------------

@dataclass
class AttackReport:
    """Clean and robust accuracy of one model under one attack, on n images."""

    attack: str
    settings: dict
    n: int
    clean_acc: float
    robust_acc: float
    seconds: float
    mean_linf: float            # average size of the perturbations actually used
    mean_l2: float

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return (f"{self.attack}: clean {self.clean_acc:.2%}, robust {self.robust_acc:.2%} "
                f"on {self.n} images ({self.seconds:.1f} s)")


def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attack: Attack,
                    batch_size: int = 500, progress: bool = False) -> AttackReport:
    """Accuracy on the clean images and on their attacked versions, in batches, with the model in eval mode.

    images (N, C, H, W) float in [0, 1] (or uint8, divided by 255), labels (N,).
    An image counts as robust when the model is right on it *and* on its attacked
    version; images the model already gets wrong are not attacked.
    """
    if attack.targeted:
        raise ValueError("robust accuracy is measured with untargeted attacks")
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    device = _model_device(model)
    was_training = model.training
    model.eval()
    t0 = time.time()
    clean_right = robust_right = 0
    linf_sum = l2_sum = 0.0
    starts = range(0, len(images), batch_size)
    bar = None
    if progress:

        bar = tqdm(total=len(images), desc=attack.name, unit="img")
    try:
        for i in starts:
            x = images[i:i + batch_size].to(device)
            y = labels[i:i + batch_size].to(device)
            with torch.no_grad():
                right = model(x).argmax(1) == y
            clean_right += int(right.sum())
            if right.any():
                xs, ys = x[right], y[right]
                x_adv = attack(model, xs, ys) if attack.eps > 0 else xs     # eps = 0: nothing to search
                with torch.no_grad():
                    robust_right += int((model(x_adv).argmax(1) == ys).sum())
                diff = (x_adv - xs).flatten(1)
                linf_sum += float(diff.abs().amax(1).sum())
                l2_sum += float(diff.norm(dim=1).sum())
            if bar is not None:
                bar.update(len(x))
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    n = max(len(images), 1)
    attacked = max(clean_right, 1)
    return AttackReport(attack.describe(), attack.settings(), len(images), clean_right / n, robust_right / n,
                        time.time() - t0, linf_sum / attacked, l2_sum / attacked)


def robustness_curve(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attacks: Sequence[Attack],
                     epsilons: Sequence[float], batch_size: int = 500) -> list[dict]:
    """Accuracy versus eps for several attacks: one row per (attack, eps).

    Each attack in ``attacks`` is a template; its eps is replaced by each value of
    ``epsilons`` (and its default step size follows eps). eps = 0 is the clean accuracy.
    Row: {"attack": name, "eps": e, "accuracy": a, "settings": describe()}.
    """
    rows = []
    for template in attacks:
        for e in epsilons:
            a = replace(template, eps=float(e))
            rep = robust_accuracy(model, images, labels, a, batch_size)
            rows.append({"attack": a.name, "norm": a.norm, "eps": float(e), "accuracy": rep.robust_acc,
                         "settings": a.describe()})
    return rows


def format_curve(rows: Sequence[dict], models: Sequence[str] | None = None) -> str:
    """The rows of ``robustness_curve`` as a text table: one line per attack, one column per eps.

    Rows may carry a "model" key (curves of several models in one table)."""
    epsilons = sorted({r["eps"] for r in rows})
    keys: list[tuple[str, str]] = []
    for r in rows:
        k = (r.get("model", ""), r["attack"])
        if k not in keys:
            keys.append(k)
    width = max(len(f"{m} {a}".strip()) for m, a in keys) + 2
    lines = [" " * width + "".join(f"{'eps=' + format(e, 'g'):>10s}" for e in epsilons)]
    for m, a in keys:
        acc = {r["eps"]: r["accuracy"] for r in rows if r.get("model", "") == m and r["attack"] == a}
        cells = "".join(f"{acc[e]:>10.1%}" if e in acc else f"{'':>10s}" for e in epsilons)
        lines.append(f"{(m + ' ' + a).strip():<{width}s}" + cells)
    return "\n".join(lines)


def plot_curve(rows: Sequence[dict], ax=None, title: str | None = None):
    """Accuracy versus eps, one line per (model, attack). Returns the axes."""
    import matplotlib.pyplot as plt  # pyplot only when a figure is drawn (it picks a backend on import)

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    keys: list[tuple[str, str]] = []
    for r in rows:
        k = (r.get("model", ""), r["attack"])
        if k not in keys:
            keys.append(k)
    styles = ["-", "--", ":", "-."]
    models = list(dict.fromkeys(m for m, _ in keys))
    attacks = list(dict.fromkeys(a for _, a in keys))
    for m, a in keys:
        pts = sorted((r["eps"], r["accuracy"]) for r in rows if r.get("model", "") == m and r["attack"] == a)
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", ms=4,
                linestyle=styles[attacks.index(a) % len(styles)], color=f"C{models.index(m)}",
                label=f"{m} {a}".strip())
    ax.set_xlabel("eps (L-inf, pixels in [0, 1])" if all(r.get("norm", "linf") == "linf" for r in rows) else "eps")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


# -- attacking a GAN discriminator ---------------------------------------------------------------------

def discriminator_scores(gan, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """D's score (N,) for images x in [0, 1] (high = "real"), conditioned on ``labels`` for a conditional GAN.

    Uses the discriminator itself (no DiffAugment), so the score is deterministic in eval mode.
    """
    d = gan.discriminator
    cond = gan.cond_inputs(labels=labels, n=len(x)) if gan.condition is not None else None
    return d(x * 2 - 1, cond)


@dataclass
class DiscriminatorAttack:
    """The outcome of pushing images across D's decision boundary (score 0)."""

    x_adv: torch.Tensor          # (N, C, H, W) in [0, 1]
    before: torch.Tensor         # D's scores (N,) on the original images
    after: torch.Tensor          # D's scores (N,) on the attacked ones
    towards: str                 # "real" or "fake"

    @property
    def fooled(self) -> torch.Tensor:
        """(N,) bool: D now calls the image what the attacker wanted."""
        return self.after > 0 if self.towards == "real" else self.after < 0

    def summary(self) -> str:
        side = (lambda s: (s > 0).float().mean().item())
        return (f"judged real: {side(self.before):.0%} before, {side(self.after):.0%} after "
                f"(mean score {self.before.mean():.3f} -> {self.after.mean():.3f})")


def attack_discriminator(gan, x: torch.Tensor, towards: str, labels: torch.Tensor | None = None,
                         eps: float = 0.1, norm: str = "linf", steps: int = 20, step_size: float | None = None,
                         seed: int = 0) -> DiscriminatorAttack:
    """PGD on D's score: ``towards="fake"`` lowers D(x) (real products made to look fake),
    ``towards="real"`` raises it (generated products made to look real).

    The attack keeps going after crossing the boundary (no early stop) and keeps the
    most extreme score it reached. x (N, C, H, W) in [0, 1].
    """
    if towards not in ("real", "fake"):
        raise ValueError(f"towards {towards!r}: use 'real' or 'fake'")
    sign = 1.0 if towards == "real" else -1.0
    was_training = gan.training
    gan.eval()
    device = gan.device
    x = x.to(device)
    lab = None if labels is None else torch.as_tensor(labels).to(device)

    def objective(xa: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = discriminator_scores(gan, xa, None if lab is None else lab[idx])
        return sign * s, (sign * s.detach()) > 0

    try:
        with torch.no_grad():
            before = discriminator_scores(gan, x, lab)
        x_adv, _ = pgd_maximise(objective, x, eps, norm, steps, step_size, 1, True, early_stop=False, seed=seed)
        with torch.no_grad():
            after = discriminator_scores(gan, x_adv, lab)
    finally:
        gan.train(was_training)
    return DiscriminatorAttack(x_adv, before.cpu(), after.cpu(), towards)


__all__ = [
    "Attack", "AttackReport", "DiscriminatorAttack", "attack_discriminator", "classifier_loss", "classifier_success",
    "default_step_size", "discriminator_scores", "fgsm", "format_curve", "input_gradient", "pgd", "pgd_maximise",
    "plot_curve", "project", "random_start", "robust_accuracy", "robustness_curve",
]
