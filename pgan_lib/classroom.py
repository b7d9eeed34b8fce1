"""One GPU shared by a class: each student's process takes its share, picks batches that fit, reports its peak.

``PGAN_CLASS_SIZE=N`` says that N processes (one per student) share one GPU. When it is
set, the first time the kit picks a CUDA device (``config.pick_device``) the process caps
the memory PyTorch's caching allocator may hold on that GPU:

    fraction = (1 - margin) / N - context/total

where ``total`` is the GPU's memory, ``context`` the memory every CUDA process holds
outside the allocator (its CUDA context with cuDNN/cuBLAS workspaces, about 500 MiB:
``CUDA_CONTEXT_BYTES``, measured by ``benchmarks/notebook_memory.py`` where a GPU exists)
and ``margin`` the part of each share left as slack for fragmentation (2 %). A process that asks for more than its
share gets ``torch.cuda.OutOfMemoryError`` instead of taking a classmate's memory; the
trainer and ``pgan sample`` turn that error into one line naming the batch size to try
(:func:`out_of_memory_message`).

A batch size that fits a budget follows from a memory model that is linear in the batch:

    peak(b) ~ fixed + b * per_sample   ->   b = floor((budget - fixed) / per_sample)

with ``fixed`` (weights, optimiser state, workspaces) and ``per_sample`` (activations)
measured from two batch sizes (:func:`measure_memory_model`, CUDA only) and the choice
itself a pure function (:func:`pick_batch_size`). :func:`peak_memory` reports what the
process used at its peak: the allocator's peak on CUDA, the peak resident set size on a CPU.
"""
from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch

CLASS_SIZE_ENV = "PGAN_CLASS_SIZE"
#: GPU memory each CUDA process holds outside PyTorch's allocator (context, cuDNN/cuBLAS handles); an upper
#: figure for recent GPUs and PyTorch 2.x, re-measured by benchmarks/notebook_memory.py on a GPU.
CUDA_CONTEXT_BYTES = 500 * 2**20
#: the part of each share left free as slack for the allocator's fragmentation
SHARE_MARGIN = 0.02
MAX_CLASS_SIZE = 1024
GIB = 2**30
MIB = 2**20


class ClassShareError(ValueError):
    """PGAN_CLASS_SIZE is not a usable number, or the share it gives is too small to run anything."""


class DeviceOutOfMemory(MemoryError):
    """The device ran out of memory; the message names the batch size used and a smaller one to try."""

    def __init__(self, message: str, batch_size: int | None = None, suggestion: int | None = None) -> None:
        super().__init__(message)
        self.batch_size = batch_size
        self.suggestion = suggestion


def class_size(value: str | int | None = None) -> int | None:
    """The class size from ``value`` or ``$PGAN_CLASS_SIZE``: a whole number 1..1024, or None when unset."""
    raw = os.environ.get(CLASS_SIZE_ENV) if value is None else value
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        n = int(str(raw).strip())
    except ValueError:
        n = -1
    if isinstance(raw, bool) or not 1 <= n <= MAX_CLASS_SIZE:
        raise ClassShareError(f"{CLASS_SIZE_ENV}={str(raw)[:40]!r} is not a class size: use a whole number "
                              f"from 1 to {MAX_CLASS_SIZE} (the number of students sharing one GPU), "
                              f"e.g. `export {CLASS_SIZE_ENV}=20`, or unset it")
    return n


def share_fraction(n: int, total_bytes: int, context_bytes: int = CUDA_CONTEXT_BYTES,
                   margin: float = SHARE_MARGIN) -> float:
    """The fraction of a GPU's memory one of ``n`` processes may allocate: (1 - margin)/n - context/total.

    ClassShareError when nothing useful is left (fewer than 64 MiB per process).
    """
    if n < 1 or total_bytes <= 0:
        raise ClassShareError(f"a class share needs n >= 1 and a GPU size > 0 (got n={n}, total={total_bytes})")
    fraction = (1.0 - margin) / n - context_bytes / total_bytes
    if fraction * total_bytes < 64 * MIB:
        most = max(1, int((1.0 - margin) * total_bytes // (context_bytes + 64 * MIB)))
        raise ClassShareError(
            f"{n} processes cannot share a GPU of {total_bytes / GIB:.1f} GiB: each needs about "
            f"{context_bytes / MIB:.0f} MiB for its CUDA context plus room to work; use {CLASS_SIZE_ENV}={most} or less")
    return fraction


@dataclass(frozen=True)
class ClassShare:
    """What a process was given: its fraction of the GPU and the bytes that makes (None on a CPU)."""

    class_size: int
    device: str
    fraction: float | None
    total_bytes: int | None
    share_bytes: int | None

    def line(self) -> str:
        if self.fraction is None or self.total_bytes is None or self.share_bytes is None:
            return (f"class share: {CLASS_SIZE_ENV}={self.class_size}, but {self.device} is no CUDA GPU: "
                    "no memory cap is set (a CPU's memory is shared by the operating system)")
        return (f"class share: {CLASS_SIZE_ENV}={self.class_size} -> this process may use {self.fraction:.1%} of "
                f"{self.device} ({self.share_bytes / GIB:.2f} of {self.total_bytes / GIB:.1f} GiB; "
                f"{CUDA_CONTEXT_BYTES / MIB:.0f} MiB per process kept for its CUDA context)")


_applied: dict[str, ClassShare] = {}


def share_gpu(n: int | None = None, device: str | torch.device | None = None, announce: bool = True) -> ClassShare | None:
    """Cap this process's GPU memory to its share of a class of ``n`` (default ``$PGAN_CLASS_SIZE``).

    On a CUDA device it calls ``torch.cuda.set_per_process_memory_fraction(share_fraction(n, total))``
    once per device and returns the share; on any other device nothing is capped (the returned
    share says so). None when no class size is given or set.
    """
    size = class_size(n)
    if size is None:
        return None
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type != "cuda":
        return ClassShare(size, str(dev), None, None, None)
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    key = f"cuda:{index}"
    if key in _applied and _applied[key].class_size == size:
        return _applied[key]
    total = int(torch.cuda.get_device_properties(index).total_memory)
    fraction = share_fraction(size, total)
    torch.cuda.set_per_process_memory_fraction(fraction, index)
    share = ClassShare(size, key, fraction, total, int(fraction * total))
    _applied[key] = share
    if announce:
        print(share.line())
    return share


def current_share() -> ClassShare | None:
    """The share this process has set (the first CUDA device's), or None."""
    return next(iter(_applied.values()), None)


# ----------------------------------------------------------------------------- batch sizes that fit


def pick_batch_size(budget_bytes: float, per_sample_bytes: float, fixed_bytes: float = 0.0, largest: int = 4096,
                    smallest: int = 1, multiple_of: int = 8, headroom: float = 0.9) -> int:
    """The largest batch size whose predicted peak, fixed + b * per_sample, fits ``headroom * budget``.

    Rounded down to a multiple of ``multiple_of`` (when that leaves at least one multiple),
    at most ``largest``. ClassShareError naming the numbers when not even ``smallest`` fits.
    """
    if per_sample_bytes <= 0:
        raise ValueError(f"per_sample_bytes must be positive, got {per_sample_bytes}")
    room = headroom * budget_bytes - fixed_bytes
    fits = int(room // per_sample_bytes) if room > 0 else 0
    if fits < smallest:
        raise ClassShareError(
            f"not even a batch of {smallest} fits: {budget_bytes / MIB:.0f} MiB available, {fixed_bytes / MIB:.0f} MiB "
            f"fixed + {per_sample_bytes / MIB:.2f} MiB per sample; give this process a larger share "
            f"(a smaller {CLASS_SIZE_ENV}) or use a smaller model")
    b = min(fits, largest)
    if multiple_of > 1 and b >= multiple_of:
        b -= b % multiple_of
    return max(b, smallest)


@dataclass(frozen=True)
class MemoryModel:
    """peak(b) = fixed + b * per_sample, in bytes, measured from two batch sizes."""

    fixed_bytes: float
    per_sample_bytes: float

    def peak(self, batch_size: int) -> float:
        return self.fixed_bytes + batch_size * self.per_sample_bytes


def measure_memory_model(step: Callable[[int], Any], device: str | torch.device = "cuda",
                         sizes: tuple[int, int] = (16, 64)) -> MemoryModel:
    """Fit peak(b) = fixed + b * per_sample from the allocator's peak while ``step(b)`` runs at two batch sizes.

    ``step(b)`` runs one training or sampling step with batch ``b`` on ``device`` (a CUDA
    device: the CPU has no allocator statistics to read; ValueError there).
    """
    dev = torch.device(device)
    if dev.type != "cuda":
        raise ValueError(f"measure_memory_model needs a CUDA device (got {dev}); on a CPU memory is not capped per process")
    small, large = sorted(sizes)
    if not 0 < small < large:
        raise ValueError(f"sizes must be two different positive batch sizes, got {sizes}")
    peaks = []
    for b in (small, large):
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        step(b)
        torch.cuda.synchronize(dev)
        peaks.append(float(torch.cuda.max_memory_allocated(dev)))
    per_sample = max((peaks[1] - peaks[0]) / (large - small), 1.0)
    return MemoryModel(max(peaks[0] - small * per_sample, 0.0), per_sample)


def batch_size_for_share(step: Callable[[int], Any], device: str | torch.device = "cuda", largest: int = 4096,
                         budget_bytes: float | None = None) -> int:
    """A batch size for ``step`` that fits this process's share (or ``budget_bytes``; else the device's free memory)."""
    dev = torch.device(device)
    model = measure_memory_model(step, dev)
    if budget_bytes is None:
        share = _applied.get(f"cuda:{dev.index if dev.index is not None else torch.cuda.current_device()}")
        budget_bytes = share.share_bytes if share and share.share_bytes else float(torch.cuda.mem_get_info(dev)[0])
    return pick_batch_size(budget_bytes, model.per_sample_bytes, model.fixed_bytes, largest=largest)


# ----------------------------------------------------------------------------- peak memory


@dataclass(frozen=True)
class PeakMemory:
    """A process's peak memory: the allocator's on CUDA (allocated and reserved), else the peak resident set."""

    device: str
    kind: str                       # "cuda" or "rss"
    peak_bytes: int                 # allocated (CUDA) or resident set size (CPU)
    reserved_bytes: int | None = None
    share_bytes: int | None = None

    def line(self) -> str:
        if self.kind == "cuda":
            share = f"; share {self.share_bytes / GIB:.2f} GiB" if self.share_bytes else ""
            return (f"peak memory on {self.device}: {self.peak_bytes / MIB:.0f} MiB allocated, "
                    f"{(self.reserved_bytes or 0) / MIB:.0f} MiB reserved by PyTorch (+ about "
                    f"{CUDA_CONTEXT_BYTES / MIB:.0f} MiB CUDA context){share}")
        return f"peak memory of this process: {self.peak_bytes / MIB:.0f} MiB resident (CPU)"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def peak_rss_bytes() -> int:
    """The process's peak resident set size in bytes (0 where the platform cannot say)."""
    try:
        import resource  # Unix only
    except ImportError:  # pragma: no cover - Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)      # bytes on macOS, KiB on Linux


def peak_memory(device: str | torch.device | None = None) -> PeakMemory:
    """The peak memory of this process on ``device`` (CUDA: ``max_memory_allocated``/``max_memory_reserved``)."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        share = _applied.get(f"cuda:{index}")
        return PeakMemory(f"cuda:{index}", "cuda", int(torch.cuda.max_memory_allocated(index)),
                          int(torch.cuda.max_memory_reserved(index)), share.share_bytes if share else None)
    return PeakMemory(str(dev), "rss", peak_rss_bytes())


# ----------------------------------------------------------------------------- out of memory


def smaller_batch(batch_size: int) -> int:
    """The batch size to try after running out of memory: half, at least 1."""
    return max(1, int(batch_size) // 2)


def out_of_memory_message(batch_size: int, what: str = "training", option: str = "--batch-size",
                          device: str | torch.device | None = "cuda") -> str:
    """One line for a CUDA out-of-memory error: the batch size used, a smaller one to try, and the class share."""
    size = class_size_or_none()
    advice = f"try {option} {smaller_batch(batch_size)}" if batch_size > 1 else "the batch is already 1: use --device cpu"
    line = f"{device} ran out of memory while {what} with batch size {batch_size}; {advice}"
    if size is not None:
        line += (f" ({CLASS_SIZE_ENV}={size} gives this process 1/{size} of the GPU; a smaller class size gives "
                 "each process more, and `pgan doctor` shows the share)")
    return line


def class_size_or_none() -> int | None:
    """``$PGAN_CLASS_SIZE`` as a number, or None when unset or not a number (for messages only)."""
    try:
        return class_size()
    except ClassShareError:
        return None


def out_of_memory(batch_size: int, what: str = "training", option: str = "--batch-size",
                  device: str | torch.device | None = "cuda") -> DeviceOutOfMemory:
    """The DeviceOutOfMemory to raise (``from None``, so that no traceback of the failed step is shown)."""
    return DeviceOutOfMemory(out_of_memory_message(batch_size, what, option, device), batch_size, smaller_batch(batch_size))
