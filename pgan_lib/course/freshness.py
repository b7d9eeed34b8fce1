"""Are a notebook's committed outputs those of the current library? Fingerprints that say so.

When ``pgan course execute`` (``make notebooks``) runs a notebook, it records in the
notebook's metadata

    metadata.pgan.fingerprint = {"library": <sha256>, "notebook": <sha256>}

and a test recomputes both: a notebook whose outputs came from other code is stale.

What counts as library source (the choice, and why):

* every ``pgan_lib/**/*.py`` file, by relative path, **except the modules a notebook never
  runs**: the coursework tooling that builds, executes and checks notebooks
  (``course/student.py``, ``course/freshness.py``, ``course/execute.py``, ``cli/course.py``).
  The exercise checks (``course/attributes.py`` ...) do count: their PASS lines are outputs.
* each file as its syntax tree without docstrings (``ast.dump`` of the parsed module),
  so comments, blank lines, formatting and docstrings do not count: a comment or a
  docstring fix does not make every notebook stale. (A notebook that prints a function's
  source with ``inspect.getsource`` may then show an older docstring until it is re-run.)
  A file that does not parse counts by its bytes.
* ``checkpoints/manifest.json`` (or the sha256 list in ``pgan_lib/_shipped.py``, which is a
  .py file), since which models are shipped, and their weights' hashes, change what a
  notebook shows.

The notebook's own part is the source of its code cells, in order, with trailing
whitespace ignored; markdown does not count (it produces no outputs).
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import Any

import nbformat

LIBRARY_ROOT = Path(__file__).resolve().parents[1]            # .../pgan_lib
NOT_RUN_BY_NOTEBOOKS = frozenset({
    "course/student.py", "course/freshness.py", "course/execute.py", "cli/course.py",
})
META_KEY = "pgan"
FIX = "run `make notebooks` (or `pgan course execute NOTEBOOK`) and commit the result"


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def normalised_source(text: str) -> bytes:
    """A Python file's content as it counts for the fingerprint: its syntax tree without docstrings."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text.encode()
    return ast.dump(_strip_docstrings(tree), include_attributes=False).encode()


def library_files(root: Path = LIBRARY_ROOT) -> list[Path]:
    """The library files that count, sorted by their path relative to ``root``."""
    files = [p for p in root.rglob("*.py")
             if "__pycache__" not in p.parts and p.relative_to(root).as_posix() not in NOT_RUN_BY_NOTEBOOKS]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def library_fingerprint(root: Path = LIBRARY_ROOT) -> str:
    """sha256 over (relative path, normalised source) of every library file that counts, and the manifest."""
    h = hashlib.sha256()
    for p in library_files(root):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(normalised_source(p.read_text(encoding="utf-8"))).digest())
    manifest = root.parent / "checkpoints" / "manifest.json"
    if manifest.is_file():
        h.update(b"checkpoints/manifest.json\0" + hashlib.sha256(manifest.read_bytes()).digest())
    return h.hexdigest()


def notebook_fingerprint(nb: nbformat.NotebookNode) -> str:
    """sha256 of the notebook's code cells (sources in order, trailing whitespace ignored)."""
    h = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            src = "\n".join(line.rstrip() for line in cell.source.strip().splitlines())
            h.update(src.encode() + b"\0\x1e")
    return h.hexdigest()


def fingerprint(nb: nbformat.NotebookNode, root: Path = LIBRARY_ROOT) -> dict[str, str]:
    return {"library": library_fingerprint(root), "notebook": notebook_fingerprint(nb)}


def record(nb: nbformat.NotebookNode, extra: dict[str, Any] | None = None, root: Path = LIBRARY_ROOT) -> None:
    """Store the fingerprint (and ``extra``, e.g. the run time) in ``nb.metadata.pgan``."""
    meta = dict(nb.metadata.get(META_KEY, {}))
    meta["fingerprint"] = fingerprint(nb, root)
    meta.update(extra or {})
    nb.metadata[META_KEY] = meta


def stale_reason(path: str | Path, root: Path = LIBRARY_ROOT, library: str | None = None) -> str | None:
    """None when ``path``'s outputs match the current library and its code cells; else why, with the fix."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    recorded = nb.metadata.get(META_KEY, {}).get("fingerprint")
    if not recorded:
        return f"{path.name} has no execution fingerprint: it was not executed by `make notebooks`; {FIX}"
    parts = []
    if recorded.get("notebook") != notebook_fingerprint(nb):
        parts.append("its code cells changed since it was executed")
    if recorded.get("library") != (library or library_fingerprint(root)):
        parts.append("the library changed since it was executed")
    if not parts:
        return None
    return f"{path.name} is stale: {' and '.join(parts)}; {FIX}"


__all__ = ["library_fingerprint", "notebook_fingerprint", "fingerprint", "record", "stale_reason",
           "library_files", "normalised_source", "NOT_RUN_BY_NOTEBOOKS"]
