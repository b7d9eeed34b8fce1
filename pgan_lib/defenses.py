"""Defences against adversarial examples: adversarial training, and detection by feature squeezing.

**Adversarial training** (Madry et al., 2018) trains on the worst case instead
of the clean image. For a classifier f_theta with loss L it solves

    min_theta  E_(x, y) [ max_{||delta||_inf <= eps, x + delta in [0,1]}  L(f_theta(x + delta), y) ]

The inner maximum has no formula, so every training step first *attacks* the
batch and then takes an ordinary optimiser step on the attacked images:

    x_adv = attack(f_theta, x, y, eps)                       (model in eval mode, weights fixed)
    loss  = (1 - w) * CE(f_theta(x_adv), y) + w * CE(f_theta(x), y)      (w = clean_weight, usually 0)
    theta <- theta - lr * grad_theta loss

with one of two inner attacks (``AdversarialConfig.adv_method``):

    "pgd":     PGD-k with a random start, step alpha = adv_step * eps (Madry et al.); k + 1 passes per step
    "fgsm-rs": one FGSM step from a random start, alpha = 1.25 * eps ("fast is better than free",
               Wong et al., 2020); 2 passes per step, about k/2 times cheaper than PGD-k training

Fast FGSM training can suddenly *overfit catastrophically*: the network learns a
loss surface on which the single FGSM step is useless, FGSM accuracy jumps up
and PGD accuracy collapses to near zero within a few hundred steps. Validation
therefore attacks with PGD (``val_pgd_acc``) and logs ``val_fgsm_acc`` next to it
to make a collapse visible (FGSM accuracy far above PGD accuracy); the kit's
recipe keeps the checkpoint with the best ``val_mean_acc``, the mean of clean and
PGD accuracy, which drops at once when PGD accuracy collapses.

**Feature squeezing** (Xu, Evans & Qi, 2018) detects attacks instead of
resisting them. A "squeezer" s removes detail an attacker relies on:

    bit-depth reduction:  s(x) = round(x * (2^b - 1)) / (2^b - 1)     (2^b grey levels)
    median filter:        s(x)_ij = median of the k x k neighbourhood of pixel (i, j)

A clean image gives nearly the same prediction before and after squeezing; an
adversarial one often does not. The detector's score is the largest L1 distance
between the softmax outputs p(.) of the original and a squeezed image,

    score(x) = max_s || p(x) - p(s(x)) ||_1          (between 0 and 2)

and the image is flagged when score(x) > threshold; the threshold is set on
clean images for a chosen false-positive rate (e.g. 5%).

An attacker who knows the detector can **adapt** (He et al., 2017; Carlini &
Wagner, 2017): attack the original and the squeezed images *together* towards
one wrong class, so all three predictions agree and the score stays small.
Rounding has no useful gradient, so its gradient is taken as the identity
(BPDA, the straight-through estimator: forward q(x), backward d/dx x).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import Attack, classifier_loss, fgsm, pgd, pgd_maximise, robust_accuracy
from .data.base import ProductData
from .data.batches import Batch
from .models.base import TrainingContext
from .models.classifier import Classifier, ClassifierConfig, random_shift_flip

ADV_METHODS = ("fgsm-rs", "pgd", "none")


# ================================================================== adversarial training

@dataclass
class AdversarialConfig(ClassifierConfig):
    """A ``ClassifierConfig`` (the same network) plus how to attack it during training and validation."""

    adv_method: str = "fgsm-rs"        # "fgsm-rs", "pgd" or "none" (plain training, for comparison)
    adv_eps: float = 0.1               # L-inf budget of the training attack, pixels in [0, 1]
    adv_step: float | None = None      # step size as a multiple of eps; None: 1.25 (fgsm-rs) or 2.5 / adv_steps (pgd)
    adv_steps: int = 7                 # PGD steps per training step ("pgd" only)
    adv_ramp_steps: int = 0            # eps grows linearly from 0 to adv_eps over the first steps
    clean_weight: float = 0.0          # w in (1 - w) * CE(adversarial) + w * CE(clean)
    val_eps: float | None = None       # validation attack budget; None: adv_eps
    val_steps: int = 10                # PGD steps of the validation attack
    val_n: int = 512                   # validation images attacked (a fixed subset)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.adv_method not in ADV_METHODS:
            raise ValueError(f"adv_method {self.adv_method!r}: use one of {ADV_METHODS}")
        if self.adv_eps < 0 or not 0.0 <= self.clean_weight <= 1.0:
            raise ValueError(f"need adv_eps >= 0 and 0 <= clean_weight <= 1, got {self.adv_eps}, {self.clean_weight}")
        if self.adv_steps < 1 or self.val_steps < 1 or self.val_n < 1:
            raise ValueError("adv_steps, val_steps and val_n must be at least 1")

    @property
    def step_ratio(self) -> float:
        if self.adv_step is not None:
            return self.adv_step
        return 1.25 if self.adv_method == "fgsm-rs" else 2.5 / self.adv_steps

    def classifier_config(self) -> ClassifierConfig:
        """Just the network's part: what a shipped robust classifier is loaded with."""
        return ClassifierConfig(**{f.name: getattr(self, f.name) for f in fields(ClassifierConfig)})


class AdversarialClassifier(Classifier):
    """The kit's ``Classifier``, trained on attacked images (see the module docstring).

    Same layers and weights as a ``Classifier``; ``classifier()`` returns a plain
    one, which is what gets shipped, so a robust model is used exactly like the
    standard one.
    """

    arch = "classifier-adv"
    Config = AdversarialConfig

    def eps_at(self, step: int) -> float:
        """The training budget at a step: a linear ramp over ``adv_ramp_steps``, then ``adv_eps``."""
        c = self.config
        if c.adv_ramp_steps <= 0:
            return c.adv_eps
        return c.adv_eps * min(1.0, step / c.adv_ramp_steps)

    def attack_batch(self, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        """The training attack on a batch, made with the model in eval mode (no dropout, running
        BatchNorm statistics, which the attack then does not change): (N, C, H, W) -> (N, C, H, W)."""
        c = self.config
        if c.adv_method == "none" or eps <= 0:
            return x
        was_training = self.training
        self.eval()
        try:
            if c.adv_method == "fgsm-rs":
                x_adv = fgsm(self, x, y, eps, "linf", random_init=True, step_size=c.step_ratio * eps)
            else:
                seed = int(torch.randint(0, 2**31 - 1, (1,)))       # from the trainer's RNG: resumable
                x_adv = pgd(self, x, y, eps, "linf", steps=c.adv_steps, step_size=c.step_ratio * eps,
                            early_stop=False, seed=seed)
        finally:
            self.train(was_training)
        return x_adv.detach()

    def training_step(self, batch: Batch, ctx: TrainingContext) -> dict[str, torch.Tensor]:
        c = self.config
        x = random_shift_flip(batch.x, c.shift, c.flip)
        targets = self.targets(batch)
        first = c.heads[0]
        eps = self.eps_at(ctx.step_index)
        x_adv = self.attack_batch(x, targets[first], eps)
        logits = self.all_logits(x_adv)
        loss = torch.stack([F.cross_entropy(logits[h].float(), targets[h], label_smoothing=c.label_smoothing)
                            for h in c.heads]).sum()
        if c.clean_weight > 0:
            clean = self.all_logits(x)
            clean_loss = torch.stack([F.cross_entropy(clean[h].float(), targets[h]) for h in c.heads]).sum()
            loss = (1 - c.clean_weight) * loss + c.clean_weight * clean_loss
        ctx.step("main", loss)
        return {"loss": loss.detach(), "adv_acc": (logits[first].argmax(1) == targets[first]).float().mean().detach(),
                "eps": torch.tensor(eps)}

    def val_attack(self) -> Attack:
        c = self.config
        return Attack("pgd", eps=c.val_eps if c.val_eps is not None else c.adv_eps, steps=c.val_steps, restarts=1)

    def validation_metrics(self, data: ProductData) -> dict[str, float]:
        """Clean ``val_acc`` on the whole split, ``val_pgd_acc`` / ``val_fgsm_acc`` on a fixed subset
        of ``val_n`` images (PGD-val_steps and FGSM at the validation eps), and their balance
        ``val_mean_acc = (val_acc + val_pgd_acc) / 2``, which falls when either falls (a collapse of
        PGD accuracy, or robustness bought with too much clean accuracy)."""
        out = super().validation_metrics(data)
        sub = data.take(self.config.val_n, seed=0)
        x, y = sub.float_images(), sub.labels
        pgd_attack = self.val_attack()
        with torch.enable_grad():        # the trainer validates under no_grad; attacks need gradients
            out["val_pgd_acc"] = robust_accuracy(self, x, y, pgd_attack).robust_acc
            out["val_fgsm_acc"] = robust_accuracy(self, x, y, Attack("fgsm", eps=pgd_attack.eps)).robust_acc
        out["val_mean_acc"] = (out["val_acc"] + out["val_pgd_acc"]) / 2
        return out

    def classifier(self) -> Classifier:
        """A plain ``Classifier`` with these weights (in eval mode)."""
        plain = Classifier(self.config.classifier_config())
        plain.load_state_dict(self.state_dict())
        return plain.to(self.device).eval()


# ================================================================== feature squeezing

def bit_depth(x: torch.Tensor, bits: int, straight_through: bool = False) -> torch.Tensor:
    """Reduce images in [0, 1] to 2^bits grey levels: round(x * (2^b - 1)) / (2^b - 1).

    ``straight_through``: the forward value is the rounded image, the gradient is
    that of the identity (BPDA), so an attacker can differentiate through it.
    """
    if bits < 1:
        raise ValueError(f"bits must be at least 1, got {bits}")
    levels = 2 ** bits - 1
    q = torch.round(x * levels) / levels
    return x + (q - x).detach() if straight_through else q


def median_filter(x: torch.Tensor, size: int = 2) -> torch.Tensor:
    """Median of every size x size neighbourhood, per channel: (N, C, H, W) -> (N, C, H, W).

    The border is padded by repeating it; for an even size the window reaches one
    pixel further right/down, and the lower of the two middle values is taken.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    if size == 1:
        return x
    n, c, h, w = x.shape
    before, after = (size - 1) // 2, size // 2
    padded = F.pad(x, (before, after, before, after), mode="replicate")
    patches = F.unfold(padded, size)                                 # (N, C * size^2, H * W)
    patches = patches.view(n, c, size * size, h * w)
    return patches.median(dim=2).values.view(n, c, h, w)


@dataclass
class FeatureSqueezing:
    """The feature-squeezing detector: squeezers, a score and a threshold.

    score(x) = max over squeezers s of || softmax(f(x)) - softmax(f(s(x))) ||_1,
    flagged when score > threshold (set it with ``fit``).
    """

    bits: int | None = 3               # bit-depth squeezer (None: off)
    median_size: int | None = 2        # median-filter squeezer (None: off)
    threshold: float | None = None

    def squeezers(self, straight_through: bool = False) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        out: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
        bits, size = self.bits, self.median_size
        if bits is not None:
            out[f"{bits}-bit"] = lambda x: bit_depth(x, bits, straight_through)
        if size is not None:
            out[f"median {size}x{size}"] = lambda x: median_filter(x, size)
        if not out:
            raise ValueError("feature squeezing needs at least one squeezer (bits or median_size)")
        return out

    def probabilities(self, model: nn.Module, x: torch.Tensor, straight_through: bool = False) -> list[torch.Tensor]:
        """Softmax outputs (N, K) of the original image and of every squeezed version, in that order."""
        views = [x] + [s(x) for s in self.squeezers(straight_through).values()]
        return [F.softmax(model(v).float(), dim=1) for v in views]

    def score_batch(self, model: nn.Module, x: torch.Tensor, straight_through: bool = False) -> torch.Tensor:
        """The detector score (N,) of one batch, differentiable (for adaptive attacks)."""
        p = self.probabilities(model, x, straight_through)
        return torch.stack([(p[0] - q).abs().sum(1) for q in p[1:]], dim=1).amax(1)

    @torch.no_grad()
    def score(self, model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Scores (N,) of images (N, C, H, W) in [0, 1], in batches, with the model in eval mode; on the CPU."""
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        try:
            out = [self.score_batch(model, images[i:i + batch_size].to(device)).cpu()
                   for i in range(0, len(images), batch_size)]
        finally:
            model.train(was_training)
        return torch.cat(out) if out else torch.zeros(0)

    def fit(self, model: nn.Module, clean_images: torch.Tensor, fpr: float = 0.05) -> float:
        """Set the threshold so that a fraction ``fpr`` of these clean images is flagged; returns it."""
        if not 0.0 <= fpr < 1.0:
            raise ValueError(f"fpr must be in [0, 1), got {fpr}")
        scores = self.score(model, clean_images)
        self.threshold = float(torch.quantile(scores.double(), 1.0 - fpr))
        return self.threshold

    def flag(self, scores: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
        """(N,) bool: score > threshold (the fitted one by default)."""
        thr = self.threshold if threshold is None else threshold
        if thr is None:
            raise ValueError("no threshold: call fit(model, clean_images) first or pass one")
        return scores > thr

    def detect(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """(N,) bool: which images the detector flags as adversarial."""
        return self.flag(self.score(model, images))


def roc_curve(clean_scores: torch.Tensor, adv_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """False- and true-positive rates of "flag when score > t" for every threshold t that changes them.

    Positives are the adversarial images. Returns (fpr, tpr, thresholds), each (T,),
    from the strictest threshold (nothing flagged: fpr = tpr = 0) to the loosest
    (everything flagged: fpr = tpr = 1); both rates never decrease along the curve.
    """
    clean = clean_scores.double().flatten()
    adv = adv_scores.double().flatten()
    if len(clean) == 0 or len(adv) == 0:
        raise ValueError("the ROC curve needs at least one clean and one adversarial score")
    values = torch.cat([clean, adv]).unique(sorted=True).flip(0)          # distinct scores, high to low
    # t = the highest score flags nothing; each lower distinct score flags one more group; below all flags all
    thresholds = torch.cat([values, values[-1:] - 1.0])                    # (T,)
    fpr = (clean[None, :] > thresholds[:, None]).double().mean(1)
    tpr = (adv[None, :] > thresholds[:, None]).double().mean(1)
    return fpr, tpr, thresholds


def auc(fpr: torch.Tensor, tpr: torch.Tensor) -> float:
    """Area under the ROC curve by the trapezoid rule: 0.5 = chance, 1 = perfect separation.

    Equals P(score of a random adversarial image > score of a random clean one), ties counting half.
    """
    return float(torch.trapezoid(tpr.double(), fpr.double()))


@dataclass
class DetectionReport:
    """How a detector fares against one attack, on n images the model classifies correctly."""

    attack: str
    n: int
    auc: float
    threshold: float
    clean_flagged: float        # false-positive rate on the clean images
    adv_flagged: float          # detection rate on all attacked images
    fooled: float               # share of attacked images the model gets wrong
    fooled_unflagged: float     # share both wrong and not flagged: the attacker's real success rate

    def __str__(self) -> str:
        return (f"{self.attack}: AUC {self.auc:.3f}; at threshold {self.threshold:.3f}: {self.clean_flagged:.0%} of clean "
                f"and {self.adv_flagged:.0%} of attacked images flagged; model fooled on {self.fooled:.0%}, "
                f"fooled and not flagged {self.fooled_unflagged:.0%}")


def evaluate_detector(model: nn.Module, detector: FeatureSqueezing, clean: torch.Tensor, attacked: torch.Tensor,
                      labels: torch.Tensor, attack_name: str = "") -> tuple[DetectionReport, dict[str, torch.Tensor]]:
    """ROC/AUC of the detector on clean vs attacked versions of the same images, plus rates at its threshold.

    Returns the report and the raw curve {"fpr", "tpr", "thresholds", "clean_scores", "adv_scores"}.
    """
    s_clean = detector.score(model, clean)
    s_adv = detector.score(model, attacked)
    fpr, tpr, thr = roc_curve(s_clean, s_adv)
    device = next(model.parameters()).device
    labels = labels.cpu()
    with torch.no_grad():
        was = model.training
        model.eval()
        wrong = torch.cat([(model(attacked[i:i + 500].to(device)).argmax(1).cpu() != labels[i:i + 500])
                           for i in range(0, len(attacked), 500)])
        model.train(was)
    threshold = detector.threshold if detector.threshold is not None else float("nan")
    flagged = s_adv > threshold
    report = DetectionReport(attack_name, len(clean), auc(fpr, tpr), threshold, float((s_clean > threshold).float().mean()),
                             float(flagged.float().mean()), float(wrong.float().mean()),
                             float((wrong & ~flagged).float().mean()))
    return report, {"fpr": fpr, "tpr": tpr, "thresholds": thr, "clean_scores": s_clean, "adv_scores": s_adv}


def adaptive_attack(model: nn.Module, detector: FeatureSqueezing, x: torch.Tensor, y: torch.Tensor, eps: float = 0.1,
                    steps: int = 40, step_size: float | None = None, restarts: int = 1, seed: int = 0,
                    detector_weight: float = 1.0) -> torch.Tensor:
    """PGD (L-inf) against classifier *and* detector: x (N, C, H, W) in [0, 1], y (N,) -> x' (N, C, H, W).

    Every image gets a target t: the wrong class the model finds most likely on x.
    The attack maximises, with straight-through gradients through the rounding,

        - sum_views CE(f(view(x')), t)  -  detector_weight * score(x')

    over the views x', s_1(x'), s_2(x') (original and squeezed), i.e. it makes all
    views say t, so they agree and the score stays low. An image counts as done
    when the model says t *and* the score is below the detector's threshold.
    """
    if detector.threshold is None:
        raise ValueError("fit the detector's threshold first (detector.fit)")
    threshold = detector.threshold
    was_training = model.training
    model.eval()
    x, y = x.detach(), y.to(x.device)
    with torch.no_grad():
        logits = model(x)
        target = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).argmax(1)   # (N,)
    squeeze = list(detector.squeezers(straight_through=True).values())

    def objective(xa: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        views = [xa] + [s(xa) for s in squeeze]
        z = [model(v) for v in views]
        p = [F.softmax(zi.float(), dim=1) for zi in z]
        score = torch.stack([(p[0] - q).abs().sum(1) for q in p[1:]], dim=1).amax(1)
        t = target[idx]
        value = sum(classifier_loss(zi, y[idx], t) for zi in z) - detector_weight * score
        done = (z[0].detach().argmax(1) == t) & (score.detach() <= threshold)
        return value, done

    try:
        x_adv, _ = pgd_maximise(objective, x, eps, "linf", steps, step_size, restarts, True, early_stop=True, seed=seed)
    finally:
        model.train(was_training)
    return x_adv


# ================================================================== comparing training methods

def seconds_per_step(config: AdversarialConfig, batch_size: int = 64, steps: int = 3, seed: int = 0) -> float:
    """Wall-clock seconds of one training step of ``config`` on random images (to compare the costs)."""
    torch.manual_seed(seed)
    model = AdversarialClassifier(config).train()
    opt = model.configure_optimizers(1e-3)["main"]
    x = torch.rand(batch_size, config.channels, config.size, config.size)
    y = torch.randint(0, config.head_sizes[0], (batch_size,))
    batch = Batch(x, y, torch.arange(batch_size))

    class Context:                                  # what the trainer hands to training_step
        step_index = 1

        def step(self, name: str, loss: torch.Tensor) -> None:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    ctx = Context()
    model.training_step(batch, ctx)                 # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        model.training_step(batch, ctx)
    return (time.perf_counter() - t0) / steps


__all__ = [
    "ADV_METHODS", "AdversarialConfig", "AdversarialClassifier", "DetectionReport", "FeatureSqueezing",
    "adaptive_attack", "auc", "bit_depth", "evaluate_detector", "median_filter", "roc_curve", "seconds_per_step",
]
