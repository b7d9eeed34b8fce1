"""Small, fast GAN experiments for the notebooks: the classic failures, in seconds on a CPU.

Two failures every GAN course shows, on a toy problem where they are easy to see:
eight Gaussian blobs on a ring in the plane (each blob a "product class"), a
generator and a discriminator that are small MLPs.

``discriminator_wins_demo``: with the original *minimax* generator loss
log(1 - D(G(z))), a discriminator that gets ahead of the generator rejects
every fake with D(G(z)) ~ 0, where the loss is flat:

    d/df log(1 - sigmoid(f)) = -sigmoid(f)  -> 0   as f -> -inf

so the generator's gradient vanishes and it stops learning. The
*non-saturating* loss -log D(G(z)) has gradient -(1 - sigmoid(f)) -> -1 there,
and training goes on.

``mode_collapse_demo``: a plain GAN's generator often covers only a few of the
eight blobs and hops between them from one snapshot to the next (the
discriminator chases it around the ring); the count of covered blobs stays
below eight.

``class_histogram_of`` counts the classes the kit classifier sees in a
generator's samples: the same failure, measured on product images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .eval.features import shipped_extractor
from .eval.metrics import class_histogram
from .models.gan import d_loss, g_loss


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """n points (n, 2): a blob centre chosen at random on a circle, plus N(0, std^2) noise."""
    k = torch.randint(0, modes, (n,), generator=generator)
    angle = 2 * math.pi * k.float() / modes
    centres = torch.stack([angle.cos(), angle.sin()], 1) * radius
    return centres + std * torch.randn(n, 2, generator=generator)


def mlp(d_in: int, d_out: int, hidden: int = 128, depth: int = 3) -> nn.Sequential:
    """(N, d_in) -> (N, d_out): ``depth`` hidden layers of ``hidden`` units with ReLU."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, d_out))
    return nn.Sequential(*layers)


def modes_covered(points: torch.Tensor, modes: int = 8, radius: float = 2.0, tol: float = 0.25,
                  min_share: float = 0.02) -> int:
    """How many ring blobs hold at least ``min_share`` of the points (points within ``tol`` of a centre)."""
    angle = 2 * math.pi * torch.arange(modes).float() / modes
    centres = torch.stack([angle.cos(), angle.sin()], 1) * radius     # (modes, 2)
    dist = torch.cdist(points.float(), centres)                         # (N, modes)
    near, which = dist.min(1)
    counts = torch.bincount(which[near < tol], minlength=modes)
    return int((counts >= min_share * len(points)).sum())


@dataclass
class ToyRun:
    """What a toy GAN run recorded: per-step scalars and sample snapshots."""

    steps: list[int] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)         # mean sigmoid(D(x)) on real points
    d_fake: list[float] = field(default_factory=list)         # mean sigmoid(D(G(z)))
    g_grad_norm: list[float] = field(default_factory=list)    # norm of the generator's gradient
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)   # (step, samples (n, 2))

    def modes(self) -> list[int]:
        """Blobs covered in each snapshot."""
        return [modes_covered(s) for _, s in self.snapshots]


def train_toy_gan(loss: str = "ns", steps: int = 2000, batch_size: int = 128, lr_g: float = 1e-3,
                  lr_d: float = 1e-3, d_steps: int = 1, latent_dim: int = 2, seed: int = 0,
                  snapshot_every: int = 250, n_snapshot: int = 1000) -> ToyRun:
    """Train an MLP GAN on the ring of Gaussians; ``loss`` is one of gan.LOSSES except wgan-gp."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G, D = mlp(latent_dim, 2), mlp(2, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    fixed_z = torch.randn(n_snapshot, latent_dim, generator=gen)
    run = ToyRun()
    for step in range(1, steps + 1):
        for _ in range(d_steps):
            real = ring_of_gaussians(batch_size, generator=gen)
            fake = G(torch.randn(batch_size, latent_dim, generator=gen)).detach()
            f_real, f_fake = D(real).squeeze(1), D(fake).squeeze(1)
            opt_d.zero_grad()
            d_loss(loss, f_real, f_fake).backward()
            opt_d.step()
        f_gen = D(G(torch.randn(batch_size, latent_dim, generator=gen))).squeeze(1)
        opt_g.zero_grad()
        g_loss(loss, f_gen).backward()
        grad = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in G.parameters() if p.grad is not None))
        opt_g.step()
        run.steps.append(step)
        run.d_real.append(torch.sigmoid(f_real).mean().item())
        run.d_fake.append(torch.sigmoid(f_gen.detach()).mean().item())
        run.g_grad_norm.append(grad)
        if step % snapshot_every == 0:
            with torch.no_grad():
                run.snapshots.append((step, G(fixed_z)))
    return run


@dataclass
class DWinsRun:
    """How the generator's gradient changes while D, against a fixed G, gets better and better."""

    d_steps: list[int] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)          # mean sigmoid(D(G(z)))
    grad_minimax: list[float] = field(default_factory=list)    # ||d L_G / d theta_G|| with log(1 - D(G(z)))
    grad_ns: list[float] = field(default_factory=list)         # ... with -log D(G(z))


def discriminator_wins_demo(d_steps: int = 600, every: int = 50, seed: int = 0, batch_size: int = 256) -> DWinsRun:
    """Train D alone against an untrained G and measure G's gradient under both losses as D wins.

    G never moves, so D soon tells its samples apart perfectly (D(G(z)) -> 0);
    the minimax gradient then shrinks towards zero while the non-saturating
    one does not (Arjovsky & Bottou, 2017).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G, D = mlp(2, 2, hidden=64), mlp(2, 1, hidden=64)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    z = torch.randn(batch_size, 2, generator=gen)
    run = DWinsRun()
    for step in range(d_steps + 1):
        if step % every == 0:
            f_gen = D(G(z)).squeeze(1)
            norms = {}
            for loss in ("minimax", "ns"):
                grads = torch.autograd.grad(g_loss(loss, f_gen), list(G.parameters()), retain_graph=True)
                norms[loss] = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
            run.d_steps.append(step)
            run.d_fake.append(torch.sigmoid(f_gen).mean().item())
            run.grad_minimax.append(norms["minimax"])
            run.grad_ns.append(norms["ns"])
        real = ring_of_gaussians(batch_size, generator=gen)
        with torch.no_grad():
            fake = G(torch.randn(batch_size, 2, generator=gen))
        opt_d.zero_grad()
        d_loss("ns", D(real).squeeze(1), D(fake).squeeze(1)).backward()
        opt_d.step()
    return run


def mode_collapse_demo(steps: int = 3000, seed: int = 0) -> ToyRun:
    """A plain non-saturating GAN on the ring: see ``ToyRun.modes()`` and plot ``snapshots`` (about 20 s)."""
    return train_toy_gan("ns", steps=steps, lr_g=1e-3, lr_d=1e-3, seed=seed, snapshot_every=max(1, steps // 6))


def plot_toy_run(run: ToyRun, axes=None):
    """Scatter each snapshot's samples over the real blobs, one panel per snapshot; returns the axes."""
    import matplotlib.pyplot as plt  # pyplot only when a figure is drawn (it picks a backend on import)

    if axes is None:
        _, axes = plt.subplots(1, len(run.snapshots), figsize=(2.2 * len(run.snapshots), 2.4), squeeze=False)
        axes = axes[0]
    real = ring_of_gaussians(1000, generator=torch.Generator().manual_seed(0))
    for ax, (step, pts) in zip(axes, run.snapshots):
        ax.scatter(real[:, 0], real[:, 1], s=2, c="lightgrey")
        ax.scatter(pts[:, 0], pts[:, 1], s=2, c="tab:red")
        ax.set_title(f"step {step}: {modes_covered(pts)}/8", fontsize=9)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_xticks([])
        ax.set_yticks([])
    return axes


@torch.no_grad()
def class_histogram_of(images: torch.Tensor, classifier: str = "fashion-classifier", num_classes: int = 10) -> torch.Tensor:
    """Counts of the classes the shipped kit classifier assigns to images ((N, C, H, W) in [0, 1], or uint8).

    A healthy generator gives roughly equal counts; a collapsed one leaves classes empty.
    """
    ext = shipped_extractor(classifier)
    return class_histogram(ext(images).predicted(ext.heads[0]), num_classes)


@torch.no_grad()
def class_grid(model, per_class: int = 8, seed: int = 0) -> torch.Tensor:
    """``per_class`` samples of every class of a label-conditioned GAN, class after class:
    (num_classes * per_class, C, H, W) in [0, 1]; show it with ``viz.show_grid(..., ncols=per_class)``."""
    k = model.config.num_classes
    labels = torch.arange(k).repeat_interleave(per_class)
    return model.sample(len(labels), labels=labels, seed=seed)


def plot_class_histogram(counts: torch.Tensor, names: list[str] | None = None, ax=None, title: str = ""):
    """A bar chart of class counts (e.g. from ``class_histogram_of``); returns the axis."""
    import matplotlib.pyplot as plt  # pyplot only when a figure is drawn (it picks a backend on import)

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2.5))
    counts = torch.as_tensor(counts)
    names = names or [str(i) for i in range(len(counts))]
    ax.bar(range(len(counts)), counts.tolist(), color="tab:blue")
    ax.set_xticks(range(len(counts)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("samples")
    if title:
        ax.set_title(title)
    return ax


__all__ = [
    "ring_of_gaussians", "modes_covered", "train_toy_gan", "ToyRun", "DWinsRun", "discriminator_wins_demo",
    "mode_collapse_demo", "plot_toy_run", "class_histogram_of", "class_grid", "plot_class_histogram",
]
