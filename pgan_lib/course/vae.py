"""Checks for notebook 01 (VAE basics): the reparameterisation sample and the closed-form KL.

Exercises (references in ``pgan_lib.models.vae``):

    reparameterise(mu, logvar) -> z (N, D)    z = mu + sigma * eps       check_reparameterise
    kl_divergence(mu, logvar) -> (N,)         KL(N(mu, sigma^2) || N(0, I)) summed over D
                                                                         check_kl_divergence

``logvar`` is log sigma^2. The sample is checked by its behaviour (shape,
randomness, mean and spread over 20,000 draws, gradient into mu and logvar),
the KL against the library on fixed inputs, term by term.
"""
from __future__ import annotations

import torch

from ..models import vae as V
from .check import Fail, as_tensor_or_fail, compare, exercise_check, expect


@exercise_check("reparameterise")
def check_reparameterise(reparameterise) -> str:
    n = 20000
    base_mu = torch.tensor([0.0, 2.0, -1.0])
    base_lv = torch.tensor([0.0, -2.0, 1.0])           # sigma = 1, 0.37, 1.65
    mu = base_mu.repeat(n, 1).requires_grad_(True)
    logvar = base_lv.repeat(n, 1).requires_grad_(True)
    torch.manual_seed(0)
    z = as_tensor_or_fail(reparameterise(mu, logvar), "z")
    expect(z.shape == mu.shape, f"z has shape {tuple(z.shape)}; it should have mu's shape {tuple(mu.shape)}")
    zd = z.detach()
    expect(float(zd.std(0).max()) > 1e-3, "no randomness: every z is the same (draw eps ~ N(0, I) for each entry)")
    sigma = torch.exp(0.5 * base_lv)
    mean, std = zd.mean(0), zd.std(0)
    expect(torch.allclose(mean, base_mu, atol=0.05), "the samples are not centred on mu")
    if torch.allclose(std, torch.exp(base_lv), rtol=0.05):
        raise Fail("scale: the spread is sigma^2; logvar is log sigma^2, so sigma = exp(logvar / 2)")
    if torch.allclose(std, base_lv.abs(), rtol=0.05, atol=0.02):
        raise Fail("scale: you used logvar itself as the spread; sigma = exp(logvar / 2)")
    expect(torch.allclose(std, sigma, rtol=0.05), f"the spread of z per dimension is {[round(v, 2) for v in std.tolist()]}, "
                                                   "not sigma: check how sigma is made from logvar")
    expect(z.requires_grad, "no gradient: z must be computed from mu and logvar (not sampled with torch.normal "
                            "or detached), else the encoder cannot learn")
    z.sum().backward()
    expect(mu.grad is not None and torch.allclose(mu.grad, torch.ones_like(mu)),
           "the gradient of z with respect to mu should be 1: z = mu + (something that does not depend on mu)")
    expect(logvar.grad is not None and float(logvar.grad.abs().sum()) > 0, "no gradient reaches logvar")
    return "right shape, centred on mu, spread sigma, gradients flow into mu and logvar"


def _kl_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 5, generator=g) * 1.5, torch.randn(6, 5, generator=g)


@exercise_check("kl_divergence")
def check_kl_divergence(kl_divergence) -> str:
    mu, logvar = _kl_inputs()
    ref = V.kl_divergence(mu, logvar)
    out = as_tensor_or_fail(kl_divergence(mu.clone(), logvar.clone()), "KL")
    if out.shape == mu.shape:
        raise Fail(f"KL: shape {tuple(out.shape)}: sum over the latent dimensions to get one KL per item, (N,)")
    if out.shape == ():
        raise Fail("KL: a single number: return one KL per item, shape (N,) (no mean over the batch)")
    # term by term: the prior against itself is 0, sigma = 1 leaves only the mu^2 term, mu = 0 the variance terms
    zero = as_tensor_or_fail(kl_divergence(torch.zeros(2, 5), torch.zeros(2, 5)), "KL")
    expect(zero.shape == (2,) and float(zero.abs().max()) < 1e-6,
           "KL(N(0, I) || N(0, I)) must be 0: a constant term is wrong or missing")
    only_mu = kl_divergence(mu.clone(), torch.zeros_like(logvar))
    try:
        compare(only_mu, V.kl_divergence(mu, torch.zeros_like(logvar)), "KL with sigma = 1")
    except Fail as err:
        raise Fail(f"{err}; with sigma = 1 only the term in mu^2 is left: that term is wrong") from None
    only_var = kl_divergence(torch.zeros_like(mu), logvar.clone())
    try:
        compare(only_var, V.kl_divergence(torch.zeros_like(mu), logvar), "KL with mu = 0")
    except Fail as err:
        raise Fail(f"{err}; with mu = 0 only the variance terms (sigma^2 - 1 - log sigma^2) are left: one of them "
                   "is wrong or missing") from None
    compare(out, ref, "KL")
    return "matches the closed form term by term, and KL(N(0,I) || N(0,I)) = 0"


__all__ = ["check_reparameterise", "check_kl_divergence"]
