"""Shipped checkpoints: present, unchanged, loadable; a changed file is refused."""
import shutil

import pytest
import torch

from pgan_lib import pretrained
from pgan_lib.checkpoint import CheckpointError
from pgan_lib.data import load_dataset
from pgan_lib.data.attributes import SHADE_WORDS, shade_of, shade_value


@pytest.mark.parametrize("name", sorted(pretrained.SHIPPED))
def test_every_shipped_checkpoint_verifies_and_loads(name):
    model = pretrained.load(name)
    assert not model.training
    entry = pretrained.SHIPPED[name]
    assert entry.recipe or entry.remake


@pytest.mark.parametrize("name", sorted(pretrained.SHIPPED))
def test_every_shipped_checkpoint_names_how_to_remake_it(name):
    """A recipe that exists, or (for models made by a script) a script that exists."""
    from pgan_lib.recipes import all_recipes

    entry = pretrained.SHIPPED[name]
    if entry.recipe:
        assert entry.recipe in all_recipes(), f"{name}: manifest names recipe {entry.recipe!r}, which is not registered"
    else:
        script = entry.remake.split()[1]
        assert entry.remake.startswith("python ") and (pretrained.checkpoint_dir().parent / script).is_file(), entry.remake
    assert pretrained.path_of(name).with_suffix(".log").is_file()


def test_checkpoints_folder_stays_small():
    """Every clone carries the shipped models, so their folder has a budget: 64 MiB (it was 50 until the
    guided catalogue repair was widened to 32 channels, 2.2 -> 8.0 MB in half precision, 56 MiB in all)."""
    total = sum(p.stat().st_size for p in pretrained.checkpoint_dir().iterdir())
    assert total < 64 * 2 ** 20, f"checkpoints/ holds {total / 2 ** 20:.1f} MiB; the budget is 64 MiB"


def test_tampered_checkpoint_is_refused(tmp_path, monkeypatch):
    for suffix in (".safetensors", ".json"):
        shutil.copy(pretrained.path_of("vae-fashion").with_suffix(suffix), tmp_path / f"vae-fashion{suffix}")
    monkeypatch.setenv("PGAN_CHECKPOINT_DIR", str(tmp_path))
    assert pretrained.available("vae-fashion")
    weights = tmp_path / "vae-fashion.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the published"):
        pretrained.load("vae-fashion")
    weights.unlink()
    with pytest.raises(CheckpointError, match="is missing"):
        pretrained.load("vae-fashion")
    with pytest.raises(KeyError, match="No shipped model named 'nope'"):
        pretrained.load("nope")


def test_an_edited_sidecar_is_refused(tmp_path, monkeypatch):
    """The manifest hashes the JSON sidecar too: swapping two words of a model's vocabulary
    (which would make "a red mug" draw blue mugs) is caught before the model is built."""
    for suffix in (".safetensors", ".json"):
        shutil.copy(pretrained.path_of("catalog-t2i").with_suffix(suffix), tmp_path / f"catalog-t2i{suffix}")
    monkeypatch.setenv("PGAN_CHECKPOINT_DIR", str(tmp_path))
    assert pretrained.available("catalog-t2i")
    sidecar = tmp_path / "catalog-t2i.json"
    text = sidecar.read_text()
    assert '"red"' in text and '"blue"' in text
    sidecar.write_text(text.replace('"red"', '"@@"').replace('"blue"', '"red"').replace('"@@"', '"blue"'))
    with pytest.raises(CheckpointError, match=r"catalog-t2i\.json: sha256 .* does not match"):
        pretrained.load("catalog-t2i")


def test_manifest_lists_every_shipped_file_and_add_to_manifest_records_hashes(tmp_path):
    listed = set(pretrained.SHIPPED)
    on_disk = {p.stem for p in pretrained.checkpoint_dir().glob("*.safetensors")}
    assert listed == on_disk, f"not in the manifest: {on_disk - listed}; listed but missing: {listed - on_disk}"
    for suffix in (".safetensors", ".json"):
        shutil.copy(pretrained.path_of("vae-fashion").with_suffix(suffix), tmp_path / f"copy{suffix}")
    entry = pretrained.add_to_manifest("copy", "vae-fashion", "a copy", folder=tmp_path)
    assert entry == pretrained.read_manifest(tmp_path)["copy"]
    assert entry.sha256 == pretrained.SHIPPED["vae-fashion"].sha256
    assert entry.sidecar_sha256 == pretrained.SHIPPED["vae-fashion"].sidecar_sha256


def test_conditional_vae_follows_the_shade_it_is_asked_for():
    model = pretrained.load("cvae-fashion")
    share = {}
    for shade in SHADE_WORDS:
        x = model.sample(100, prompts=[f"a {shade} regular t-shirt"] * 100, seed=0)
        share[shade] = (shade_of(x) == SHADE_WORDS.index(shade)).float().mean().item()
    assert share["dark"] > 0.6 and share["light"] > 0.6 and share["medium"] > 0.4, share
    boots = {s: shade_value(model.sample(100, prompts=[f"a {s} slim ankle boot"] * 100, seed=1)).mean() for s in SHADE_WORDS}
    assert boots["dark"] > boots["medium"] > boots["light"], boots


def test_vae_on_the_clip_text_encoder_reads_everyday_words():
    """cvae-fashion-clip reads descriptions through fashion-clip's encoder: shade words and the
    shopper's words for a class ("sweater" for pullover, "boots" for ankle boot) steer it."""
    model = pretrained.load("cvae-fashion-clip")
    clip = pretrained.load("fashion-clip")
    for key, value in clip.text_encoder.state_dict().items():      # the very encoder the GAN reads with
        assert torch.equal(model.condition.encoder.state_dict()[key], value.float()), key
    judge = pretrained.load("fashion-classifier")
    names = load_dataset("fashion-mnist", "test", limit=10).class_names
    for prompt, cls in (("a dark sweater", "pullover"), ("light boots", "ankle boot"), ("a dark tee", "t-shirt")):
        x = model.sample(50, prompts=[prompt] * 50, seed=2)
        acc = (judge(x).argmax(1) == names.index(cls)).float().mean().item()
        assert acc > 0.6, (prompt, acc)
    dark = model.sample(100, prompts=["a dark regular t-shirt"] * 100, seed=0)
    light = model.sample(100, prompts=["a light regular t-shirt"] * 100, seed=0)
    assert shade_value(dark).mean() > shade_value(light).mean() + 0.1


def test_export_writes_a_small_checkpoint_and_its_log(tmp_path, monkeypatch):
    """``pretrained.export``: half-precision weights without optimiser state, a log with the history
    and the console lines (progress bars left out), and the sha256 the manifest publishes."""
    from pgan_lib.checkpoint import file_sha256, load_checkpoint
    from pgan_lib.cli import main as pgan
    from pgan_lib.models.base import load_model

    monkeypatch.setenv("PGAN_CHECKPOINT_DIR", str(tmp_path / "ship"))
    assert pgan(["train", "vae-fashion", "--mode", "quick", "--steps", "4", "--out", str(tmp_path / "run")]) == 0
    console = tmp_path / "console.txt"
    console.write_text("recipe vae-fashion (quick mode)\rtrain vae:  50%| 2/4 [00:01<00:01, 2.0step/s]\rdone\n")
    stem, digest = pretrained.export(tmp_path / "run" / "last", "tiny-vae", dtype=torch.float16, console_log=console)
    assert stem == tmp_path / "ship" / "tiny-vae" and digest == file_sha256(stem.with_suffix(".safetensors"))
    ckpt = load_checkpoint(stem)
    assert all(k.startswith("model/") for k in ckpt.tensors)
    assert {v.dtype for v in ckpt.group("model").values() if v.is_floating_point()} == {torch.float16}
    log = stem.with_suffix(".log").read_text()
    assert "step=4" in log and "recipe vae-fashion (quick mode)" in log and "done" in log
    assert "step/s" not in log and log.rstrip().endswith(digest)
    assert load_model(stem).decode(torch.zeros(1, 16)).dtype == torch.float32
