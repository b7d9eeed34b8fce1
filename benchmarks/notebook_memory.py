"""The peak memory of each notebook's kernel, and how many students fit on one 80 GB GPU.

    python benchmarks/notebook_memory.py                          # every notebook, quick mode
    python benchmarks/notebook_memory.py --mode full notebooks/04_conditional_gan.ipynb
    python benchmarks/notebook_memory.py --json runs/notebook_memory.json

Each notebook runs top to bottom in a fresh kernel (its own process, started by nbclient
exactly as ``pgan course execute`` starts it, nothing written back). A last cell, added to
the in-memory copy only, reads that kernel's peaks:

- on CUDA: ``torch.cuda.max_memory_allocated`` and ``max_memory_reserved`` (what PyTorch's
  allocator held at its peak: the number a class share caps);
- always: the kernel's peak resident set size in host RAM (``ru_maxrss``), which is what a
  per-user memory limit of JupyterHub has to allow.

Students per 80 GB GPU = floor(80e9 / (peak reserved + CUDA context)). The CUDA context
(memory a process holds outside the allocator) is measured here in a separate process
(total - free - reserved after cuBLAS and cuDNN have started, on an otherwise idle GPU);
without a GPU the kit's figure ``classroom.CUDA_CONTEXT_BYTES`` (500 MiB) is printed and
the GPU columns stay empty. Memory used by processes a notebook starts itself is not
counted. Wall-clock times are upper bounds on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from pgan_lib.classroom import CUDA_CONTEXT_BYTES
from pgan_lib.cli.common import machine_line, write_json
from pgan_lib.course.execute import run_notebook

ROOT = Path(__file__).resolve().parent.parent
GPU_BYTES = 80e9
MIB = 2**20
MARK = "PGAN_PEAK_MEMORY "

#: the kernel-side hook: one line of JSON with the kernel's peaks (names prefixed so they touch nothing of the notebook's)
HOOK = f"""
import json as _pgan_json, resource as _pgan_resource, sys as _pgan_sys
_pgan_peak = {{"rss_bytes": _pgan_resource.getrusage(_pgan_resource.RUSAGE_SELF).ru_maxrss
               * (1 if _pgan_sys.platform == "darwin" else 1024)}}
if "torch" in _pgan_sys.modules:
    import torch as _pgan_torch
    if _pgan_torch.cuda.is_available() and _pgan_torch.cuda.is_initialized():
        _pgan_peak.update(cuda_allocated_bytes=_pgan_torch.cuda.max_memory_allocated(),
                          cuda_reserved_bytes=_pgan_torch.cuda.max_memory_reserved(),
                          cuda_device=_pgan_torch.cuda.get_device_name())
print({MARK!r} + _pgan_json.dumps(_pgan_peak))
"""

CONTEXT_PROBE = """
import json, torch
x = torch.randn(256, 256, device="cuda")
y = x @ x                                                        # starts cuBLAS
torch.nn.functional.conv2d(torch.randn(1, 3, 16, 16, device="cuda"), torch.randn(4, 3, 3, 3, device="cuda"))  # cuDNN
torch.cuda.synchronize()
free, total = torch.cuda.mem_get_info()
print(json.dumps({"total": total, "used": total - free, "reserved": torch.cuda.memory_reserved()}))
"""


def measure_cuda_context() -> int | None:
    """GPU memory a fresh CUDA process holds outside PyTorch's allocator (None without a GPU)."""
    try:
        import torch
        if not torch.cuda.is_available():
            return None
    except ImportError:
        return None
    out = subprocess.run([sys.executable, "-c", CONTEXT_PROBE], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        print(f"could not measure the CUDA context: {out.stderr.strip()[-300:]}")
        return None
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return int(got["used"] - got["reserved"])


def peak_of(path: Path, mode: str, timeout: int) -> dict:
    """Run one notebook in a fresh kernel and return its peaks (and seconds, or the error)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(HOOK))
    t0 = time.perf_counter()
    try:
        run_notebook(nb, path.parent, mode=mode, timeout=timeout)
    except Exception as err:         # report the notebook that failed and go on with the others
        return {"notebook": path.stem, "error": f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:200]}",
                "seconds": round(time.perf_counter() - t0, 1)}
    seconds = time.perf_counter() - t0
    for output in nb.cells[-1].get("outputs", []):
        for line in str(output.get("text", "")).splitlines():
            if line.startswith(MARK):
                return {"notebook": path.stem, "seconds": round(seconds, 1), **json.loads(line[len(MARK):])}
    return {"notebook": path.stem, "error": "the memory hook printed nothing", "seconds": round(seconds, 1)}


def students_per_gpu(row: dict, context: int) -> int | None:
    reserved = row.get("cuda_reserved_bytes")
    return int(GPU_BYTES // (reserved + context)) if reserved is not None else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to measure (default: notebooks/*.ipynb)")
    ap.add_argument("--mode", choices=("quick", "full"), default="quick")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    print(f"notebook peak memory, {args.mode} mode; {machine_line()}")
    measured = measure_cuda_context()
    context = measured if measured is not None else CUDA_CONTEXT_BYTES
    print(f"CUDA context per process: {context / MIB:.0f} MiB "
          f"({'measured now' if measured is not None else 'the kit figure, classroom.CUDA_CONTEXT_BYTES: no GPU here'})")
    head = f"{'notebook':<30s} {'seconds':>8s} {'peak RSS MiB':>13s} {'GPU alloc MiB':>14s} {'GPU reserved MiB':>17s} " \
           f"{'students/80GB':>14s}"
    print(head, flush=True)
    rows = []
    for path in paths:
        row = peak_of(path, args.mode, args.timeout)
        row["students_per_80gb"] = students_per_gpu(row, context)
        rows.append(row)
        if "error" in row:
            print(f"{row['notebook']:<30s} {row['seconds']:8.1f}  FAILED: {row['error']}", flush=True)
            continue
        gpu = [f"{row[k] / MIB:.0f}" if k in row else "-" for k in ("cuda_allocated_bytes", "cuda_reserved_bytes")]
        per = row["students_per_80gb"]
        print(f"{row['notebook']:<30s} {row['seconds']:8.1f} {row['rss_bytes'] / MIB:13.0f} {gpu[0]:>14s} {gpu[1]:>17s} "
              f"{per if per is not None else '- (no GPU)':>14}", flush=True)
    done = [r for r in rows if "error" not in r]
    if done:
        worst = max(done, key=lambda r: r.get("cuda_reserved_bytes", r["rss_bytes"]))
        print(f"largest: {worst['notebook']} ({worst['rss_bytes'] / MIB:.0f} MiB host RAM"
              + (f", {worst['cuda_reserved_bytes'] / MIB:.0f} MiB GPU reserved -> {worst['students_per_80gb']} "
                 "students per 80 GB GPU" if "cuda_reserved_bytes" in worst else "") + ")")
    if args.json:
        write_json(args.json, {"machine": machine_line(), "mode": args.mode, "cuda_context_bytes": context,
                               "cuda_context_measured": measured is not None, "rows": rows})


if __name__ == "__main__":
    main()
