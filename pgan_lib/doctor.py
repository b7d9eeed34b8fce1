"""``pgan doctor``: is this machine ready for the course? One screen, one line per check, each OK, WARN or FAIL.

The checks, in order: the device and its memory (GPU name, total and free memory on
CUDA; CPU cores and RAM otherwise), the torch and CUDA versions, Fashion-MNIST found and
its sha256 verified, the shipped checkpoints verified against ``checkpoints/manifest.json``,
the cache folders (the home one and ``$PGAN_CACHE_DIR``) and whether they can be written,
the run mode and the class share (``$PGAN_CLASS_SIZE``). A FAIL names its fix; the
command exits 1 when any check fails. The notebook calls the same :func:`run_checks`.
"""
from __future__ import annotations

import errno
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Callable

import torch

from . import __version__, classroom, pretrained
from .checkpoint import CheckpointError
from .config import DeviceError, ModeSettings, check_device, get_mode
from .data import fashion_mnist
from .safety import safe_text, write_atomically

OK, WARN, FAIL = "OK", "WARN", "FAIL"
GIB = 2**30


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, the verdict, what was found and (for WARN/FAIL) the fix."""

    name: str
    status: str
    detail: str
    fix: str = ""


# ----------------------------------------------------------------------------- the checks


def _ram_bytes() -> tuple[int | None, int | None]:
    """(total, available) memory of this machine in bytes, None where the platform cannot say."""
    total = avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.split()[1:2]}
        total, avail = info.get("MemTotal"), info.get("MemAvailable")
    except (OSError, ValueError, IndexError):
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            pass
    return total, avail


def check_device_memory() -> Check:
    """The device the kit will use and its memory."""
    wanted = os.environ.get("PGAN_DEVICE")
    try:
        dev = check_device(wanted) if wanted not in (None, "", "auto") else None
    except DeviceError as err:
        return Check("device", FAIL, f"PGAN_DEVICE={safe_text(wanted, 40)} cannot be used: {err}",
                     "unset PGAN_DEVICE (the kit picks cuda > mps > cpu) or set it to a device listed above")
    if (dev is None and torch.cuda.is_available()) or (dev is not None and dev.type == "cuda"):
        index = dev.index if dev is not None and dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        return Check("device", OK, f"cuda:{index} {props.name}: {total / GIB:.1f} GiB total, {free / GIB:.1f} GiB free "
                                   f"({torch.cuda.device_count()} GPU(s))")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    total_ram, avail = _ram_bytes()
    ram = (f", {total_ram / GIB:.1f} GiB RAM" if total_ram else "") + (f" ({avail / GIB:.1f} GiB free)" if avail else "")
    if dev is not None and dev.type == "mps":
        return Check("device", OK, f"mps (Apple GPU), {cores} CPU cores{ram}")
    note = "" if dev is not None else "; no GPU found: quick mode runs fine, full mode wants a GPU"
    return Check("device", OK if dev is not None else WARN, f"cpu: {cores} cores, torch uses {torch.get_num_threads()} "
                                                            f"thread(s){ram}{note}",
                 "" if dev is not None else "nothing to fix for quick mode; use a CUDA GPU for full-mode training")


def check_versions() -> Check:
    """Python, torch, its CUDA and cuDNN, torchvision."""
    try:
        import torchvision  # only for its version number
        tv = torchvision.__version__
    except ImportError:
        return Check("versions", FAIL, f"torch {torch.__version__}, but torchvision is missing",
                     "pip install -e '.[dev]' (or make setup) in the kit's folder")
    cuda = torch.version.cuda or "none (CPU build)"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    major, minor = (int(x) for x in torch.__version__.split(".")[:2])
    detail = (f"Python {platform.python_version()}, torch {torch.__version__} (CUDA {cuda}"
              f"{f', cuDNN {cudnn}' if cudnn else ''}), torchvision {tv}")
    if (major, minor) < (2, 2):
        return Check("versions", FAIL, detail, "the kit needs torch >= 2.2: pip install -U 'torch>=2.2'")
    return Check("versions", OK, detail)


def check_data() -> Check:
    """Fashion-MNIST found in one of the known places, every file's sha256 checked."""
    try:
        folder = fashion_mnist.find_files()
    except fashion_mnist.FashionMNISTNotFound as err:
        rejected = [line.strip(" -") for line in str(err).splitlines() if "checksum mismatch" in line]
        detail = ("Fashion-MNIST found but rejected: " + "; ".join(rejected)) if rejected else \
            "Fashion-MNIST not found (looked in $PGAN_DATA_DIR, /usr/share/datasets/fashion-mnist, the cache)"
        return Check("data", FAIL, detail,
                     "sudo apt install dataset-fashion-mnist, or set PGAN_DATA_DIR to a folder with the four "
                     "*-ubyte.gz files, or `pgan data download` where the network allows")
    return Check("data", OK, f"Fashion-MNIST in {folder} ({len(fashion_mnist.FILES)} files, sha256 verified)")


def check_checkpoints() -> Check:
    """Every shipped checkpoint present and matching the sha256 of the manifest."""
    folder = pretrained.checkpoint_dir()
    try:
        manifest = pretrained.read_manifest(folder)
    except CheckpointError as err:
        return Check("checkpoints", FAIL, str(err), f"git checkout {folder / pretrained.MANIFEST}")
    if not manifest:
        return Check("checkpoints", WARN, f"no {pretrained.MANIFEST} in {folder}: no shipped models",
                     "the notebooks train what they need (slower); restore checkpoints/ from the repository")
    bad = []
    for entry in manifest.values():
        try:
            pretrained.verify_entry(entry, folder)
        except CheckpointError as err:
            bad.append(str(err))
    if bad:
        return Check("checkpoints", FAIL, f"{len(bad)} of {len(manifest)} shipped models do not verify: {bad[0]}"
                     + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""),
                     f"restore them: `git checkout {folder}` in the kit's repository (or reinstall the kit)")
    return Check("checkpoints", OK, f"{len(manifest)} shipped models verified against {folder / pretrained.MANIFEST}")


def _write_ok(f: IO[bytes]) -> None:
    f.write(b"ok\n")


def probe_writable(folder: Path) -> str | None:
    """None when a file can be written (atomically) in ``folder``, created if needed; else the reason."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = write_atomically(folder / f".pgan-doctor.{os.getpid()}", _write_ok)
        probe.unlink()
        return None
    except OSError as err:
        return err.strerror or str(err) or errno.errorcode.get(err.errno or 0, "error")


def home_cache_folder() -> Path:
    """The cache folder under the user's home (``$XDG_CACHE_HOME`` or ~/.cache, then pgan-kit)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "pgan-kit"


def check_caches() -> list[Check]:
    """The home cache and ``$PGAN_CACHE_DIR``: whether each can be written; the one in use must be."""
    env = os.environ.get("PGAN_CACHE_DIR")
    folders = [("cache", home_cache_folder(), not env)]
    if env:
        folders.append(("cache (PGAN_CACHE_DIR)", Path(env), True))
    out = []
    for name, folder, in_use in folders:
        problem = probe_writable(folder)
        where = f"{safe_text(folder, 200)}{' (in use)' if in_use else ' (not used: PGAN_CACHE_DIR is set)'}"
        if problem is None:
            out.append(Check(name, OK, f"{where}: writable"))
        elif in_use:
            out.append(Check(name, FAIL, f"{where}: cannot be written ({problem}); rendered data and features are "
                                         "then computed again in every session",
                             "export PGAN_CACHE_DIR=/a/folder/you/own (e.g. $HOME/pgan-cache), or free space there"))
        else:
            out.append(Check(name, WARN, f"{where}: cannot be written ({problem})", "nothing to do while PGAN_CACHE_DIR is set"))
    return out


def check_mode() -> Check:
    """The run mode from ``$PGAN_MODE``."""
    raw = os.environ.get("PGAN_MODE")
    try:
        mode: ModeSettings = get_mode()
    except ValueError as err:
        return Check("mode", FAIL, str(err).split(" Use ")[0], "export PGAN_MODE=quick (or full on a GPU)")
    what = ("small subsets, each notebook well under a minute on 2 CPU cores" if mode.name == "quick"
            else "all data, training to early stopping: meant for a GPU")
    return Check("mode", OK, f"{mode.name} ({what}){'' if raw else '; PGAN_MODE unset: the default'}")


def check_class_share() -> Check:
    """``$PGAN_CLASS_SIZE``: the share of the GPU this process would take (nothing is capped by the check)."""
    try:
        n = classroom.class_size()
    except classroom.ClassShareError as err:
        return Check("class share", FAIL, str(err).split(": use ")[0], f"export {classroom.CLASS_SIZE_ENV}=20 "
                     "(the number of students on this GPU), or unset it")
    if n is None:
        return Check("class share", OK, f"{classroom.CLASS_SIZE_ENV} not set: this process may use the whole device")
    if not torch.cuda.is_available():
        return Check("class share", WARN, f"{classroom.CLASS_SIZE_ENV}={n} is set but there is no CUDA GPU: nothing is capped",
                     "unset it on a machine without a GPU")
    total = int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory)
    try:
        fraction = classroom.share_fraction(n, total)
    except classroom.ClassShareError as err:
        return Check("class share", FAIL, str(err).split("; use ")[0], "use a smaller " + str(err).split("; use ")[-1])
    return Check("class share", OK, f"{classroom.CLASS_SIZE_ENV}={n}: each process may use {fraction:.1%} of the GPU "
                                    f"({fraction * total / GIB:.2f} GiB, + {classroom.CUDA_CONTEXT_BYTES / 2**20:.0f} MiB "
                                    "CUDA context)")


def check_install() -> Check:
    """Where the kit is installed and whether that folder is read-only (a shared install: fine, nothing is written there)."""
    pkg = Path(pretrained.__file__).resolve().parent
    shared = not os.access(pkg, os.W_OK)
    return Check("install", OK, f"pgan-kit {__version__} at {safe_text(pkg, 200)}"
                                f"{' (read-only: a shared install; caches and runs go to your own folders)' if shared else ''}")


#: every check, in the order of the report
CHECKS: tuple[Callable[[], Check | list[Check]], ...] = (check_device_memory, check_versions, check_install, check_data,
                                                         check_checkpoints, check_caches, check_mode, check_class_share)


def run_checks() -> list[Check]:
    """Run every check; a check that crashes is itself a FAIL (naming the error), never a traceback."""
    out: list[Check] = []
    for check in CHECKS:
        try:
            got = check()
        except Exception as err:  # a doctor must report, not crash
            got = Check(check.__name__.replace("check_", ""), FAIL, f"the check itself failed: {type(err).__name__}: "
                        f"{safe_text(err, 300)}", "report this with the output of `pgan doctor --json`")
        out.extend(got if isinstance(got, list) else [got])
    return out


def exit_code(checks: list[Check]) -> int:
    """1 when any check failed, else 0 (a WARN does not fail)."""
    return 1 if any(c.status == FAIL for c in checks) else 0


def report(checks: list[Check]) -> str:
    """The one-screen text: a line per check, a ``fix:`` line under each WARN/FAIL, a verdict at the end."""
    lines = [f"pgan doctor: Python {platform.python_version()} on {platform.system()} {platform.machine()}"]
    width = max(len(c.name) for c in checks)
    for c in checks:
        lines.append(f"  {c.status:<4}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != OK:
            lines.append(f"  {'':<4}  {'':<{width}}  fix: {c.fix}")
    failed = [c.name for c in checks if c.status == FAIL]
    lines.append(f"{len(failed)} problem(s): {', '.join(failed)}; see the fix lines above" if failed
                 else "All checks passed" + (" (with warnings)" if any(c.status == WARN for c in checks) else "") + ".")
    return "\n".join(lines)


def as_json(checks: list[Check]) -> dict[str, Any]:
    """The report as a JSON-ready dict: ok, exit code, and every check."""
    return {"ok": exit_code(checks) == 0, "exit_code": exit_code(checks), "python": sys.version.split()[0],
            "checks": [asdict(c) for c in checks]}


__all__ = ["Check", "run_checks", "report", "exit_code", "as_json", "probe_writable"]
