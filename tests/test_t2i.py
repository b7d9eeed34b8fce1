"""Contrastive pre-training and the text-conditioned GAN: the loss on hand-made cases, mismatched
pairs, retrieval, shapes, a quick end-to-end run, checkpoints, the CLI with a prompts file, and the
shipped models."""
import math
import warnings

import numpy as np
import pytest
import torch

from pgan_lib import pretrained
from pgan_lib.cli import main as pgan
from pgan_lib.data.catalog import load_catalog
from pgan_lib.eval.attributes import attribute_accuracy
from pgan_lib.eval.prompts import combo_keys, prompt_set
from pgan_lib.models.base import load_model
from pgan_lib.models.clip import (
    CLIP,
    CLIPConfig,
    attribute_keys,
    contrastive_loss,
    mismatched_index,
    rephrasings,
    retrieval_recall,
    soft_targets,
)
from pgan_lib.models.t2i import T2IConfig, TextToImageGAN
from pgan_lib.pretrained import export_sampler
from pgan_lib.text import TextTokenizer, TextWarning
from pgan_lib.train import TrainConfig, Trainer

torch.set_num_threads(1)


# -- the contrastive loss -----------------------------------------------------------------------

def test_contrastive_loss_by_hand():
    # Two pairs, orthogonal unit embeddings: S = s * I. Each row's softmax gives e^s / (e^s + 1) to
    # the right partner, so both directions lose -log(e^s / (e^s + 1)) = log(1 + e^-s).
    u = torch.eye(2)
    for s in (1.0, 3.0):
        expected = math.log(1 + math.exp(-s))
        assert contrastive_loss(u, u, s) == pytest.approx(expected, abs=1e-6)
    # Swapped texts: every image is closest to the wrong description.
    assert contrastive_loss(u, u.flip(0), 1.0) == pytest.approx(math.log(1 + math.exp(1.0)), abs=1e-6)


def test_contrastive_loss_with_shared_attributes():
    # Items 0 and 1 share their attributes; identical embeddings for both are then the best answer:
    # the target of row 0 is (1/2, 1/2, 0), and a row (s, s, 0) matches it up to the third item.
    u = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    keys = torch.tensor([7, 7, 3])
    t = soft_targets(keys, 3)
    assert torch.allclose(t, torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))
    s = 4.0
    row01 = -math.log(math.exp(s) / (2 * math.exp(s) + 1))       # each of the two partners
    row2 = -math.log(math.exp(s) / (math.exp(s) + 2))
    expected = (2 * row01 + row2) / 3
    assert contrastive_loss(u, u, s, keys) == pytest.approx(expected, abs=1e-5)
    assert torch.allclose(soft_targets(None, 3), torch.eye(3))


def test_contrastive_loss_gradient_pulls_pairs_together():
    torch.manual_seed(0)
    u = torch.nn.functional.normalize(torch.randn(8, 4), dim=1).requires_grad_(True)
    v = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    before = contrastive_loss(u, v, 10.0)
    before.backward()
    with torch.no_grad():
        u2 = torch.nn.functional.normalize(u - 0.1 * u.grad, dim=1)
    assert contrastive_loss(u2, v, 10.0) < before


# -- mismatched pairs ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(20))
def test_mismatched_pairs_never_pair_an_item_with_its_own_text(seed):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(2, 80, (1,), generator=gen))
    keys = torch.randint(0, int(torch.randint(2, 12, (1,), generator=gen)), (n,), generator=gen)
    j = mismatched_index(keys, gen)
    assert j.shape == (n,)
    assert (j != torch.arange(n)).all()
    has_other = torch.tensor([(keys != k).any() for k in keys])
    assert (keys[j] != keys)[has_other].all()          # another product's description wherever one exists


def test_mismatched_pairs_with_a_single_product():
    keys = torch.zeros(5, dtype=torch.long)
    j = mismatched_index(keys)
    assert (j != torch.arange(5)).all()
    with pytest.raises(ValueError):
        mismatched_index(torch.zeros(1, dtype=torch.long))


# -- retrieval ----------------------------------------------------------------------------------

def test_retrieval_recall_perfect_and_random():
    torch.manual_seed(0)
    n = 300
    keys = torch.arange(n) % 150
    emb = torch.nn.functional.normalize(torch.randn(150, 32), dim=1)[keys]
    r = retrieval_recall(emb, emb, keys, 100)
    assert r["R@1"] == 1.0 and r["R@5"] == 1.0           # a same-key twin is never a distractor
    rand = torch.nn.functional.normalize(torch.randn(n, 32), dim=1)
    r = retrieval_recall(rand, emb, keys, 100)
    assert r["R@1"] < 0.1 and r["R@5"] < 0.2


# -- data helpers -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def catalog_small():
    train = load_catalog("train", n_items=400)
    val = load_catalog("val", n_items=400)
    return train, val


def test_rephrasings_and_keys(catalog_small):
    train, _ = catalog_small
    texts = rephrasings(train)
    assert len(texts) == 6 and all(len(t) == len(train) for t in texts)
    assert train.descriptions[0] in [t[0] for t in texts]
    keys = attribute_keys(train)
    same = (train.attributes["category"][:, None] == train.attributes["category"][None]) \
        & (train.attributes["colour"][:, None] == train.attributes["colour"][None]) \
        & (train.attributes["pattern"][:, None] == train.attributes["pattern"][None])
    assert torch.equal(keys[:, None] == keys[None], same)


def test_prompt_sets():
    prompts, req = prompt_set("catalog", "heldout", "train", per=2)
    assert len(prompts) == 40 and set(req) == {"category", "colour", "pattern"}
    prompts, req = prompt_set("fashion-mnist", phrasing="paraphrase", per=1)
    assert len(prompts) == 90 and req["label"].max() == 9
    assert attribute_accuracy({"a": torch.tensor([1, 2]), "b": torch.tensor([0, 0])},
                              {"a": torch.tensor([1, 1]), "b": torch.tensor([0, 0])}) == {"a": 0.5, "b": 1.0, "all": 0.5}
    assert combo_keys(req).unique().numel() == 90


# -- the models ---------------------------------------------------------------------------------

def _tiny_clip(data, **kw) -> CLIP:
    vocab = TextTokenizer.build(data.descriptions).vocab
    return CLIP(CLIPConfig(channels=data.channels, size=data.size, image_width=4, embed_dim=16, vocab=vocab,
                           d_model=16, n_heads=2, n_layers=1, **kw))


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3)])
def test_t2i_shapes(size, channels):
    torch.manual_seed(0)
    vocab = TextTokenizer.build(["a red striped mug", "a blue dotted bag"]).vocab
    clip = CLIP(CLIPConfig(channels=channels, size=size, image_width=4, embed_dim=16, vocab=vocab, d_model=16, n_heads=2))
    model = TextToImageGAN.from_clip(clip, g_width=8, d_width=8, cond_dim=16, latent_dim=8)
    e = model.embed_prompts(["a red striped mug", "a blue bag", "red mug"])
    assert e.shape == (3, 16)
    fake, mu, logvar = model.generator(torch.randn(3, 8), e)
    assert fake.shape == (3, channels, size, size) and fake.abs().max() <= 1
    assert mu.shape == logvar.shape == (3, 16)
    assert model.discriminator(fake, e).shape == (3,)
    s = model.sample(3, prompts=["a red striped mug", "a blue bag", "red mug"], seed=0)
    assert s.shape == (3, channels, size, size) and 0 <= s.min() and s.max() <= 1
    assert torch.equal(s, model.sample(3, prompts=["a red striped mug", "a blue bag", "red mug"], seed=0))
    assert model.sample(2, prompts="a red mug", seed=0).shape[0] == 2             # one prompt for all
    with pytest.raises(ValueError, match="prompts"):
        model.sample(2, labels=[0, 1])
    with pytest.raises(ValueError, match="no words"):
        model.sample(1, prompts=[""])
    with pytest.raises(ValueError, match="None of the words"):
        model.sample(1, prompts=["zzz qqq"])
    with pytest.warns(TextWarning):
        model.sample(1, prompts=["a red velvet mug"])


def test_config_needs_a_clip():
    with pytest.raises(ValueError, match="CLIP"):
        T2IConfig()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, catalog_small):
    """A CLIP and a text-to-image GAN, each trained for a few steps through the kit's Trainer."""
    train, val = catalog_small
    out = tmp_path_factory.mktemp("t2i")
    torch.manual_seed(0)
    clip = _tiny_clip(train)
    cfg = TrainConfig(max_steps=4, batch_size=32, lr=1e-3, log_every=2, val_every=4, checkpoint_every=4,
                      tensorboard=False, progress=False)
    Trainer(cfg, out / "clip").fit(clip, train, val)
    gan = TextToImageGAN.from_clip(clip, g_width=8, d_width=8, cond_dim=16, latent_dim=8, val_samples=64)
    result = Trainer(cfg, out / "gan").fit(gan, train, val)
    return clip, gan, result, out


def test_end_to_end_text_to_image(trained):
    clip, gan, result, out = trained
    assert result.steps == 4
    entry = result.history[-1]
    assert 0.0 <= entry["val_rprec"] <= 1.0
    # the frozen CLIP inside the GAN did not move
    for (k, a), b in zip(clip.state_dict().items(), gan.clip.state_dict().values()):
        assert torch.equal(a, b), k
    back = load_model(out / "gan" / "last")
    prompts = ["a purple dotted mug", "a red striped t-shirt"]
    assert torch.allclose(back.sample(2, prompts=prompts, seed=3), gan.sample(2, prompts=prompts, seed=3), atol=1e-6)


def test_generator_only_export(trained, tmp_path):
    _, gan, _, out = trained
    stem, _ = export_sampler(out / "gan" / "last", str(tmp_path / "sampler"))
    small = load_model(stem)
    assert small.config.generator_only and not hasattr(small, "discriminator")
    prompts = ["a purple dotted mug"] * 3
    a, b = small.sample(3, prompts=prompts, seed=1), gan.sample(3, prompts=prompts, seed=1)
    assert (a - b).abs().max() < 0.02                                          # half-precision weights
    assert stem.with_suffix(".safetensors").stat().st_size < (out / "gan" / "last.safetensors").stat().st_size / 2
    with pytest.raises(RuntimeError, match="cannot be trained"):
        small.configure_optimizers(1e-3)


def test_cli_with_a_prompts_file(trained, tmp_path, capsys):
    _, _, _, out = trained
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red striped mug\n\nblue dotted handbag\nune tasse rouge à pois — a red mug\n", encoding="utf-8")
    npz = tmp_path / "s.npz"
    assert pgan(["sample", "--checkpoint", str(out / "gan" / "last"), "--prompts", str(prompts), "--n", "3",
                 "--out", str(npz)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "unknown words are left out: une, tasse, rouge, pois" in notes[0]   # once, not per image
    with np.load(npz, allow_pickle=False) as z:
        images, saved = z["images"], z["prompts"]
    assert images.shape == (9, 32, 32, 3) and images.dtype == np.uint8
    assert saved.dtype.kind == "U" and saved.shape == (9,)
    assert list(saved[::3]) == ["a red striped mug", "blue dotted handbag", "une tasse rouge à pois — a red mug"]
    assert pgan(["generate", "a purple dotted mug", "--checkpoint", str(out / "gan" / "last"), "--n", "4",
                 "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 0
    assert pgan(["generate", "", "--checkpoint", str(out / "gan" / "last"), "--out", str(tmp_path / "x.png")]) != 0
    assert "no words" in capsys.readouterr().err


# -- the shipped models -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["catalog-t2i", "fashion-t2i", "catalog-clip", "fashion-clip"])
def test_shipped_text_models_verify(name):
    if name not in pretrained.SHIPPED:
        pytest.skip(f"{name} is not shipped in this checkout")
    model = pretrained.load(name)
    assert model.arch in ("t2i", "clip")
    if model.arch == "t2i":
        assert model.config.generator_only
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TextWarning)
            prompt = "a purple dotted mug" if name.startswith("catalog") else "a dark slim ankle boot"
            x = model.sample(4, prompts=prompt, seed=0)
        assert x.shape[0] == 4 and torch.isfinite(x).all()


def test_shipped_sizes_stay_small():
    total = 0
    for name in ("catalog-t2i", "fashion-t2i", "catalog-clip", "fashion-clip"):
        if name in pretrained.SHIPPED:
            total += pretrained.path_of(name).with_suffix(".safetensors").stat().st_size
    assert total < 15 * 2 ** 20


def test_conditioning_augmentation_starts_informative():
    from pgan_lib.models.t2i import ConditioningAugmentation

    torch.manual_seed(0)
    ca = ConditioningAugmentation(16, 16)
    e = torch.nn.functional.normalize(torch.randn(256, 16), dim=1)
    c, mu, logvar = ca(e)
    assert 0.7 < mu.std() < 1.3                      # like a draw from N(0, I) ...
    assert torch.allclose(logvar.mul(0.5).exp(), torch.full_like(logvar, 0.1))   # ... with little noise
    c0, mu0, _ = ca(e, sample=False)
    assert torch.equal(c0, mu0)


def test_evaluate_prompts_on_a_tiny_model(trained):
    from pgan_lib.eval.prompts import evaluate_prompts

    if not pretrained.available("catalog-classifier"):
        pytest.skip("catalog-classifier is not shipped in this checkout")
    _, gan, _, _ = trained
    r = evaluate_prompts(gan, "catalog", "heldout", "paraphrase", per=1)
    assert r["n"] == 20 and r["images"].shape == (20, 3, 32, 32)
    assert set(r["accuracy"]) == {"category", "colour", "pattern", "all"}
    assert 0.0 <= r["r_precision"] <= 1.0


def test_truncation_scales_the_noise_and_old_files_still_load(trained, tmp_path):
    import json
    from dataclasses import replace

    _, gan, _, out = trained
    z = torch.randn(2, gan.config.latent_dim, generator=torch.Generator().manual_seed(0))
    e = gan.embed_prompts(["a red mug", "a blue bag"])
    assert torch.allclose(gan.generate(z, e, truncation=0.5), gan.generate(0.5 * z, e, truncation=1.0))
    stem, _ = export_sampler(out / "gan" / "last", str(tmp_path / "psi"), truncation=0.5)
    assert load_model(stem).config.truncation == 0.5
    # a checkpoint written before the field existed loads with the default
    sidecar = (out / "gan" / "last.json")
    meta = json.loads(sidecar.read_text())
    meta["config"].pop("truncation")
    old = tmp_path / "old"
    old.mkdir()
    (old / "last.json").write_text(json.dumps(meta))
    (old / "last.safetensors").write_bytes((out / "gan" / "last.safetensors").read_bytes())
    assert load_model(old / "last").config.truncation == 1.0
    assert replace(gan.config).truncation == 1.0
