"""The command line's one error path: every user-caused or environment failure is one
``pgan COMMAND: error: ...`` line with exit code 2 and the fix, never a traceback.

The CLI runs in-process (``pgan_lib.cli.main``) with stderr captured.
"""
from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch

from pgan_lib import pretrained
from pgan_lib.checkpoint import CheckpointSaveError
from pgan_lib.cli import main as pgan
from pgan_lib.config import available_devices
from pgan_lib.eval import features
from pgan_lib.train import RunLock

needs_shipped = pytest.mark.skipif(not (pretrained.available("fashion-cgan") and pretrained.available("catalog-t2i")),
                                   reason="the shipped generators are not present")


def one_error_line(capsys, code: int, command: str) -> str:
    """Assert the failure was one clean error line for ``command`` with exit code 2; return the line."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"pgan {command}: error: "), lines[0]
    assert len(lines[0]) < 1200
    return lines[0]


@pytest.fixture
def file_in_the_way(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    return f


@pytest.mark.parametrize("device, expected", [
    ("cuda", "no usable CUDA GPU"), ("cuda:7", "CUDA"), ("nonsense", "is not a device name"),
    ("mps", "not available on this machine"), ("", "is not a device name"),
])
def test_a_device_this_machine_lacks_is_one_line(capsys, tmp_path, device, expected):
    if device.split(":")[0] in available_devices():
        pytest.skip(f"this machine has {device}")
    code = pgan(["sample", "--model", "fashion-cgan", "--device", device, "--out", str(tmp_path / "a.npz")])
    line = one_error_line(capsys, code, "sample")
    assert expected in line and "this machine" in line and "--device cpu" in line


@pytest.mark.parametrize("argv, expected", [
    (["sample", "--model", "fashion-cgan", "--seed", str(2**64)], "must be from 0 to 9223372036854775807"),
    (["sample", "--model", "fashion-cgan", "--seed", "-1"], "must be from 0"),
    (["sample", "--model", "fashion-cgan", "--batch-size", "-1"], "--batch-size: must be from 1 to 65536, got -1"),
    (["sample", "--model", "fashion-cgan", "--n", "0"], "--n: must be from 1"),
    (["sample", "--model", "fashion-cgan", "--n", "1e9"], "--n: must be a whole number"),
    (["generate", "a mug", "--model", "catalog-t2i", "--n", "100000"], "--n: must be from 1 to 1024"),
    (["data", "show", "catalog", "--size", "20000"], "--size: must be from 1 to 1024, got 20000"),
    (["train", "vae-fashion", "--steps", "-5"], "--steps: must be from 1"),
    (["attack", "--model", "fashion-classifier", "--batch-size", "0"], "--batch-size: must be from 1"),
    (["eval", "--samples", "x.npz", "--k", "0"], "--k: must be from 1"),
])
def test_out_of_range_numbers_are_one_line(capsys, tmp_path, argv, expected):
    command = " ".join(argv[:2]) if argv[0] == "data" else argv[0]
    if argv[0] in ("sample", "generate"):
        argv = argv + ["--out", str(tmp_path / "a.npz")]
    line = one_error_line(capsys, pgan(argv), command)
    assert expected in line


@needs_shipped
def test_sample_n_huge_is_refused_with_the_numbers(capsys, tmp_path):
    code = pgan(["sample", "--model", "fashion-cgan", "--n", "10000000", "--out", str(tmp_path / "a.npz")])
    line = one_error_line(capsys, code, "sample")
    assert "10,000,000 images of 1x28x28 would take 36.5 GiB" in line and "over the limit of 2.0 GiB" in line
    assert "at most 547,827 images" in line
    assert not (tmp_path / "a.npz").exists()


@needs_shipped
def test_wrong_model_kind_is_one_line(capsys, tmp_path):
    code = pgan(["sample", "--model", "fashion-classifier", "--out", str(tmp_path / "a.npz")])
    line = one_error_line(capsys, code, "sample")
    assert "is a classifier model, which does not draw images" in line and "--model fashion-cgan" in line


@needs_shipped
def test_an_output_under_a_file_is_one_line_before_any_work(capsys, file_in_the_way):
    code = pgan(["sample", "--model", "fashion-cgan", "--out", str(file_in_the_way / "x\ny.npz")])
    line = one_error_line(capsys, code, "sample")
    assert "is a file, not a folder" in line and "x\\ny.npz" in line      # the newline is shown escaped
    code = pgan(["generate", "a red mug", "--model", "catalog-t2i", "--out", str(file_in_the_way / "g.png")])
    assert "is a file, not a folder" in one_error_line(capsys, code, "generate")


@pytest.mark.parametrize("err, fix", [
    (OSError(errno.ENOSPC, "No space left on device", "a.npz"), "free some disk space"),
    (OSError(errno.EROFS, "Read-only file system", "a.npz"), "read-only"),
    (PermissionError(errno.EACCES, "Permission denied", "a.npz"), "choose a folder you own"),
])
@needs_shipped
def test_a_full_disk_or_read_only_folder_is_one_line(capsys, tmp_path, monkeypatch, err, fix):
    import pgan_lib.cli.sample as sample_cli

    def failing_writer(*args, **kwargs):
        raise err

    monkeypatch.setattr(sample_cli, "save_samples", failing_writer)
    code = pgan(["sample", "--model", "fashion-cgan", "--n", "4", "--out", str(tmp_path / "a.npz")])
    line = one_error_line(capsys, code, "sample")
    assert "a.npz: " in line and fix in line


def test_a_checkpoint_that_cannot_be_saved_is_one_line(capsys, tmp_path, monkeypatch):
    import pgan_lib.cli.train as train_cli

    def full(*args, **kwargs):
        raise CheckpointSaveError("cannot write checkpoint runs/x/last (No space left on device); free some disk "
                                  "space or choose a writable --out folder. Any earlier checkpoint there is intact.",
                                  errno.ENOSPC)

    monkeypatch.setattr(train_cli, "run_recipe", full)
    line = one_error_line(capsys, pgan(["train", "vae-fashion", "--steps", "2"]), "train")
    assert "No space left on device" in line and "intact" in line


@needs_shipped
def test_prompts_file_bad_lines_are_numbered_and_the_rest_is_drawn(capsys, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_bytes(b"a red mug\n" + b"x" * 5000 + b"\n\xff\xfe\nbell\x07 mug\na blue dress\n")
    out = tmp_path / "a.npz"
    code = pgan(["sample", "--model", "catalog-t2i", "--prompts", str(prompts), "--n", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "line 2 of" in err and "5000 characters" in err
    assert "line 3 of" in err and "not UTF-8" in err
    assert "line 4 of" in err and "control characters" in err
    assert "3 line(s)" in err
    with np.load(out) as z:
        assert list(z["prompts"]) == ["a red mug", "a red mug", "a blue dress", "a blue dress"]

    code = pgan(["sample", "--model", "catalog-t2i", "--prompts", str(prompts), "--on-error", "fail",
                 "--out", str(tmp_path / "b.npz")])
    line = one_error_line(capsys, code, "sample")
    assert "line 2 of" in line and "3 bad line(s)" in line
    assert not (tmp_path / "b.npz").exists()


@needs_shipped
@pytest.mark.parametrize("source, expected", [("/dev/zero", "larger than 4.0 MiB"), ("missing.txt", "not found")])
def test_unusable_prompts_files_are_one_line(capsys, tmp_path, source, expected):
    code = pgan(["sample", "--model", "catalog-t2i", "--prompts", source, "--out", str(tmp_path / "a.npz")])
    assert expected in one_error_line(capsys, code, "sample")


@needs_shipped
def test_many_prompts_are_refused_above_the_memory_budget(capsys, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red mug\n" * 100_000)
    code = pgan(["sample", "--model", "catalog-t2i", "--prompts", str(prompts), "--n", "64",
                 "--out", str(tmp_path / "a.npz")])
    line = one_error_line(capsys, code, "sample")
    assert "100000 prompts x --n 64 = 6,400,000 images" in line and "over the limit" in line


@needs_shipped
def test_a_huge_prompt_is_refused_in_a_short_line(capsys, tmp_path):
    code = pgan(["generate", "mug " * 25_000, "--model", "catalog-t2i", "--out", str(tmp_path / "g.png")])
    line = one_error_line(capsys, code, "generate")
    assert "100000 characters" in line and len(line) < 400


@needs_shipped
def test_notes_about_prompts_are_escaped_and_short(capsys, tmp_path):
    prompt = "a red mug " + "zzzunknown " * 80
    assert pgan(["generate", prompt, "--model", "catalog-t2i", "--n", "2", "--out", str(tmp_path / "g.png")]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes and all(len(line) <= 320 for line in notes)


def test_train_refuses_to_overwrite_resumes_forces_and_respects_the_lock(capsys, tmp_path):
    out = tmp_path / "run"
    base = ["train", "vae-fashion", "--steps", "2", "--out", str(out), "--device", "cpu"]
    assert pgan(base) == 0
    capsys.readouterr()
    line = one_error_line(capsys, pgan(base), "train")
    assert "already holds a run (at step 2)" in line and "--resume" in line and "--force" in line
    assert pgan(base + ["--resume"]) == 0
    assert "Resumed from" in capsys.readouterr().out
    assert pgan(base + ["--force"]) == 0
    capsys.readouterr()
    line = one_error_line(capsys, pgan(base + ["--resume", "--force"]), "train")
    assert "not both" in line
    lock = RunLock(out).acquire()          # as if a second trainer held the folder
    try:
        line = one_error_line(capsys, pgan(base + ["--resume"]), "train")
        assert f"in use by another trainer (PID {os.getpid()})" in line
    finally:
        lock.release()


def test_a_truncated_eval_cache_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PGAN_CACHE_DIR", str(tmp_path))
    if not pretrained.available("fashion-classifier"):
        pytest.skip("the shipped classifier is not present")
    extractor = features.shipped_extractor("fashion-classifier")
    features._REFERENCES.clear()
    first = features.reference(extractor, "fashion-mnist", "test", limit=200, k=5)
    (cached,) = (tmp_path / "eval").glob("*.npz")
    cached.write_bytes(cached.read_bytes()[:200])                   # truncated: BadZipFile if trusted
    features._REFERENCES.clear()
    again = features.reference(extractor, "fashion-mnist", "test", limit=200, k=5)
    assert torch.allclose(first.extracted.features, again.extracted.features)
    with np.load(cached) as z:                                       # and the cache is whole again
        assert z["features"].shape[0] == 200
    assert [p.name for p in (tmp_path / "eval").iterdir()] == [cached.name]   # no temp file left


def test_the_json_of_a_report_cannot_be_written_under_a_file(capsys, file_in_the_way):
    code = pgan(["eval", "--samples", "x.npz", "--json", str(file_in_the_way / "r.json")])
    assert "is a file, not a folder" in one_error_line(capsys, code, "eval")


@needs_shipped
def test_prompts_file_reads_typos_and_refuses_only_unreadable_lines(capsys, tmp_path):
    """A misspelt product word is read (with a note naming the reading); a line with no readable word is
    refused by its number and text, the rest is drawn, and the exit code says a line was refused."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red strped mug\nblorp zibble\na blue dres\n")
    out = tmp_path / "a.npz"
    code = pgan(["sample", "--model", "catalog-t2i", "--prompts", str(prompts), "--n", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "line 2 of" in captured.err and "blorp" in captured.err and "1 line(s)" in captured.err
    assert "line 1 of" not in captured.err and "line 3 of" not in captured.err
    assert "'strped' as 'striped'" in captured.out and "'dres' as 'dress'" in captured.out
    with np.load(out) as z:
        assert list(z["prompts"]) == ["a red strped mug", "a blue dres"]
    code = pgan(["sample", "--model", "catalog-t2i", "--prompts", str(prompts), "--on-error", "fail",
                 "--out", str(tmp_path / "b.npz")])
    line = one_error_line(capsys, code, "sample")
    assert "line 2 of" in line and "blorp" in line and not (tmp_path / "b.npz").exists()
