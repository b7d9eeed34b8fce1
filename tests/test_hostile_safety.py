"""The shared guards: escaping names, numbers in range, memory budgets, output paths, atomic writes."""
from __future__ import annotations

import errno
import os

import pytest

from pgan_lib.safety import (
    MAX_SEED,
    OutputPathError,
    check_int,
    check_memory,
    clean_stale_temps,
    format_bytes,
    safe_text,
    temp_name,
    writable_output,
    write_atomically,
)


def test_safe_text_escapes_and_truncates():
    assert safe_text("boot/1.png") == "boot/1.png"
    assert safe_text("a\nb\tc\r\x1b[31m\x00") == "a\\nb\\tc\\r\\x1b[31m\\0"
    assert safe_text("evil\u202egnp.exe") == "evil\\u202egnp.exe"         # right-to-left override shown, not obeyed
    long = safe_text("x" * 100_000, 50)
    assert len(long) == 50 and long.endswith("...")
    assert safe_text("\n" * 100, 10) == "\\n\\n\\n..."


@pytest.mark.parametrize("value, ok", [(0, True), (MAX_SEED, True), (2**64, False), (-1, False), ("12", True),
                                       ("1e3", False), (1.0, True), (1.5, False), (True, False), (None, False)])
def test_check_int(value, ok):
    if ok:
        assert check_int("seed", value, 0, MAX_SEED) == int(value)
    else:
        with pytest.raises(ValueError, match="seed must"):
            check_int("seed", value, 0, MAX_SEED)


def test_check_memory_names_the_numbers():
    check_memory("samples", 10, 100, "use fewer")
    with pytest.raises(MemoryError, match=r"10000000 samples would take 28\.6 GiB, over the limit of 2\.0 GiB; use --n"):
        check_memory("10000000 samples", 10_000_000 * 3 * 32 * 32, 2 * 2**30, "use --n 100000 or less")
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(12) == "12 B"


def test_writable_output(tmp_path):
    assert writable_output(tmp_path / "new" / "x.png") == tmp_path / "new" / "x.png"
    assert (tmp_path / "new").is_dir() and list((tmp_path / "new").iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match=r"cannot write the output file .*file/x\.png: .*file is a file, not a folder"):
        writable_output(tmp_path / "file" / "x.png")
    with pytest.raises(OutputPathError, match="is a folder"):
        writable_output(tmp_path)


def test_write_atomically_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "cache.npz"
    target.write_bytes(b"old")

    def fail(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomically(target, fail)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["cache.npz"]
    write_atomically(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new"


def test_clean_stale_temps_keeps_live_writers_and_other_files(tmp_path):
    dead = 2**22 + 999
    stale = tmp_path / f"a.npz.{dead}.abcdef01.tmp"
    legacy = tmp_path / f"a.npz.{dead}.tmp"
    live = temp_name(tmp_path / "a.npz")
    other = tmp_path / "notes.tmp"
    for p in (stale, legacy, live, other):
        p.write_bytes(b"x")
    removed = clean_stale_temps(tmp_path)
    assert sorted(removed) == sorted([stale, legacy])
    assert live.exists() and other.exists()
    os.utime(live, (0, 0))                      # a day old: removed even though its writer lives
    assert clean_stale_temps(tmp_path) == [live]
