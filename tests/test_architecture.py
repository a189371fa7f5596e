"""The layers stay layers: what imports what, checked on the source itself.

* ``compute.engine`` imports nothing of the fractal, nor numba, colorcet, datashader,
  av or any UI library: checked in a fresh interpreter, where importing it must leave
  none of them in ``sys.modules``;
* ``compute`` imports no UI library at all, and the engine never the fractal (also
  through imports inside functions);
* no import cycle among the project's modules, imports inside functions included
  (imports only for type annotations, under ``if TYPE_CHECKING:``, are not run and not
  counted);
* the HTTP routes never import the explorer; the generic job API and the job components
  import nothing of the fractal.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    *sorted((ROOT / "compute").rglob("*.py")),
    *sorted((ROOT / "components").rglob("*.py")),
    *sorted((ROOT / "api").rglob("*.py")),
    *sorted((ROOT / "pricing").rglob("*.py")),
    ROOT / "app.py",
]
#: What the engine must never bring in.
NOT_IN_THE_ENGINE = (
    "compute.fractal",
    "numba",
    "colorcet",
    "datashader",
    "av",
    "panel",
    "bokeh",
    "holoviews",
)
UI = ("panel", "bokeh", "holoviews")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path, modules: set[str] | None = None) -> set[str]:
    """Every module ``path`` imports, at module level or inside functions, by full name.

    With ``modules`` (the modules there are), ``from package import module`` counts as
    an import of the module alone, not of its package as well.
    """
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if modules is None or submodule in modules:
                    found.add(submodule)
                if modules is None or submodule not in modules:
                    found.add(target)
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in ("importlib.import_module", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(node.args[0].value)
    return found


def graph() -> dict[str, set[str]]:
    """The project's modules and the project's modules each imports."""
    names = {module_name(p): p for p in SOURCES}
    edges = {}
    for name, path in names.items():
        found = imports(path, set(names))
        edges[name] = {target for target in found if target in names and target != name}
    # compute/__init__.py's lazy exports name their modules in a table, not in imports.
    text = (ROOT / "compute" / "__init__.py").read_text()
    table = ast.literal_eval(text.split("_EXPORTS = ", 1)[1].split("\n}\n", 1)[0] + "\n}")
    edges["compute"] |= set(table.values()) & set(names)
    return edges


def test_importing_the_engine_brings_in_no_domain_and_no_ui():
    code = (
        "import json, sys; import compute.engine; import compute.engine.testing; "
        f"bad = [m for m in sys.modules if m.split('.')[0] in {NOT_IN_THE_ENGINE!r} "
        f"or m.startswith('compute.fractal')]; print(json.dumps(sorted(bad)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_importing_compute_is_free_and_its_names_resolve_lazily():
    code = (
        "import json, sys; import compute; before = 'numba' in sys.modules; "
        "from compute import FractalConfig, JobManager, FrameStore, render; "
        "print(json.dumps([before, 'numba' in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, True]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_layers_import_only_downwards(path):
    name, found = module_name(path), imports(path)
    top = {target.split(".")[0] for target in found}
    if name.startswith("compute"):
        assert not top & set(UI), f"{name} imports a UI library: {sorted(top & set(UI))}"
    if name.startswith("compute.engine"):
        bad = sorted(t for t in found if t.split(".")[0] in NOT_IN_THE_ENGINE[1:])
        bad += sorted(t for t in found if t.startswith("compute.fractal"))
        assert not bad, f"{name} imports {bad}"
    if name.startswith("api"):
        assert not any(t.startswith("components.fractal") for t in found), sorted(found)
    # (pricing: an app's own computation, on the engine alone.)
    generic = ("components.jobs", "api.jobs", "api.base", "api.dashboard", "pricing")
    if name.startswith(generic):
        fractal = sorted(t for t in found if ".fractal" in t or t.startswith("api.frames"))
        assert not fractal, f"{name} is generic, and imports {fractal}"


def test_no_import_cycle_among_the_modules():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    # The check above can fail: two modules importing each other (one inside a function,
    # as JobRecord.restore once did) are found.
    package = tmp_path / "compute"
    package.mkdir()
    (package / "__init__.py").write_text("_EXPORTS = {\n}\n")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("def f():\n    from .a import thing\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "SOURCES", sorted(package.glob("*.py")))
    edges = graph()
    assert edges["compute.a"] == {"compute.b"}
    assert edges["compute.b"] == {"compute.a"}
    with pytest.raises(pytest.fail.Exception, match=r"compute.a -> compute.b -> compute.a"):
        test_no_import_cycle_among_the_modules()
