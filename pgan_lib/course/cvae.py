"""Checks for notebook 02 (the conditional VAE): the conditional ELBO and reading a description.

Exercises (references in ``pgan_lib.models.vae`` and ``pgan_lib.conditioning``):

    negative_elbo(model, x, cond_inputs) -> (N,)   -ELBO per image, the condition in encoder and decoder
                                                                           check_negative_elbo
    bag_of_words(encoder, tokens) -> c (N, dim)    the description's condition vector: the MLP of the mean
                                                   of the known words' vectors (padding 0, unknown 1 left out)
                                                                           check_bag_of_words

The ELBO check builds a small label-conditioned VAE (seeded, eval mode) and
draws the same eps as the reference by seeding before both calls, so a
correct answer matches to float precision.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models import vae as V
from ..text import BagOfWordsEncoder
from .check import Fail, as_tensor_or_fail, compare, exercise_check, rel_error


def small_cvae(seed: int = 0) -> V.VAE:
    """A tiny label-conditioned VAE (untrained, seeded) in eval mode: the check's fixed model."""
    torch.manual_seed(seed)
    model = V.VAE(V.VAEConfig(cond="label", latent_dim=6, hidden=8, cond_dim=5)).eval()
    with torch.no_grad():           # a posterior far from the prior, as after training: the KL term matters
        last = model.to_stats[-1]
        assert isinstance(last, nn.Linear)
        last.weight.mul_(30)
    return model


def _batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 28, 28, generator=g), torch.arange(n) % 10


def _variants(model: V.VAE, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The usual wrong answers, computed the same way, to name the mistake."""
    with torch.no_grad():
        c = model.cond_vector(y)
        mu, logvar = model.encode(x, c)
        torch.manual_seed(7)
        z = V.reparameterise(mu, logvar)
        rec = V.reconstruction_nll(x, model.decode_logits(z, c), model.config.likelihood)
        kl = V.kl_divergence(mu, logvar)
        rec_mu = V.reconstruction_nll(x, model.decode_logits(mu, c), model.config.likelihood)
    return {"rec": rec, "kl": kl, "rec_mu": rec_mu + kl}


@exercise_check("conditional negative ELBO")
def check_negative_elbo(negative_elbo) -> str:
    model = small_cvae()
    x, y = _batch()
    torch.manual_seed(7)
    with torch.no_grad():
        ref = model.losses(x, y)["neg_elbo"]
    torch.manual_seed(7)
    with torch.no_grad():
        try:
            out = negative_elbo(model, x.clone(), y.clone())
        except RuntimeError as err:
            if "shape" in str(err) or "size" in str(err):
                raise Fail(f"a shape error ({err}): the encoder and the decoder both take the condition vector c "
                           "(model.encode(x, c), model.decode_logits(z, c))") from None
            raise
    out = as_tensor_or_fail(out, "-ELBO")
    if out.shape == ():
        raise Fail("-ELBO: a single number: return one value per image, shape (N,) (the trainer takes the mean)")
    try:
        compare(out, ref, "-ELBO", tol=1e-4)
    except Fail:
        if out.shape == ref.shape and torch.isfinite(out).all():   # name the usual mistakes
            v = _variants(model, x, y)
            if rel_error(out, v["rec"]) < 1e-4:
                raise Fail("a term is missing: your value is the reconstruction term alone (add the KL)") from None
            if rel_error(out, v["kl"]) < 1e-4:
                raise Fail("a term is missing: your value is the KL alone (add the reconstruction NLL)") from None
            if rel_error(out, v["rec_mu"]) < 1e-4:
                raise Fail("you decoded mu: the reconstruction term is an expectation over q(z|x, c); "
                           "decode a sample z = mu + sigma * eps") from None
            if rel_error(out, v["rec"] - v["kl"]) < 1e-4:
                raise Fail("sign: the KL is a cost, -ELBO = reconstruction NLL + KL") from None
        raise
    return "matches VAE.losses(...)['neg_elbo'] on a fixed batch"


def small_bag_of_words(seed: int = 0) -> BagOfWordsEncoder:
    torch.manual_seed(seed)
    return BagOfWordsEncoder(["dark", "light", "slim", "wide", "ankle", "boot", "dress"], dim=6)


def _tokens(enc: BagOfWordsEncoder) -> torch.Tensor:
    """Padded token ids of descriptions of different lengths, with unknown-word ids (1) written in."""
    tokens = enc.tokenizer.encode(["a dark slim ankle boot", "light dress", "wide dress", "dark boot"], check=False)
    tokens[1, 2] = 1                           # "light dress <unk>"
    tokens[3, 0:2] = torch.tensor([1, 1])      # "<unk> <unk>" in place of "dark boot"
    tokens[3, 2] = enc.tokenizer.encode(["boot"], check=False)[0, 0]
    return tokens


@exercise_check("bag-of-words condition")
def check_bag_of_words(bag_of_words) -> str:
    enc = small_bag_of_words()
    tokens = _tokens(enc)
    with torch.no_grad():
        ref = enc(tokens)
        out = as_tensor_or_fail(bag_of_words(enc, tokens.clone()), "c")
        try:
            compare(out, ref, "c", tol=1e-5)
        except Fail:
            if out.shape == ref.shape and torch.isfinite(out).all():     # name the usual mistakes
                vecs = enc.embed(tokens)
                known = (tokens > 1).unsqueeze(-1).float()
                nonpad = (tokens > 0).unsqueeze(-1).float()
                if rel_error(out, enc.mlp(vecs.mean(1))) < 1e-4:
                    raise Fail("your mean runs over the padding too (token 0): short descriptions get diluted") from None
                if rel_error(out, enc.mlp((vecs * nonpad).sum(1) / nonpad.sum(1).clamp(min=1))) < 1e-4:
                    raise Fail("unknown words (token 1) enter your mean: they must be left out like padding") from None
                if rel_error(out, (vecs * known).sum(1) / known.sum(1).clamp(min=1)) < 1e-4:
                    raise Fail("the mean is right, but c is the encoder's MLP applied to it (encoder.mlp)") from None
                if rel_error(out, enc.mlp((vecs * known).sum(1))) < 1e-4:
                    raise Fail("that is the sum of the word vectors: divide by the number of known words") from None
            raise
    return "matches BagOfWordsEncoder on padded descriptions with unknown words"


__all__ = ["check_negative_elbo", "check_bag_of_words", "small_cvae", "small_bag_of_words"]
