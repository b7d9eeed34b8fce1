"""``pgan course``: student copies, executing the notebooks, checking that their outputs are fresh.

    pgan course student [NOTEBOOKS...] [--out student/]   write student copies (no nbgrader needed)
    pgan course execute [NOTEBOOKS...]                    run in quick mode in place, record fingerprints
    pgan course check-fresh [NOTEBOOKS...]                exit 1 naming every stale notebook

Without NOTEBOOKS each command takes every ``notebooks/NN_*.ipynb`` of the kit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The course modules are imported by the commands, not here: nbformat's schema validation takes seconds to import,
# and every ``pgan`` command (``pgan --help`` too) builds this parser.


def default_notebooks() -> list[Path]:
    from ..course.freshness import LIBRARY_ROOT  # imported here: see the module's comment

    folder = LIBRARY_ROOT.parent / "notebooks"
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def _notebooks(args: argparse.Namespace) -> list[Path]:
    paths = [Path(p) for p in args.notebooks] or default_notebooks()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such notebook: {', '.join(missing)}")
    if not paths:
        raise FileNotFoundError("no notebooks found: give their paths, e.g. notebooks/01_vae_basics.ipynb")
    return paths


def cmd_student(args: argparse.Namespace) -> int:
    import nbformat  # imported here: see the module's comment

    from ..course.student import exercises, write_student_copies  # imported here: see the module's comment

    written = write_student_copies(_notebooks(args), args.out)
    for p in written:
        n = sum(1 for e in exercises(nbformat.read(p, as_version=4)) if e["kind"] == "solution")
        print(f"{p}  ({n} exercise{'s' if n != 1 else ''})")
    return 0


def cmd_execute(args: argparse.Namespace) -> int:
    from ..course.execute import NotebookRunError, execute_notebook  # imported here: see the module's comment

    failed = 0
    for p in _notebooks(args):
        print(f"executing {p} ({args.mode} mode) ...", flush=True)
        try:
            seconds = execute_notebook(p, mode=args.mode, timeout=args.timeout)
        except NotebookRunError as err:
            print(f"  FAILED: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"  done in {seconds:.0f} s, fingerprint recorded")
    return 1 if failed else 0


def cmd_check_fresh(args: argparse.Namespace) -> int:
    from ..course import freshness  # imported here: see the module's comment

    library = freshness.library_fingerprint()
    stale = [r for r in (freshness.stale_reason(p, library=library) for p in _notebooks(args)) if r]
    for reason in stale:
        print(reason)
    if not stale:
        print("every notebook's outputs match the current library")
    return 1 if stale else 0


def register(sub) -> None:
    p = sub.add_parser("course", help="coursework: student copies, executing notebooks, freshness",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="course_command", metavar="ACTION")
    csub.required = True
    s = csub.add_parser("student", help="write student copies (solutions replaced, hidden tests removed)")
    s.add_argument("notebooks", nargs="*", help="instructor notebooks (default: notebooks/NN_*.ipynb)")
    s.add_argument("--out", default="student", help="output folder (default: student/)")
    s.set_defaults(func=cmd_student)
    e = csub.add_parser("execute", help="execute notebooks in place and record their fingerprints")
    e.add_argument("notebooks", nargs="*")
    e.add_argument("--mode", default="quick", choices=("quick", "full"))
    e.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    e.set_defaults(func=cmd_execute)
    f = csub.add_parser("check-fresh", help="exit 1 if a notebook's outputs are older than the library or its code")
    f.add_argument("notebooks", nargs="*")
    f.set_defaults(func=cmd_check_fresh)


