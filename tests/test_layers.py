"""The library's layers point one way, and imports sit at the top of modules.

    core (config, checkpoint, images, viz, safety, provenance) -> data -> text -> models (+ attacks, defenses,
        watermark)
        -> train, pretrained -> eval -> explore, gan_demos -> recipes -> course -> cli

A module may import from its own layer or a lower one, never from a higher
one; the package has no import cycles. An import inside a function is the
exception: it needs a comment on its line (or the line above) saying why.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pgan_lib

ROOT = Path(pgan_lib.__file__).parent
#: (module prefix, rank); the longest matching prefix wins.
LAYERS = (
    ("pgan_lib", 0), ("pgan_lib.config", 0), ("pgan_lib.checkpoint", 0), ("pgan_lib.images", 0),
    ("pgan_lib.viz", 0), ("pgan_lib.safety", 0), ("pgan_lib.provenance", 0), ("pgan_lib.content_credentials", 0),
    ("pgan_lib.classroom", 0),
    ("pgan_lib.data", 1),
    ("pgan_lib.text", 2),
    ("pgan_lib.models", 3), ("pgan_lib.models.progan", 3),
    ("pgan_lib.attacks", 3), ("pgan_lib.defenses", 3), ("pgan_lib.watermark", 3),
    ("pgan_lib.train", 4), ("pgan_lib.pretrained", 4), ("pgan_lib.doctor", 4), ("pgan_lib.acceleration", 4),
    ("pgan_lib.distributed", 4), ("pgan_lib.profiling", 4),
    ("pgan_lib.eval", 5),
    ("pgan_lib.explore", 6), ("pgan_lib.gan_demos", 6),
    ("pgan_lib.recipes", 7), ("pgan_lib.recipes.progan", 7),
    ("pgan_lib.course", 8), ("pgan_lib.course.progan", 8),
    ("pgan_lib.cli", 9),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return dict(LAYERS)[best]


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported pgan_lib module, line, inside a function) for every run-time import of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue                                     # hints only, never run
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_function) for a in child.names if a.name.startswith("pgan_lib"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("pgan_lib"):
                    names = [f"{target}.{a.name}" for a in child.names]
                    # "from . import x" imports the module x; "from .m import f" imports m
                    mods = [n for n in names if (ROOT.parent / Path(*n.split("."))).with_suffix(".py").exists()
                            or (ROOT.parent / Path(*n.split("."))).is_dir()]
                    out.extend((m, child.lineno, in_function) for m in (mods or [target]))
            visit(child, inner)

    visit(tree, False)
    return out


FILES = sorted(ROOT.rglob("*.py"))


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in FILES:
        me = module_name(path)
        for target, line, _ in imports(path):
            if rank(target) > rank(me):
                upward.append(f"{path.relative_to(ROOT.parent)}:{line}: {me} (layer {rank(me)}) imports "
                              f"{target} (layer {rank(target)})")
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {module_name(p): set() for p in FILES}
    for path in FILES:
        for target, _, in_function in imports(path):
            if not in_function and target in graph and target != module_name(path):
                graph[module_name(path)].add(target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                # a package importing its own submodules at load time is the normal shape, not a cycle
                cycle = stack[stack.index(n):] + [n]
                if not all(b.startswith(a + ".") or a.startswith(b + ".") for a, b in zip(cycle, cycle[1:])):
                    raise AssertionError("import cycle: " + " -> ".join(cycle))
            elif n not in state:
                walk(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m)


def test_imports_inside_functions_say_why():
    silent = []
    for path in FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    here, above = lines[node.lineno - 1], lines[node.lineno - 2] if node.lineno > 1 else ""
                    if "#" not in here and not above.strip().startswith("#"):
                        silent.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {here.strip()}")
    assert not silent, "imports inside functions without a comment saying why:\n" + "\n".join(sorted(set(silent)))


def test_the_layer_checker_catches_an_upward_import(tmp_path):
    """The checker itself can fail: a model module that imports evaluation code is reported."""
    fake = ROOT / "models" / "_layer_probe.py"
    fake.write_text("from ..eval import metrics\n")
    try:
        found = [(t, rank(t)) for t, _, _ in imports(fake)]
        assert found == [("pgan_lib.eval.metrics", 5)] and rank(module_name(fake)) == 3
    finally:
        fake.unlink()
