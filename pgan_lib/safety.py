"""Limits and small guards shared by the loaders, the trainer and the command line.

Everything here is a pure function or a constant (no torch), so any layer can use it:

* **Limits** (``MAX_*``): how big an input may get before the kit refuses it with a
  message that names the number and the limit, instead of growing without bound.
* :func:`safe_text`: how a file name or a description is printed. Control characters
  (a newline in a file name could forge a report line) become visible escapes, and
  long text is cut with "...".
* :func:`read_prompts`: a prompts file read with a size limit; a bad line is reported
  by its number and the others are kept.
* :func:`temp_name`, :func:`write_atomically`, :func:`clean_stale_temps`: every cache
  and checkpoint write goes to ``name.<pid>.<random>.tmp`` and is renamed into place,
  so two processes never share a temporary file and a crash leaves no half file;
  temporary files of processes that are gone are removed later.
* :func:`writable_output`: check an output path before long work starts.
* :func:`check_int`, :func:`check_memory`: a number in its range, a memory budget, each
  refused with the value, the limit and the fix.
* :func:`pid_alive`: whether a process id is still running on this machine.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

__all__ = [
    "MAX_CAPTIONS_BYTES", "MAX_DESCRIPTION_CHARS", "MAX_IMAGE_FILE_BYTES", "MAX_IMAGE_PIXELS", "MAX_IMAGE_SIZE",
    "MAX_JSON_DEPTH", "MAX_LOADED_BYTES", "MAX_PROMPT_CHARS", "MAX_PROMPT_LINES", "MAX_PROMPTS_BYTES",
    "MAX_SAMPLE_BYTES", "MAX_SEED", "MAX_SIDECAR_BYTES",
    "OutputPathError", "PathError", "Prompts", "PromptsFileError",
    "check_int", "check_memory", "clean_stale_temps", "format_bytes", "pid_alive", "read_prompts", "safe_text",
    "temp_name", "writable_output", "write_atomically",
]

#: Largest image (width x height, after JPEG draft scaling) a loader decodes; 64 megapixels
#: is a 9000 x 7000 photo, about 200 MB as RGB. Larger images are skipped and named.
MAX_IMAGE_PIXELS = 64_000_000
#: Largest image file read from disk.
MAX_IMAGE_FILE_BYTES = 256 * 2**20
#: Largest side of the square images the kit converts to (``size``).
MAX_IMAGE_SIZE = 1024
#: Largest captions.csv read.
MAX_CAPTIONS_BYTES = 64 * 2**20
#: Longest description a captions.csv row may have (longer rows are skipped by line number).
MAX_DESCRIPTION_CHARS = 2000
#: Memory the decoded images of one folder may take together.
MAX_LOADED_BYTES = 4 * 2**30
#: A prompts file: bytes, lines and characters per prompt.
MAX_PROMPTS_BYTES = 4 * 2**20
MAX_PROMPT_LINES = 100_000
MAX_PROMPT_CHARS = 1000
#: A checkpoint's JSON sidecar: bytes and nesting depth.
MAX_SIDECAR_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 64
#: Memory a set of generated images may take before it must be written in chunks.
MAX_SAMPLE_BYTES = 2 * 2**30
#: Seeds are stored by torch as 64-bit integers.
MAX_SEED = 2**63 - 1

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": "\\0"}


def safe_text(text: object, max_len: int = 200) -> str:
    """``text`` made safe to print on one line: control characters escaped, cut with "...".

    Newlines, tabs, escape sequences, other C0/C1 controls, line/paragraph separators and
    bidirectional overrides (which can make a name read backwards) become ``\\n``,
    ``\\x1b``, ``\\u202e``, ...; the result is at most ``max_len`` characters, ending in
    "..." when it was cut. Backslashes are left as they are.
    """
    s = text if isinstance(text, str) else str(text)
    if max_len < 4:
        raise ValueError(f"max_len must be at least 4, got {max_len}")
    out: list[str] = []
    length = 0
    for ch in s:
        if ch in _ESCAPES:
            piece = _ESCAPES[ch]
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co"):
            code = ord(ch)
            piece = f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            piece = ch
        out.append(piece)
        length += len(piece)
        if length > max_len:
            break
    if length <= max_len:
        return "".join(out)
    kept, used = [], 0
    for piece in out:      # cut between escapes, never inside one
        if used + len(piece) > max_len - 3:
            break
        kept.append(piece)
        used += len(piece)
    result = "".join(kept) + "..."
    return result


def format_bytes(n: float) -> str:
    """A byte count for people: 1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def check_int(name: str, value: object, low: int, high: int, fix: str = "") -> int:
    """``value`` as an int in [low, high]; a ValueError naming the value, the range and ``fix`` otherwise.

    Accepts ints, whole floats and digit strings ("12"); refuses booleans, fractions and the rest.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value) < 100:
        number = int(value)
    if number is None:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {safe_text(repr(value), 60)}"
                         + (f"; {fix}" if fix else ""))
    if not low <= number <= high:
        raise ValueError(f"{name} must be from {low} to {high}, got {number}" + (f"; {fix}" if fix else ""))
    return number


def check_memory(what: str, n_bytes: int, budget: int, fix: str) -> None:
    """Refuse (MemoryError with the numbers and ``fix``) when ``n_bytes`` exceeds ``budget``."""
    if n_bytes > budget:
        raise MemoryError(f"{what} would take {format_bytes(n_bytes)}, over the limit of {format_bytes(budget)}; {fix}")


# ---------------------------------------------------------------------------
# Prompts files
# ---------------------------------------------------------------------------


class PromptsFileError(ValueError):
    """A prompts file that cannot be used at all (missing, too large, a folder)."""


@dataclass
class Prompts:
    """A prompts file's usable lines and the refused ones, each with its 1-based line number."""

    prompts: list[tuple[int, str]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [p for _, p in self.prompts]


def read_prompts(path: str | os.PathLike, max_bytes: int = MAX_PROMPTS_BYTES, max_lines: int = MAX_PROMPT_LINES,
                 max_chars: int = MAX_PROMPT_CHARS) -> Prompts:
    """One prompt per line: blank lines and lines starting with '#' are passed over.

    Reads at most ``max_bytes`` (so ``/dev/zero`` or a huge file is refused, not read for
    ever). A line that is not UTF-8, holds control characters or is longer than
    ``max_chars`` is refused by number in ``problems``; the other lines are kept.
    Raises :class:`PromptsFileError` when the file itself is unusable.
    """
    p = Path(path)
    shown = safe_text(str(path), 200)
    if p.is_dir():
        raise PromptsFileError(f"{shown} is a folder; pass a text file with one description per line")
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise PromptsFileError(f"{shown} not found; check the path (relative paths start at {safe_text(os.getcwd())})") from None
    except OSError as exc:
        raise PromptsFileError(f"cannot read {shown} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "rb") as f:
            data = _read_up_to(f, max_bytes + 1)
    except OSError as exc:
        raise PromptsFileError(f"cannot read {shown} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise PromptsFileError(
            f"{shown} is larger than {format_bytes(max_bytes)} (the limit for a prompts file); split it into smaller files")
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    out = Prompts()
    kept = 0
    for no, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8-sig" if no == 1 else "utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            out.problems.append((no, f"not UTF-8 text (byte {exc.start + 1} of the line); save the file as UTF-8"))
            continue
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if len(text) > max_chars:
            out.problems.append((no, f"{len(text)} characters (limit {max_chars}): {safe_text(text, 60)}; shorten it"))
            continue
        if any(unicodedata.category(ch) == "Cc" for ch in text.replace("\t", " ")):
            out.problems.append((no, f"holds control characters: {safe_text(text, 60)}; remove them"))
            continue
        kept += 1
        if kept > max_lines:
            raise PromptsFileError(f"{shown} has more than {max_lines} prompts (the limit); split it into smaller files")
        out.prompts.append((no, text))
    return out


def _read_up_to(f: IO[bytes], n: int) -> bytes:
    chunks, left = [], n
    while left > 0:
        try:
            block = f.read(min(left, 1 << 20))
        except BlockingIOError:  # an empty FIFO: nothing to read now
            block = b""
        if not block:
            break
        chunks.append(block)
        left -= len(block)
    return b"".join(chunks)


# ---------------------------------------------------------------------------
# Temporary files, atomic writes, processes
# ---------------------------------------------------------------------------

_TMP_RE = re.compile(r"^(?P<name>.+)\.(?P<pid>\d+)\.(?P<rand>[0-9a-f]{8})\.tmp$")
#: temporary names of older versions: name.tmp<pid> (checkpoints), name.<pid>.tmp (caches)
_LEGACY_TMP_RE = re.compile(r"^(?P<name>.+\.(?:safetensors|json|npz))\.(?:tmp(?P<pid>\d+)|(?P<pid2>\d+)\.tmp)$")


def temp_name(path: str | os.PathLike) -> Path:
    """A temporary file next to ``path`` that no other process uses: ``name.<pid>.<random>.tmp``."""
    p = Path(path)
    return p.with_name(f"{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], None], mode: int = 0o644) -> Path:
    """Write ``path`` by calling ``write(file)`` on a private temporary file, then renaming it.

    Readers see the old file or the whole new one, never a part. On any error the
    temporary file is removed and the error is raised (an OSError such as a full disk
    or a read-only folder: the caller decides whether that is fatal).
    """
    p = Path(path)
    tmp = temp_name(p)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        except OSError:  # pragma: no cover - e.g. the folder became read-only meanwhile
            pass
    return p


class PathError(OSError):
    """An OSError whose text is one readable sentence (naming the path, the reason and the fix);
    ``errno`` keeps the operating system's error number."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


class OutputPathError(PathError):
    """An output file cannot be written where it was asked for; the message names the path and the fix."""


def _blocking_ancestor(p: Path) -> Path | None:
    """The nearest existing ancestor of ``p`` that is a file rather than a folder, if any."""
    for parent in p.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def writable_output(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check before long work that ``path`` can be written: its folder is created if needed and
    probed with a private temporary file. OutputPathError (naming the path and the reason) otherwise."""
    p = Path(path)
    shown = safe_text(str(path), 200)
    if p.is_dir():
        raise OutputPathError(f"{what} {shown} is a folder; give a file name inside it", errno.EISDIR)
    blocker = _blocking_ancestor(p)
    if blocker is not None:
        raise OutputPathError(f"cannot write the {what} {shown}: {safe_text(str(blocker), 200)} is a file, not a "
                              "folder; choose a path in a writable folder", errno.ENOTDIR)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        probe = temp_name(p)
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise OutputPathError(f"cannot write the {what} {shown} ({exc.strerror or exc}); "
                              "choose a path in a writable folder with free space", exc.errno) from None
    return p


def pid_alive(pid: int) -> bool:
    """True if a process with this id runs on this machine (or we may not signal it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def clean_stale_temps(folder: str | os.PathLike, max_age_s: float = 24 * 3600) -> list[Path]:
    """Remove ``*.<pid>.<random>.tmp`` files in ``folder`` whose writer is gone (or that are older
    than ``max_age_s``); returns what was removed. Errors are ignored: cleaning is best effort."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(os.fspath(folder)))
    except OSError:
        return removed
    for e in entries:
        m = _TMP_RE.match(e.name) or _LEGACY_TMP_RE.match(e.name)
        if not m:
            continue
        try:
            if not e.is_file(follow_symlinks=False):
                continue
            age = now - e.stat(follow_symlinks=False).st_mtime
            pid = int(m.groupdict().get("pid") or m.groupdict()["pid2"])
            if (pid != os.getpid() and not pid_alive(pid)) or age > max_age_s:
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            continue
    return removed
