"""Checkpoints against hostile files: lying sidecars, crafted headers, tampering, NaN weights, races, full disks."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from pgan_lib import checkpoint as ck
from pgan_lib.checkpoint import (
    CheckpointError,
    CheckpointSaveError,
    NonFiniteWeightsWarning,
    load_checkpoint,
    read_sidecar,
    save_checkpoint,
)
from pgan_lib.models.base import load_model
from pgan_lib.models.vae import VAE, VAEConfig

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def vae_ckpt(tmp_path) -> Path:
    """A real, small kit model saved the way the trainer saves it."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden=8))
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    return save_checkpoint(tmp_path / "vae", tensors, {"arch": "vae", "config": model.config_dict(), "step": 3})


def edit_sidecar(stem: Path, change) -> None:
    path = stem.with_suffix(".json")
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def test_a_sound_checkpoint_loads(vae_ckpt):
    model = load_model(vae_ckpt)
    assert model.config.latent_dim == 4


def test_config_that_disagrees_with_the_weights_is_one_checkpoint_error(vae_ckpt):
    edit_sidecar(vae_ckpt, lambda m: m["config"].update(hidden=12))
    with pytest.raises(CheckpointError, match=r"weights do not fit the vae its sidecar describes: .*shape\(s\) differ"):
        load_model(vae_ckpt)


def test_a_huge_latent_dim_fails_fast_without_allocating(vae_ckpt):
    """latent_dim 10**9 would need terabytes: refused from the shapes, in a process that never grows much."""
    edit_sidecar(vae_ckpt, lambda m: m["config"].update(latent_dim=10**9))
    script = (
        "import resource, time, json\n"
        "import torch\n"
        "from pgan_lib.models.base import load_model\n"
        "from pgan_lib.checkpoint import CheckpointError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; t = time.time()\n"
        "try:\n"
        f"    load_model({str(vae_ckpt)!r}); msg = 'loaded'\n"
        "except CheckpointError as e:\n"
        "    msg = 'CheckpointError: ' + str(e)\n"
        "print(json.dumps({'msg': msg, 's': time.time() - t,\n"
        "                  'grew_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["msg"].startswith("CheckpointError") and "1000000000" in res["msg"], res
    assert res["grew_kb"] < 200_000 and res["s"] < 30, res


@pytest.mark.parametrize("change, expected", [
    (lambda m: m["config"].update(latent_dim="16"), r"wrong types: 'latent_dim'"),
    (lambda m: m["config"].update(latent_dim=2**40), r"wrong types: 'latent_dim'"),
    (lambda m: m["config"].update(beta=[1, 2]), r"wrong types: 'beta'"),
    (lambda m: m["config"].update(likelihood="poisson"), r"config of VAEConfig is not valid"),
    (lambda m: m["config"].update(nonsense=1), r"does not know"),
    (lambda m: m.update(config=[1, 2]), r"'config' must be an object"),
    (lambda m: m.update(step="seven"), r"'step' must be a whole number"),
    (lambda m: m.update(step=-1), r"'step' must be a whole number"),
    (lambda m: m.update(history="none"), r"'history' must be a list of objects"),
    (lambda m: m.update(arch=["vae"]), r"'arch' must be a model name"),
    (lambda m: m.update(arch="no-such-model"), r"unknown architecture 'no-such-model'"),
    (lambda m: m.update(best_metric="high"), r"'best_metric' must be a number or null"),
    (lambda m: m.update(weights_sha256=12), r"'weights_sha256' must be 64 lowercase hex digits"),
    (lambda m: m.pop("weights_sha256"), r"'weights_sha256' is missing"),
    (lambda m: m.update(format="other/1"), r"not a pgan-kit checkpoint"),
])
def test_wrong_sidecar_types_are_one_checkpoint_error(vae_ckpt, change, expected):
    edit_sidecar(vae_ckpt, change)
    with pytest.raises(CheckpointError, match=expected):
        load_model(vae_ckpt)


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,                       # deeper than the JSON parser's recursion limit
    '{"format": "pgan-kit-checkpoint/1", "config": ' + "[" * 200 + "]" * 200 + "}",   # parses, but too deep
    "null", '"a string"', "[]", "1e999999", "{" * 3, "\xff\xfe",
    '{"format": "pgan-kit-checkpoint/1", "x": ' + "9" * 5000 + "}",   # over Python's int-digits limit
])
def test_malformed_sidecars_are_one_checkpoint_error(vae_ckpt, text):
    vae_ckpt.with_suffix(".json").write_bytes(text.encode("utf-8", "surrogateescape") if text != "\xff\xfe" else b"\xff\xfe")
    with pytest.raises(CheckpointError):
        load_model(vae_ckpt)


def test_a_huge_or_special_sidecar_is_refused_without_reading_it_all(vae_ckpt, monkeypatch):
    monkeypatch.setattr(ck, "MAX_SIDECAR_BYTES", 100)
    with pytest.raises(CheckpointError, match="over the limit"):
        load_checkpoint(vae_ckpt)
    monkeypatch.undo()
    side = vae_ckpt.with_suffix(".json")
    side.unlink()
    side.symlink_to("/dev/zero")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(vae_ckpt)


def test_tampered_weights_are_refused_and_published_digests_are_checked(vae_ckpt):
    w = vae_ckpt.with_suffix(".safetensors")
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 does not match"):
        load_checkpoint(vae_ckpt)


def test_an_edited_sidecar_is_caught_by_its_published_digest(vae_ckpt):
    digest = hashlib.sha256(vae_ckpt.with_suffix(".json").read_bytes()).hexdigest()
    assert load_checkpoint(vae_ckpt, sidecar_sha256=digest).sha256["sidecar"] == digest
    edit_sidecar(vae_ckpt, lambda m: m.update(step=4))       # e.g. swapping two words of a vocabulary
    with pytest.raises(CheckpointError, match="does not match the published"):
        load_model(vae_ckpt, sidecar_sha256=digest)
    with pytest.raises(CheckpointError, match="does not match the published"):
        load_checkpoint(vae_ckpt, weights_sha256="0" * 64)


def _crafted_weights(stem: Path, header: dict, body: bytes = b"") -> None:
    """A safetensors file with a hand-written header, and a sidecar whose hash matches it."""
    raw = json.dumps(header).encode()
    data = struct.pack("<Q", len(raw)) + raw + body
    stem.with_suffix(".safetensors").write_bytes(data)
    edit_sidecar(stem, lambda m: m.update(weights_sha256=hashlib.sha256(data).hexdigest()))


@pytest.mark.parametrize("header, body", [
    ({"model/w": {"dtype": "F32", "shape": [10**9, 10**9], "data_offsets": [0, 16]}}, b"\0" * 16),
    ({"model/w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 10**12]}}, b"\0" * 16),
    ({"model/w": {"dtype": "F99", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16),
    ({"model/w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\0" * 16),
    ({"model/a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
      "model/b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, b"\0" * 16),
    ({"model/w": "nonsense"}, b""),
])
def test_crafted_safetensors_headers_are_refused_before_allocation(vae_ckpt, header, body):
    _crafted_weights(vae_ckpt, header, body)
    with pytest.raises(CheckpointError, match="inconsistent|overlap"):
        load_checkpoint(vae_ckpt)


def test_a_header_longer_than_the_file_is_refused(vae_ckpt):
    data = struct.pack("<Q", 2**60) + b"{}"
    vae_ckpt.with_suffix(".safetensors").write_bytes(data)
    edit_sidecar(vae_ckpt, lambda m: m.update(weights_sha256=hashlib.sha256(data).hexdigest()))
    with pytest.raises(CheckpointError, match="header claims"):
        load_checkpoint(vae_ckpt)


def test_non_finite_weights_load_with_a_warning_naming_them(tmp_path):
    stem = save_checkpoint(tmp_path / "c", {"model/ok": torch.ones(3), "model/bad": torch.tensor([1.0, float("nan")])},
                           {"arch": "vae", "config": {}})
    with pytest.warns(NonFiniteWeightsWarning, match=r"1 tensor\(s\) hold NaN or infinite values \(model/bad\)"):
        load_checkpoint(stem)
    save_checkpoint(tmp_path / "d", {"model/ok": torch.ones(3)}, {"arch": "vae", "config": {}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_checkpoint(tmp_path / "d")


def test_a_reader_never_mixes_a_sidecar_with_weights_of_another_save(tmp_path, monkeypatch):
    """A save lands between reading the sidecar and reading the weights: the reader reads the pair again."""
    stem = save_checkpoint(tmp_path / "c", {"model/w": torch.ones(3)}, {"arch": "vae", "config": {}, "step": 1})
    real = ck._read_bytes
    calls = {"n": 0}

    def racing(path, limit=None):
        data = real(path, limit)
        calls["n"] += 1
        if calls["n"] == 1:   # just after the first sidecar read: another process saves step 2
            save_checkpoint(tmp_path / "c", {"model/w": torch.full((3,), 2.0)}, {"arch": "vae", "config": {}, "step": 2})
        return data

    monkeypatch.setattr(ck, "_read_bytes", racing)
    got = load_checkpoint(stem)
    assert got.meta["step"] == 2 and torch.equal(got.tensors["model/w"], torch.full((3,), 2.0))
    assert got.sha256["weights"] == got.meta["weights_sha256"]


def test_weights_are_deserialised_from_the_bytes_that_were_hashed(tmp_path, monkeypatch):
    stem = save_checkpoint(tmp_path / "c", {"model/w": torch.ones(3)}, {"arch": "vae", "config": {}})
    monkeypatch.setattr(ck, "load_file", lambda *a, **k: pytest.fail("the weights file was read a second time"),
                        raising=False)
    seen = []
    real = ck.load_bytes
    monkeypatch.setattr(ck, "load_bytes", lambda data: seen.append(hashlib.sha256(data).hexdigest()) or real(data))
    got = load_checkpoint(stem)
    assert seen == [got.meta["weights_sha256"]]


def test_a_full_disk_during_save_is_one_clear_error_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    stem = save_checkpoint(tmp_path / "c", {"model/w": torch.ones(3)}, {"arch": "vae", "config": {}, "step": 1})
    real_open = open

    def full(path, mode="r", *a, **k):
        if "w" in mode and ".tmp" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr("builtins.open", full)
    with pytest.raises(CheckpointSaveError, match=r"cannot write checkpoint .*No space left on device.*intact"):
        save_checkpoint(tmp_path / "c", {"model/w": torch.zeros(3)}, {"arch": "vae", "config": {}, "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(stem).meta["step"] == 1
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_save_under_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointSaveError, match="cannot write checkpoint"):
        save_checkpoint(tmp_path / "file" / "run" / "last", {"model/w": torch.ones(1)}, {"arch": "vae"})


def test_stale_temp_files_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    dead = 2**22 + 12345    # above the usual pid_max of 4194304: never a live process
    stale = [tmp_path / f"c.safetensors.{dead}.0badf00d.tmp", tmp_path / f"c.safetensors.tmp{dead}"]
    for p in stale:
        p.write_bytes(b"\0" * 1000)
    mine = tmp_path / f"c.json.{os.getpid()}.0badf00d.tmp"
    mine.write_text("{}")                      # this process is alive: not touched
    save_checkpoint(tmp_path / "c", {"model/w": torch.ones(1)}, {"arch": "vae"})
    assert not any(p.exists() for p in stale) and mine.exists()


def test_read_sidecar_reads_only_the_sidecar(vae_ckpt):
    vae_ckpt.with_suffix(".safetensors").unlink()
    assert read_sidecar(vae_ckpt)["step"] == 3
