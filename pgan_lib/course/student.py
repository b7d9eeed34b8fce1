"""Student copies of the course notebooks, made without nbgrader.

The notebooks in ``notebooks/`` are the instructor's copies, marked the way
nbgrader marks them, so an instructor with nbgrader can use them as they are:

    ### BEGIN SOLUTION ... ### END SOLUTION           in a code cell: the answer
    ### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS   in a check cell: the graded assertion
    cell metadata  nbgrader: {grade_id, points, solution, grade, locked, schema_version}

``student_copy(nb)`` returns the student's version:

* each SOLUTION region becomes ``# YOUR CODE HERE`` and ``raise NotImplementedError()``
  at the region's indentation (a markdown solution cell becomes "YOUR ANSWER HERE");
* each HIDDEN TESTS region is removed with its markers;
* the outputs and execution counts of exercise cells (solution or grade) are cleared;
* nbgrader metadata is kept; the execution fingerprint (``metadata.pgan``) is dropped,
  since the copy's outputs are no longer those of an execution.

Any other cell is unchanged, so the copy still runs top to bottom: later cells call the
library's functions, not the student's.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Iterable

import nbformat

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = "YOUR ANSWER HERE"


class MarkerError(ValueError):
    """A notebook's BEGIN/END markers do not pair up."""


def nbgrader_meta(cell: Any) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_exercise_cell(cell: Any) -> bool:
    """A solution or graded cell (by nbgrader metadata, or by markers in its source)."""
    meta = nbgrader_meta(cell)
    if meta.get("solution") or meta.get("grade"):
        return True
    src = cell.get("source", "")
    return BEGIN_SOLUTION in src or BEGIN_HIDDEN in src


def _replace_regions(source: str, begin: str, end: str, stub: tuple[str, ...] | None, where: str) -> str:
    """Replace each begin..end region (marker lines included) by ``stub`` lines at the marker's indent."""
    out: list[str] = []
    inside = False
    for n, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped == begin:
            if inside:
                raise MarkerError(f"{where}, line {n}: {begin!r} inside another {begin!r}; close it with {end!r} first")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in (stub or ()))
        elif stripped == end:
            if not inside:
                raise MarkerError(f"{where}, line {n}: {end!r} without a {begin!r} before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: {begin!r} is never closed; add a line {end!r}")
    return "\n".join(out)


def student_source(source: str, cell_type: str = "code", where: str = "cell") -> str:
    """The student's version of one cell's source (see the module docstring)."""
    src = _replace_regions(source, BEGIN_HIDDEN, END_HIDDEN, None, where)
    if cell_type == "markdown" and BEGIN_SOLUTION not in src:
        return src
    return _replace_regions(src, BEGIN_SOLUTION, END_SOLUTION, STUB if cell_type == "code" else (ANSWER_STUB,), where)


def student_copy(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student copy of an instructor notebook (a new notebook; ``nb`` is unchanged)."""
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        where = f"{name}, cell {i}"
        meta = nbgrader_meta(cell)
        if cell.cell_type == "markdown" and meta.get("solution") and BEGIN_SOLUTION not in cell.source:
            cell.source = ANSWER_STUB
        else:
            cell.source = student_source(cell.source, cell.cell_type, where)
        if cell.cell_type == "code" and is_exercise_cell(nb.cells[i]):
            cell.outputs = []
            cell.execution_count = None
    out.metadata.pop("pgan", None)
    return out


def exercises(nb: nbformat.NotebookNode) -> list[dict]:
    """The graded pieces of a notebook: one dict per nbgrader cell (grade_id, kind, points)."""
    rows = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") or meta.get("grade"):
            kind = "solution" if meta.get("solution") else "check"
            rows.append({"grade_id": meta.get("grade_id", "?"), "kind": kind, "points": meta.get("points", 0)})
    return rows


def write_student_copies(notebooks: Iterable[str | Path], out_dir: str | Path) -> list[Path]:
    """Write the student copy of each notebook into ``out_dir`` (same file names); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in map(Path, notebooks):
        if not path.is_file():
            raise FileNotFoundError(f"notebook {path} does not exist")
        nb = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        nbformat.write(student_copy(nb, path.name), target)
        written.append(target)
    return written


_SOLUTION_RE = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$", re.M)


def has_solution_markers(text: str) -> bool:
    return bool(_SOLUTION_RE.search(text))


__all__ = ["student_copy", "student_source", "write_student_copies", "exercises", "is_exercise_cell",
           "MarkerError", "STUB"]
