"""VAE: shapes, the KL term, the reparameterisation trick, learning, and the CLI round trip."""
import math

import numpy as np
import pytest
import torch

from pgan_lib.cli import main as pgan
from pgan_lib.data import load_dataset
from pgan_lib.models.vae import VAE, VAEConfig, kl_divergence, reconstruction_nll, reparameterise


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("cond", ["none", "label", "description"])
def test_shapes(size, channels, cond):
    model = VAE(VAEConfig(channels=channels, size=size, cond=cond, num_classes=3, vocab=("red", "mug")))
    x = torch.rand(5, channels, size, size)
    inputs = {"none": None, "label": torch.tensor([0, 1, 2, 0, 1]),
              "description": model.condition.inputs_from_prompts(["red mug"] * 5) if cond == "description" else None}[cond]
    out = model.losses(x, inputs)
    assert all(v.shape == (5,) for v in out.values())
    assert model(x, inputs).shape == x.shape
    kwargs = {"none": {}, "label": {"labels": [0, 1, 2, 0, 1]}, "description": {"prompts": ["red mug"] * 5}}[cond]
    s = model.sample(5, seed=0, **kwargs)
    assert s.shape == x.shape and 0 <= s.min() and s.max() <= 1


def test_kl_matches_a_monte_carlo_estimate():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4) * 0.5
    z = reparameterise(mu.expand(200000, 3, 4), logvar.expand(200000, 3, 4))
    std = torch.exp(0.5 * logvar)
    log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(kl_divergence(mu, logvar), mc, atol=0.03)
    assert torch.allclose(kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_reparameterised_samples_have_the_posterior_moments():
    torch.manual_seed(1)
    mu, logvar = torch.tensor([[2.0, -1.0]]), torch.tensor([[0.0, math.log(4.0)]])
    z = reparameterise(mu.expand(100000, 2), logvar.expand(100000, 2))
    assert torch.allclose(z.mean(0), mu[0], atol=0.03)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), atol=0.03)
    mu.requires_grad_(True)
    reparameterise(mu, logvar).sum().backward()
    assert torch.equal(mu.grad, torch.ones_like(mu))


def test_likelihoods_prefer_the_right_reconstruction():
    x = torch.rand(2, 1, 4, 4).round()
    good, bad = (x * 2 - 1) * 6, -(x * 2 - 1) * 6   # logits that agree / disagree with x
    for lik in ("bernoulli", "gaussian", "l1"):
        assert (reconstruction_nll(x, good, lik) < reconstruction_nll(x, bad, lik)).all()
    assert reconstruction_nll(torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), "bernoulli").item() == pytest.approx(math.log(2))


def test_overfits_one_batch():
    torch.manual_seed(0)
    data = load_dataset("fashion-mnist", "train", limit=32)
    x = data.float_images()
    model = VAE(VAEConfig(latent_dim=8, beta=1.0))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    start = model.losses(x)["neg_elbo"].mean().item()
    for _ in range(150):
        loss = model.losses(x)["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    end = model.losses(x)["neg_elbo"].mean().item()
    assert start > 500 and end < 0.5 * start, (start, end)


def test_cli_train_sample_round_trip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run = tmp_path / "run"
    assert pgan(["train", "cvae-fashion", "--mode", "quick", "--steps", "6", "--out", str(run)]) == 0
    assert (run / "last.safetensors").exists() and (run / "last.json").exists()
    out = tmp_path / "s.npz"
    assert pgan(["sample", "--checkpoint", str(run), "--n", "7", "--prompt", "a dark slim ankle boot", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as f:
        assert f["images"].shape == (7, 28, 28, 1) and f["images"].dtype == np.uint8
        assert f["prompts"].tolist() == ["a dark slim ankle boot"] * 7
    prompts = tmp_path / "p.txt"
    prompts.write_text("a light wide coat\n\nbag, dark, slim fit\n")
    assert pgan(["sample", "--checkpoint", str(run / "last.json"), "--n", "3", "--prompts", str(prompts), "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as f:
        assert f["prompts"].tolist() == ["a light wide coat"] * 3 + ["bag, dark, slim fit"] * 3
    png = tmp_path / "boot.png"
    assert pgan(["generate", "a dark slim ankle boot", "--checkpoint", str(run), "--n", "4", "--out", str(png)]) == 0
    assert png.stat().st_size > 100
    assert pgan(["sample", "--checkpoint", str(run), "--labels", "all", "--out", str(out)]) == 2
    assert "conditioned on descriptions" in capsys.readouterr().err


def test_cli_unconditional_sample(tmp_path):
    run = tmp_path / "run"
    assert pgan(["train", "vae-fashion", "--mode", "quick", "--steps", "3", "--out", str(run)]) == 0
    out = tmp_path / "s.npz"
    assert pgan(["sample", "--checkpoint", str(run), "--n", "5", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as f:
        data = {k for k in f.files if not k.startswith("provenance_")}
        assert data == {"images"} and f["images"].shape == (5, 28, 28, 1)
        assert str(f["provenance_model"]).startswith(str(run)) and str(f["provenance_seed"]) == "0"   # what made them
    assert pgan(["train", "no-such-recipe"]) == 2


def test_vae_with_a_frozen_text_encoder(tmp_path):
    """cond='text': the pre-trained Transformer is copied, stays frozen while the VAE learns, and
    travels inside the checkpoint (vocabulary included)."""
    from dataclasses import asdict

    from pgan_lib.checkpoint import save_checkpoint
    from pgan_lib.models.base import load_model
    from pgan_lib.text import TextEncoder, TextEncoderConfig, TextTokenizer

    data = load_dataset("fashion-mnist", "train", limit=64)
    torch.manual_seed(0)
    encoder = TextEncoder(TextEncoderConfig(vocab=TextTokenizer.build(data.descriptions).vocab, d_model=32, embed_dim=24))
    model = VAE.from_text_encoder(encoder, latent_dim=8)
    assert model.config.cond == "text" and model.condition.dim == 24
    for key, value in encoder.state_dict().items():
        assert torch.equal(model.condition.encoder.state_dict()[key], value)
    frozen = {k: v.clone() for k, v in model.condition.encoder.state_dict().items()}
    opt = model.configure_optimizers(1e-2)["main"]
    trainable = {id(p) for group in opt.param_groups for p in group["params"]}
    assert not trainable & {id(p) for p in model.condition.parameters()}
    tokens = model.condition.inputs_for(data)
    before = model.losses(data.float_images(), tokens)["loss"].mean().item()
    for _ in range(20):
        loss = model.losses(data.float_images(), tokens)["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.losses(data.float_images(), tokens)["loss"].mean().item() < before
    for key, value in model.condition.encoder.state_dict().items():
        assert torch.equal(value, frozen[key]), key

    stem = save_checkpoint(tmp_path / "m", {f"model/{k}": v for k, v in model.state_dict().items()},
                           {"arch": model.arch, "config": asdict(model.config)})
    again = load_model(stem)
    assert again.condition.tokenizer.vocab == encoder.tokenizer.vocab
    a = model.eval().sample(3, prompts=["a dark slim ankle boot"] * 3, seed=1)
    b = again.sample(3, prompts=["a dark slim ankle boot"] * 3, seed=1)
    assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="no words|None of the words"):
        again.sample(1, prompts=["blorp zibble"])
    with pytest.raises(ValueError, match="from_text_encoder"):
        VAEConfig(cond="text")


@pytest.mark.parametrize("cond", ["none", "label", "description"])
def test_preview_decodes_the_fixed_noise_with_the_classes_in_turn(cond):
    torch.manual_seed(0)
    model = VAE(VAEConfig(cond=cond, num_classes=3, vocab=("red", "mug")))
    if cond == "description":           # no classes to take turns: no preview
        assert model.preview(4) is None
        with pytest.raises(ValueError, match="descriptions, not classes"):
            model.labels_in_turn(4)
        return
    want = model.sample(4, labels=model.labels_in_turn(4), z=model.fixed_noise[:4])
    assert torch.equal(model.preview(4), want)
    assert model.labels_in_turn(4) == ([0, 1, 2, 0] if cond == "label" else None)
