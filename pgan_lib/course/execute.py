"""Execute course notebooks in place (quick mode) and record their fingerprints.

``execute_notebook(path)`` runs every cell in a fresh kernel with ``PGAN_MODE=quick``
(the library the kernel imports is the one this process runs from: its folder is put
first on ``PYTHONPATH``), in the notebook's folder, then records
``metadata.pgan = {fingerprint: {library, notebook}, mode, seconds}`` (see
``freshness``) and writes the notebook back. A cell that raises stops the run and
nothing is written. Outputs over ``MAX_BYTES`` are refused: committed notebooks stay small.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from . import freshness

MAX_BYTES = 2 * 1024 * 1024
CELL_TIMEOUT_S = 600


class NotebookRunError(RuntimeError):
    """A cell of a notebook raised, or the executed notebook is too large."""


@contextmanager
def kernel_env(mode: str = "quick") -> Iterator[None]:
    """Environment for a kernel: the run mode, and this process's pgan_lib first on the import path."""
    saved = {k: os.environ.get(k) for k in ("PGAN_MODE", "PYTHONPATH", "MPLBACKEND")}
    root = str(freshness.LIBRARY_ROOT.parent)
    os.environ["PGAN_MODE"] = mode
    os.environ["PYTHONPATH"] = os.pathsep.join([root] + ([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else []))
    os.environ.pop("MPLBACKEND", None)          # the kernel's inline backend draws the figures
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_notebook(nb: nbformat.NotebookNode, cwd: str | Path, mode: str = "quick", allow_errors: bool = False,
                 timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Execute ``nb`` (in place) in a fresh kernel started in ``cwd``; returns it."""
    with kernel_env(mode):
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                resources={"metadata": {"path": str(cwd)}})
        client.execute()
    return nb


def execute_notebook(path: str | Path, mode: str = "quick", timeout: int = CELL_TIMEOUT_S) -> float:
    """Execute one notebook in place and record its fingerprint; returns the seconds it took."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"notebook {path} does not exist")
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    try:
        run_notebook(nb, path.parent, mode=mode, timeout=timeout)
    except CellExecutionError as err:
        raise NotebookRunError(f"{path.name}: a cell raised; nothing was written.\n{err}") from None
    except CellTimeoutError as err:
        raise NotebookRunError(f"{path.name}: a cell ran longer than {timeout} s (--timeout); "
                               f"nothing was written.\n{err}") from None
    seconds = time.perf_counter() - t0
    freshness.record(nb, {"mode": mode, "seconds": round(seconds, 1)})
    text = nbformat.writes(nb)
    if len(text.encode()) > MAX_BYTES:
        raise NotebookRunError(f"{path.name}: {len(text.encode()) / 2**20:.1f} MB after execution, over the "
                               f"{MAX_BYTES / 2**20:.0f} MB limit; show fewer or smaller figures. Nothing was written.")
    path.write_text(text, encoding="utf-8")
    return seconds


__all__ = ["execute_notebook", "run_notebook", "kernel_env", "NotebookRunError", "MAX_BYTES"]
