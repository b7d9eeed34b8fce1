"""Checks for notebook 03 (GAN basics): the two players' losses and the training step itself.

Exercises (references in ``pgan_lib.models.gan``; f are D's raw outputs, logits):

    d_loss_ns(f_real, f_fake) -> scalar    BCE(f_real, 1) + BCE(f_fake, 0)      check_d_loss(fn, "ns")
    g_loss_ns(f_fake) -> scalar            BCE(f_fake, 1)                       check_g_loss(fn, "ns")
    d_loss_hinge(f_real, f_fake)           mean relu(1 - f_real) + mean relu(1 + f_fake)   check_d_loss(fn, "hinge")
    g_loss_hinge(f_fake)                   -mean f_fake                         check_g_loss(fn, "hinge")
    update_D(G, D, opt_d, real, z) -> float   one discriminator step            check_gan_steps(update_D, update_G)
    update_G(G, D, opt_g, z) -> float          one generator step
                                           then a real run:                     check_gan_training(update_D, update_G)

``real`` are images in [-1, 1] (N, 1, 28, 28), ``z`` noise (N, latent_dim);
``G(z)`` and ``D(x)`` are the kit's DCGAN ``Generator`` and ``Discriminator``
(unconditional). ``check_gan_steps`` takes one step of each from copies of the
same networks and looks at what moved (fast: catches a D step that leaks into G,
a missing optimiser step, both players minimising the same loss, D's and G's
roles swapped). ``check_gan_training`` trains a small GAN with the student's
steps (``TRAIN_STEPS`` steps at learning rate ``TRAIN_LR``, about 10 s on two quiet CPU cores) and asserts that the
kit classifier's FID against validation photos fell by ``FID_DROP`` or more.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..data import load_dataset
from ..eval import metrics
from ..eval.features import shipped_extractor
from ..models import gan as Gm
from .check import CheckResult, Fail, as_tensor_or_fail, compare, exercise_check, expect, rel_error

LOSS_KINDS = ("ns", "hinge")
TRAIN_STEPS = 150
TRAIN_LR = 1e-3
BATCH = 64
FID_DROP = 0.6          # the trained generator's FID must be at most 60% of the untrained one's


def _logits() -> tuple[torch.Tensor, torch.Tensor]:
    """D outputs with typical values and two extreme ones (a confident D) where a naive log overflows."""
    g = torch.Generator().manual_seed(0)
    real = torch.cat([torch.randn(14, generator=g) * 2, torch.tensor([40.0, -40.0])])
    fake = torch.cat([torch.randn(14, generator=g) * 2 - 1, torch.tensor([-40.0, 40.0])])
    return real, fake


@exercise_check("discriminator loss")
def check_d_loss(fn, kind: str = "ns") -> str:
    if kind not in LOSS_KINDS:
        raise ValueError(f"kind {kind!r}: use one of {LOSS_KINDS}")
    real, fake = _logits()
    ref = Gm.d_loss(kind, real, fake)
    out = as_tensor_or_fail(fn(real.clone(), fake.clone()), f"L_D ({kind})")
    if out.ndim and out.numel() == len(real):
        raise Fail(f"L_D ({kind}): one value per image; average over the batch to one number")
    if out.numel() == 1 and not torch.isfinite(out).all():
        raise Fail(f"L_D ({kind}): inf or nan on confident logits (+-40): work with the logits "
                   "(softplus or binary_cross_entropy_with_logits), not log(sigmoid(f))")
    if out.numel() == 1:
        swapped = Gm.d_loss(kind, fake, real)
        if rel_error(out, swapped) < 1e-5:
            raise Fail(f"L_D ({kind}): real and fake are swapped: D should score real images high")
        if kind == "hinge":
            no_relu = (1 - real).mean() + (1 + fake).mean()
            expect(rel_error(out, no_relu) > 1e-5, "L_D (hinge): the hinge is missing: clip each margin at 0 (relu)")
            half = Gm.F.relu(1 - real).mean()
            expect(rel_error(out, half) > 1e-5, "L_D (hinge): a term is missing: the fake images' term")
        else:
            expect(rel_error(out, Gm.F.softplus(-real).mean()) > 1e-5, "L_D (ns): a term is missing: the fake images' term")
    compare(out.reshape(()), ref, f"L_D ({kind})")
    return f"matches d_loss('{kind}', ...) on 16 pairs of logits, confident ones included"


@exercise_check("generator loss")
def check_g_loss(fn, kind: str = "ns") -> str:
    if kind not in LOSS_KINDS:
        raise ValueError(f"kind {kind!r}: use one of {LOSS_KINDS}")
    _, fake = _logits()
    ref = Gm.g_loss(kind, fake)
    out = as_tensor_or_fail(fn(fake.clone()), f"L_G ({kind})")
    if out.ndim and out.numel() == len(fake):
        raise Fail(f"L_G ({kind}): one value per image; average over the batch to one number")
    if out.numel() == 1 and not torch.isfinite(out).all():
        raise Fail(f"L_G ({kind}): inf or nan on confident logits (+-40): work with the logits (softplus)")
    if out.numel() == 1 and kind == "ns":
        expect(rel_error(out, Gm.g_loss("minimax", fake)) > 1e-5,
               "L_G (ns): that is the saturating (minimax) loss log(1 - D(G(z))); the non-saturating one "
               "maximises log D(G(z)) instead")
        expect(rel_error(out, Gm.F.softplus(fake).mean()) > 1e-5,
               "L_G (ns): you minimise D's loss on the fakes: G wants D to call them real (target 1)")
    if out.numel() == 1 and kind == "hinge":
        expect(rel_error(out, Gm.F.relu(1 - fake).mean()) > 1e-5,
               "L_G (hinge): G's hinge loss has no clipping: it is the plain -mean f_fake")
    compare(out.reshape(()), ref, f"L_G ({kind})")
    return f"matches g_loss('{kind}', ...)"


# -- the training step ----------------------------------------------------------------------------------

def small_config(**changes) -> Gm.GANConfig:
    """The notebook's small unconditional DCGAN: 32-d noise, width 32, spectral norm in D, NS loss."""
    base = dict(latent_dim=32, g_width=32, d_width=32, loss="ns", d_norm="spectral", ema_decay=0.0)
    return Gm.GANConfig(**{**base, **changes})


def make_players(seed: int = 0, **changes) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A fresh (G, D) pair of the kit's DCGAN networks, seeded."""
    torch.manual_seed(seed)
    cfg = small_config(**changes)
    return Gm.Generator(cfg), Gm.Discriminator(cfg)


def make_optimizers(G, D, lr: float = 2e-4) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Adam for each player, DCGAN's betas (0.5, 0.999)."""
    return (torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999)),
            torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999)))


def reference_update_D(G, D, opt_d, real, z) -> float:
    """The library's D step (what ``GAN.training_step`` does, without the options): NS loss, G's images detached."""
    fake = G(z).detach()
    loss = Gm.d_loss("ns", D(real), D(fake))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.item()


def reference_update_G(G, D, opt_g, z) -> float:
    """The library's G step: NS loss through a D whose weights do not learn from it."""
    D.requires_grad_(False)
    loss = Gm.g_loss("ns", D(G(z)))
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    D.requires_grad_(True)
    return loss.item()


def _real_batch(n: int = BATCH, seed: int = 0) -> torch.Tensor:
    data = load_dataset("fashion-mnist", "train")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.float_images(idx) * 2 - 1


def _params(m: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in m.parameters()]


def _moved(before: list[torch.Tensor], m: torch.nn.Module) -> float:
    return max(float((a - b.detach()).abs().max()) for a, b in zip(before, m.parameters()))


def _run_step(state, step, stale: str | None):
    """Copies of (G, D, opt_d, opt_g), grads cleared (or filled with stale values on ``stale``), one ``step``."""
    G, D, opt_d, opt_g = copy.deepcopy(state)
    for name, m in (("G", G), ("D", D)):
        for p in m.parameters():
            p.grad = torch.full_like(p, 1e3) if name == stale else None
    out = step(G, D, opt_d, opt_g)
    return G, D, out


@exercise_check("GAN training steps")
def check_gan_steps(update_D, update_G) -> str:
    real = _real_batch()
    z = torch.randn(BATCH, small_config().latent_dim, generator=torch.Generator().manual_seed(1))
    # warm up with a few reference steps so D has an opinion, then test one student step of each
    G, D = make_players(0)
    opt_d, opt_g = make_optimizers(G, D, lr=1e-3)
    for _ in range(3):
        reference_update_D(G, D, opt_d, real, z)
        reference_update_G(G, D, opt_g, z)
    state = (G, D, opt_d, opt_g)

    def margin(G, D) -> float:   # how well D separates: mean D(real) - mean D(G(z))
        with torch.no_grad():
            return float(D(real).mean() - D(G(z)).mean())

    def score(G, D) -> float:    # D's mean score of G's images
        with torch.no_grad():
            return float(D(G(z)).mean())

    # -- D step: G must not move or receive gradients, D must separate better, old gradients must not count
    d_step = lambda G, D, opt_d, opt_g: update_D(G, D, opt_d, real.clone(), z.clone())  # noqa: E731
    G1, D1, out = _run_step(state, d_step, None)
    expect(out is not None, "update_D returned None: return the loss as a number (loss.item())")
    expect(_moved(_params(G), G1) == 0, "update_D changed G's weights: only D learns in D's step")
    expect(all(p.grad is None or float(p.grad.abs().max()) == 0 for p in G1.parameters()),
           "update_D sent gradients into G: detach G's images in D's step (D's loss must not reach G)")
    expect(_moved(_params(D), D1) > 0, "update_D did not change D: backward() and opt_d.step() are both needed")
    _, D2, _ = _run_step(state, d_step, "D")
    expect(_moved(_params(D1), D2) == 0, "update_D's result depends on gradients left from an earlier step: "
                                         "zero D's gradients (opt_d.zero_grad()) before backward()")
    expect(margin(G1, D1) > margin(G, D), "after D's step, D tells real from fake worse than before: D minimised "
                                          "the wrong loss (real and fake swapped, or G's loss)")

    # -- G step: D must not move; G must make D score its images higher; old gradients must not count
    g_step = lambda G, D, opt_d, opt_g: update_G(G, D, opt_g, z.clone())  # noqa: E731
    G1, D1, out = _run_step(state, g_step, None)
    expect(out is not None, "update_G returned None: return the loss as a number (loss.item())")
    expect(_moved(_params(D), D1) == 0, "update_G changed D's weights: in G's step only G learns")
    expect(_moved(_params(G), G1) > 0, "update_G did not change G: backward() and opt_g.step() are both needed")
    G2, _, _ = _run_step(state, g_step, "G")
    expect(_moved(_params(G1), G2) == 0, "update_G's result depends on gradients left from an earlier step: "
                                         "zero G's gradients (opt_g.zero_grad()) before backward()")
    expect(score(G1, D1) > score(G, D), "after G's step, D scores G's images lower than before: G minimised D's "
                                        "loss (both players minimising the same loss) or the sign of G's loss is flipped")
    return "D's step separates real from fake better and leaves G alone; G's step raises D's score of its images"


@dataclass
class GANRun:
    """A short run of the small GAN with given step functions."""

    steps: int
    fid_start: float
    fid_end: float
    seconds: float
    loss_d: list[float] = field(default_factory=list)
    loss_g: list[float] = field(default_factory=list)
    generator: torch.nn.Module | None = None
    z: torch.Tensor | None = None

    def samples(self, n: int = 32) -> torch.Tensor:
        """Images in [0, 1] from the trained generator, fixed noise."""
        if self.generator is None or self.z is None:
            raise ValueError("this run holds no generator")
        with torch.no_grad():
            return ((self.generator(self.z[:n]) + 1) / 2).clamp(0, 1)


def _fid(G, z, real_stats) -> float:
    ext = shipped_extractor("fashion-classifier")
    with torch.no_grad():
        imgs = ((G(z) + 1) / 2).clamp(0, 1)
    return metrics.frechet_distance(*metrics.feature_stats(ext(imgs).features), *real_stats)


def train_small_gan(update_D, update_G, steps: int = TRAIN_STEPS, seed: int = 0, progress: bool = True,
                    lr: float = TRAIN_LR, g_steps: int = 1, **changes) -> GANRun:
    """Train the small GAN for ``steps`` steps with the given step functions on Fashion-MNIST (quick subset).

    ``lr`` is both players' Adam learning rate; ``g_steps`` generator steps follow each D step (more than
    one lets G chase a discriminator that stands still); ``changes`` are GANConfig fields (e.g. ``d_norm="none"``).
    FID: the kit classifier's features of 500 samples (fixed noise) against 1000 validation photos.
    """
    train = load_dataset("fashion-mnist", "train", limit=4096)
    val = load_dataset("fashion-mnist", "val", limit=1000)
    ext = shipped_extractor("fashion-classifier")
    real_stats = metrics.feature_stats(ext(val.images).features)
    G, D = make_players(seed, **changes)
    opt_d, opt_g = make_optimizers(G, D, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    z_eval = torch.randn(500, small_config().latent_dim, generator=torch.Generator().manual_seed(123))
    run = GANRun(steps, _fid(G, z_eval, real_stats), float("nan"), 0.0, generator=G, z=z_eval)
    x_all = train.float_images() * 2 - 1
    t0 = time.perf_counter()
    bar = None
    if progress:
        bar = tqdm(total=steps, desc="training the small GAN", leave=False)
    for _ in range(steps):
        idx = torch.randint(len(x_all), (BATCH,), generator=gen)
        z = torch.randn(BATCH, small_config().latent_dim, generator=gen)
        run.loss_d.append(float(update_D(G, D, opt_d, x_all[idx], z)))
        for _ in range(g_steps):
            z = torch.randn(BATCH, small_config().latent_dim, generator=gen)
            run.loss_g.append(float(update_G(G, D, opt_g, z)))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    run.seconds = time.perf_counter() - t0
    run.fid_end = _fid(G, z_eval, real_stats)
    return run


def check_gan_training(update_D, update_G, steps: int = TRAIN_STEPS, quiet: bool = False) -> tuple[CheckResult, GANRun | None]:
    """Train the small GAN with the student's steps; PASS when FID fell to ``FID_DROP`` x the start or below.

    Returns (result, run); run is None when the steps are not written yet or crashed.
    """
    holder: dict[str, GANRun] = {}

    @exercise_check("GAN training")
    def body(update_D, update_G) -> str:
        run = train_small_gan(update_D, update_G, steps=steps)
        holder["run"] = run
        expect(all(map(lambda v: v == v, run.loss_d + run.loss_g)), "a loss became nan during training")
        expect(run.fid_end <= FID_DROP * run.fid_start,
               f"FID went from {run.fid_start:.1f} to {run.fid_end:.1f} in {steps} steps: it should fall to at most "
               f"{FID_DROP:.0%} of the start. Run check_gan_steps first: it names what is wrong in a step")
        return f"FID of 500 samples fell from {run.fid_start:.1f} to {run.fid_end:.1f} in {steps} steps ({run.seconds:.0f} s)"

    result = body(update_D, update_G, quiet=quiet)
    return result, holder.get("run")


__all__ = [
    "check_d_loss", "check_g_loss", "check_gan_steps", "check_gan_training", "train_small_gan", "GANRun",
    "reference_update_D", "reference_update_G", "make_players", "make_optimizers", "small_config",
    "TRAIN_STEPS", "TRAIN_LR", "FID_DROP",
]
