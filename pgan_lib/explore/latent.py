"""Latent maths: which way to move z, and how to go from one z to another.

Pure torch functions on latents and images; nothing here loads a model or keeps
anything between calls.

- **directions**: which way to move z. Two kinds, both found from a sample of
  images a model draws from known latents (``directions_from_samples``):

  * ``pc1`` ... ``pc4`` -- image PCA mapped back to the latent (the GANSpace
    idea). PCA of the latents themselves would find nothing: z ~ N(0, I) has the
    same spread in every direction. So we take the principal components of the
    *images* and, for each one, the latent direction that goes with it
    (the covariance of z with that component's score).
  * ``darker`` and ``wider`` -- attribute differences: the mean latent of the
    darkest third of the sampled products minus the mean latent of the
    lightest third, measured by ``shade_value``, the rule that writes "dark"
    and "light" into the kit's descriptions (``wider``: the same with
    ``width_value``, the rule behind "slim" and "wide").

  Each direction has unit length, so a slider value of 1 moves z by one
  standard deviation of the prior N(0, I).
- **interpolation** between two latents, along a straight line (``lerp``) or an
  arc (``slerp``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.attributes import shade_value, width_value

ATTRIBUTES = ("darker", "wider")


@dataclass(frozen=True)
class Directions:
    """Unit latent directions, one per slider."""

    names: tuple[str, ...]       # "pc1", ..., "darker", "wider"
    labels: tuple[str, ...]      # slider captions
    vectors: torch.Tensor        # (len(names), latent_dim), each of length 1

    def vector(self, name: str) -> torch.Tensor:
        if name not in self.names:
            raise ValueError(f"unknown direction {name!r}; this model has {', '.join(self.names)}")
        return self.vectors[self.names.index(name)]


def seed_latent(latent_dim: int, seed: int) -> torch.Tensor:
    """z (latent_dim,) for a seed: the same z that ``model.sample(1, seed=seed)`` draws."""
    return torch.randn(1, latent_dim, generator=torch.Generator().manual_seed(int(seed)))[0]


# --------------------------------------------------------------------------------------------
# Directions from a sample of images and the latents they came from
# --------------------------------------------------------------------------------------------

def image_ink(images: torch.Tensor) -> torch.Tensor:
    """Images as "ink" (N, 1, H, W): Fashion-MNIST's grey values as they are, 1 - brightness for colour."""
    if images.shape[1] == 1:
        return images
    return 1.0 - images.mean(1, keepdim=True)


def attribute_scores(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image scores (N,) behind the attribute directions: darkness and width."""
    ink = image_ink(images.float().cpu())
    return {"darker": shade_value(ink), "wider": width_value(ink)}


def attribute_direction(z: torch.Tensor, score: torch.Tensor, fraction: float = 1 / 3) -> torch.Tensor:
    """Unit direction: mean z of the top ``fraction`` by score minus mean z of the bottom ``fraction``."""
    order = score.argsort()
    k = max(1, int(len(score) * fraction))
    diff = z[order[-k:]].mean(0) - z[order[:k]].mean(0)
    return diff / diff.norm().clamp(min=1e-8)


def image_pca_directions(z: torch.Tensor, images: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent directions (k, D) that go with the k leading principal components of the images.

    For component j with per-image score s_j, the direction is cov(z, s_j),
    normalised: the way z moves, on average, when the image moves along the
    component. Signs are chosen so that positive scores go with more ink.
    Also returns each component's share of the image variance (k,).
    """
    x = images.float().cpu().flatten(1)
    x = x - x.mean(0)
    # The leading components by randomised SVD (much faster than a full SVD), from a fixed
    # random start so the same images always give the same directions.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _, s, v = torch.pca_lowrank(x, q=min(k + 8, *x.shape), center=False, niter=4)
    scores = x @ v[:, :k]                                   # (N, k): each image's score on each component
    # A component's sign is arbitrary: choose it so that positive means more ink (darker or bigger).
    ink = image_ink(images.float().cpu()).flatten(1).sum(1)
    scores = scores * torch.where((scores * (ink - ink.mean())[:, None]).sum(0) < 0, -1.0, 1.0)
    zc = z - z.mean(0)
    dirs = (zc.T @ scores).T                                # (k, D): covariance of z with each score, times N
    dirs = dirs / dirs.norm(dim=1, keepdim=True).clamp(min=1e-8)
    share = s[:k] ** 2 / x.pow(2).sum()                     # share of the total image variance
    return dirs, share


def directions_from_samples(z: torch.Tensor, images: torch.Tensor, n_pca: int) -> Directions:
    """The slider directions from latents z (N, D) and the images (N, C, H, W) a model drew from them.

    ``n_pca`` image-PCA directions (``pc1`` ...), then one attribute direction
    per name in ``ATTRIBUTES``; each PCA slider's caption gives its share of the
    image variance.
    """
    pcs, share = image_pca_directions(z, images, n_pca)
    scores = attribute_scores(images)
    vectors = torch.cat([pcs, torch.stack([attribute_direction(z, scores[a]) for a in ATTRIBUTES])])
    names = tuple(f"pc{j + 1}" for j in range(n_pca)) + ATTRIBUTES
    labels = tuple(f"PC {j + 1} ({100 * v:.0f}%)" for j, v in enumerate(share.tolist())) + ATTRIBUTES
    return Directions(names, labels, vectors)


# --------------------------------------------------------------------------------------------
# Interpolation
# --------------------------------------------------------------------------------------------

def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: (1 - t) a + t b, for each t; a, b (D,), t (N,) -> (N, D)."""
    t = t[:, None]
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Along the great circle from a to b (spherical interpolation); a, b (D,), t (N,) -> (N, D).

        slerp(a, b, t) = sin((1 - t) w) / sin(w) * a + sin(t w) / sin(w) * b,   w = angle between a and b

    Gaussian latents lie near a sphere of radius sqrt(D); the midpoint of a
    straight line is shorter than that (about sqrt(D/2) for independent a, b), a
    z the generator seldom saw. The arc keeps the length typical.
    """
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:
        return lerp(a, b, t)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


__all__ = [
    "ATTRIBUTES", "Directions", "attribute_direction", "attribute_scores", "directions_from_samples",
    "image_ink", "image_pca_directions", "lerp", "seed_latent", "slerp",
]
