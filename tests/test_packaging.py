"""Packaging and layout rules: pinned dependencies agree, the engine stays UI-free."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

UI_PACKAGES = {"panel", "holoviews", "bokeh"}

_SPEC = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*$")


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"numpy>=2.4.6"`` -> ``("numpy", "2.4.6")``; the lower bound is None when absent."""
    spec = spec.split(";")[0]  # drop environment markers
    match = _SPEC.match(spec)
    assert match, f"cannot parse dependency {spec!r}"
    name, constraints = match.groups()
    bounds = re.findall(r">=\s*([^,\s]+)", constraints)
    assert len(bounds) <= 1, f"several lower bounds in {spec!r}"
    return normalise(name), (bounds[0] if bounds else None)


def pyproject_dependencies() -> dict[str, str | None]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        specs.extend(group)
    parsed = [parse_spec(s) for s in specs]
    names = [name for name, _ in parsed]
    assert len(names) == len(set(names)), f"duplicated in pyproject.toml: {names}"
    return dict(parsed)


def conda_dependencies() -> dict[str, str | None]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):  # a nested `pip:` list: pip packages, not conda ones
            specs.extend(entry.get("pip", []))
            continue
        specs.append(entry)
    parsed = [parse_spec(str(s).split("::")[-1]) for s in specs]
    parsed = [(name, bound) for name, bound in parsed if name not in ("python", "pip")]
    names = [name for name, _ in parsed]
    assert len(names) == len(set(names)), f"duplicated in environment.yml: {names}"
    return dict(parsed)


def test_parse_spec():
    assert parse_spec("NumPy>=2.4.6") == ("numpy", "2.4.6")
    assert parse_spec("pytest_asyncio >= 1.5.0, <2") == ("pytest-asyncio", "1.5.0")
    assert parse_spec("dask[distributed]>=2026.8.0") == ("dask", "2026.8.0")
    assert parse_spec("colorcet") == ("colorcet", None)


def test_dependencies_agree():
    pyproject = pyproject_dependencies()
    conda = conda_dependencies()
    assert pyproject, "no dependencies found in pyproject.toml"
    assert sorted(set(pyproject) - set(conda)) == [], "in pyproject.toml, not environment.yml"
    assert sorted(set(conda) - set(pyproject)) == [], "in environment.yml, not pyproject.toml"
    differing = {n: (pyproject[n], conda[n]) for n in pyproject if pyproject[n] != conda[n]}
    assert differing == {}, "lower bounds differ (pyproject.toml, environment.yml)"


def test_every_dependency_has_a_lower_bound():
    missing = [n for n, bound in pyproject_dependencies().items() if bound is None]
    assert missing == []


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported anywhere in a file (including inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            modules.add(node.args[0].value)
    return modules


def top_level(module: str) -> str:
    return module.split(".")[0]


def test_imported_modules_sees_every_kind_of_import(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text(
        "import os.path\n"
        "from bokeh.models import Div\n"
        "from . import sibling\n"
        "def f():\n"
        "    import panel as pn\n"
        "    import importlib\n"
        "    return importlib.import_module('holoviews')\n"
    )
    assert {top_level(m) for m in imported_modules(source)} == {
        "os",
        "bokeh",
        "panel",
        "importlib",
        "holoviews",
    }


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_compute_never_imports_ui_packages():
    files = python_files("compute")
    assert any(f.name == "kernels.py" for f in files)
    offenders = {
        str(f.relative_to(ROOT)): sorted(UI_PACKAGES & {top_level(m) for m in imported_modules(f)})
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}


def test_components_never_import_app():
    files = python_files("components")
    assert files, "components/ has no Python files"
    offenders = [
        str(f.relative_to(ROOT))
        for f in files
        if any(top_level(m) == "app" for m in imported_modules(f))
    ]
    assert offenders == []


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    commands = [
        line.split("#")[0].strip()
        for line in script.splitlines()
        if not line.lstrip().startswith("#")
    ]
    assert any(re.search(r"(^|[;&|\s])make\s+test(\s|$)", c) for c in commands), script


README_HEAD_LINES = 40


def test_readme_names_the_entry_points():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md does not exist yet")
    head = "\n".join(readme.read_text().splitlines()[:README_HEAD_LINES])
    assert "make serve" in head
    assert "make test" in head


def test_every_package_of_the_project_goes_into_its_wheel():
    # A worker installed from a wheel (not from this checkout) imports compute.engine and
    # compute.fractal by name: a subpackage left out of the list installs nothing.
    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = config["tool"]["setuptools"]["packages"]
    if isinstance(packages, list):  # named one by one
        packaged = set(packages)
    else:
        packaged = set(find_packages(str(ROOT), include=packages["find"]["include"]))
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("compute", "components")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk <= packaged, sorted(on_disk - packaged)
    assert {"compute.engine", "compute.fractal", "components.jobs"} <= packaged
