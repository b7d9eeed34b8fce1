"""`pgan doctor`: OK on a healthy machine (exit 0); a damaged checkpoint, missing data, an unwritable cache,
a bad mode or class size each FAIL with the fix named (exit 1); --json says the same."""
from __future__ import annotations

import errno
import json
import shutil
from types import SimpleNamespace

import pytest
import torch

from pgan_lib import classroom, doctor, pretrained
from pgan_lib.cli import main as pgan
from pgan_lib.data import fashion_mnist
from pgan_lib.safety import write_atomically


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for var in ("PGAN_CLASS_SIZE", "PGAN_DEVICE", "PGAN_CHECKPOINT_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGAN_MODE", "quick")
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _need_data():
    try:
        fashion_mnist.find_files()
    except fashion_mnist.FashionMNISTNotFound:
        pytest.skip("Fashion-MNIST is not installed on this machine (make data)")


def _lines(text: str, status: str) -> list[str]:
    return [ln.split(None, 2)[1] for ln in text.splitlines() if ln.startswith(f"  {status} ")]


def test_a_healthy_machine_passes(capsys):
    _need_data()
    assert pgan(["doctor"]) == 0
    out = capsys.readouterr().out
    assert _lines(out, "FAIL") == []
    for name in ("versions", "install", "data", "checkpoints", "cache", "mode"):
        assert name in _lines(out, "OK"), out
    assert f"{len(pretrained.read_manifest())} shipped models verified against" in out
    assert "Fashion-MNIST in" in out and "sha256 verified" in out
    assert "(in use): writable" in out and out.rstrip().endswith(".")
    assert f"torch {torch.__version__}" in out


def test_json_output_says_the_same(capsys, tmp_path):
    _need_data()
    assert pgan(["doctor", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["ok"] is True and got["exit_code"] == 0
    names = [c["name"] for c in got["checks"]]
    assert names[:5] == ["device", "versions", "install", "data", "checkpoints"]
    assert all(c["status"] in ("OK", "WARN") for c in got["checks"])
    assert pgan(["doctor", "--json", str(tmp_path / "d" / "doctor.json")]) == 0
    written = json.loads((tmp_path / "d" / "doctor.json").read_text())["checks"]
    assert [(c["name"], c["status"]) for c in written] == [(c["name"], c["status"]) for c in got["checks"]]


def test_a_corrupted_checkpoint_fails_with_the_fix(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "checkpoints"
    copy.mkdir()
    src = pretrained.checkpoint_dir()
    for f in src.iterdir():                           # links to the shipped files, one real (damaged) copy
        (copy / f.name).symlink_to(f)
    victim = copy / "fashion-cgan.safetensors"
    victim.unlink()
    data = bytearray((src / "fashion-cgan.safetensors").read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    monkeypatch.setenv("PGAN_CHECKPOINT_DIR", str(copy))
    assert pgan(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "checkpoints" in _lines(out, "FAIL")
    assert f"1 of {len(pretrained.read_manifest())} shipped models do not verify: {victim}: sha256" in out
    assert f"fix: restore them: `git checkout {copy}`" in out
    assert "problem(s): checkpoints" in out

    (copy / "fashion-t2i.json").unlink()              # a missing sidecar is named too
    check = doctor.check_checkpoints()
    assert check.status == "FAIL" and "2 of" in check.detail


def test_missing_data_fails_with_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fashion_mnist, "_candidates", lambda: [tmp_path / "nothing-here"])
    assert pgan(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "data" in _lines(out, "FAIL")
    assert "Fashion-MNIST not found" in out
    assert "fix: sudo apt install dataset-fashion-mnist, or set PGAN_DATA_DIR" in out


def test_damaged_data_is_named(tmp_path, monkeypatch):
    _need_data()
    folder = tmp_path / "fm"
    shutil.copytree(fashion_mnist.find_files(), folder)
    name = "t10k-labels-idx1-ubyte.gz"
    (folder / name).write_bytes((folder / name).read_bytes()[:-10])
    monkeypatch.setattr(fashion_mnist, "_candidates", lambda: [folder])
    check = doctor.check_data()
    assert check.status == "FAIL" and f"checksum mismatch for {name}" in check.detail


def test_an_unwritable_cache_fails_with_the_fix(tmp_path, monkeypatch, capsys):
    def read_only(path, write, mode=0o644):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(doctor, "write_atomically", read_only)
    monkeypatch.setattr(doctor, "CHECKS", (doctor.check_caches, doctor.check_mode))
    assert pgan(["doctor"]) == 1
    out = capsys.readouterr().out
    assert _lines(out, "FAIL") == ["cache"]            # the PGAN_CACHE_DIR one, which is in use
    assert f"{tmp_path / 'cache'} (in use): cannot be written (Read-only file system)" in out
    assert "fix: export PGAN_CACHE_DIR=/a/folder/you/own" in out
    assert "WARN  cache " in out and "(not used: PGAN_CACHE_DIR is set)" in out


def test_an_unwritable_home_cache_is_only_a_warning_when_pgan_cache_dir_works(tmp_path, monkeypatch):
    home_cache = doctor.home_cache_folder()

    def only_home_fails(path, write, mode=0o644):
        if home_cache in path.parents:
            raise OSError(errno.EACCES, "Permission denied", str(path))
        return write_atomically(path, write, mode)

    monkeypatch.setattr(doctor, "write_atomically", only_home_fails)
    checks = doctor.check_caches()
    assert [c.status for c in checks] == ["WARN", "OK"]
    assert doctor.exit_code(checks) == 0
    assert list((tmp_path / "cache").iterdir()) == []  # the probe file was removed

    monkeypatch.delenv("PGAN_CACHE_DIR")
    (check,) = doctor.check_caches()
    assert check.status == "FAIL" and "Permission denied" in check.detail


@pytest.mark.parametrize("var, value, name, expected, fix", [
    ("PGAN_MODE", "fast", "mode", "Unknown run mode 'fast'", "export PGAN_MODE=quick"),
    ("PGAN_CLASS_SIZE", "lots", "class share", "PGAN_CLASS_SIZE='lots' is not a class size", "export PGAN_CLASS_SIZE=20"),
    ("PGAN_DEVICE", "cuda:3", "device", "PGAN_DEVICE=cuda:3 cannot be used", "unset PGAN_DEVICE"),
])
def test_bad_settings_fail_with_the_fix(monkeypatch, var, value, name, expected, fix):
    monkeypatch.setenv(var, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    checks = doctor.run_checks()
    (bad,) = [c for c in checks if c.status == "FAIL"]
    assert bad.name == name and expected in bad.detail and bad.fix.startswith(fix)
    assert doctor.exit_code(checks) == 1
    assert f"fix: {fix}" in doctor.report(checks)


def test_on_a_gpu_it_shows_memory_and_the_class_share(monkeypatch):
    gib = 2**30
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: SimpleNamespace(name="Fake H100", total_memory=80 * gib))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i=None: (75 * gib, 80 * gib))
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda *a, **k: pytest.fail("doctor caps nothing"))
    dev = doctor.check_device_memory()
    assert dev.status == "OK" and dev.detail == "cuda:0 Fake H100: 80.0 GiB total, 75.0 GiB free (1 GPU(s))"
    monkeypatch.setenv("PGAN_CLASS_SIZE", "20")
    share = doctor.check_class_share()
    assert share.status == "OK" and "PGAN_CLASS_SIZE=20: each process may use 4.3% of the GPU (3.43 GiB" in share.detail
    monkeypatch.setenv("PGAN_CLASS_SIZE", "500")
    share = doctor.check_class_share()
    most = int(0.98 * 80 * gib // (564 * 2**20))           # (500 MiB context + 64 MiB to work) per process
    assert share.status == "FAIL" and share.fix == f"use a smaller PGAN_CLASS_SIZE={most} or less"
    assert classroom.current_share() is None


def test_a_check_that_crashes_is_a_fail_not_a_traceback(monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", (broken, doctor.check_mode))
    checks = doctor.run_checks()
    assert [c.status for c in checks] == ["FAIL", "OK"]
    assert "the check itself failed: RuntimeError: boom" in checks[0].detail
