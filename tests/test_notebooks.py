"""The notebooks run top to bottom on real clusters, clean up after themselves, and are
committed without outputs.

Each notebook runs in a real Jupyter kernel (nbclient) with small frames
(``FRACTAL_NOTEBOOK_SMALL=1``) and a store of its own (``FRACTAL_STORE``). A failing cell,
an ``assert`` in a notebook included, fails the test with the cell's traceback.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

from components.testing import ROOT

NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: Seconds a cell may run: a cell waits for a cluster to start and frames to compute.
CELL_TIMEOUT = 300
#: Worker processes of a cluster started in the kernel: multiprocessing's spawned children.
WORKER_MARK = "spawn_main"

notebook_ids = [path.stem for path in NOTEBOOKS]


@pytest.fixture
def notebook_env(monkeypatch, tmp_path):
    """What the kernel inherits: small frames, a fresh store, no configured scheduler."""
    monkeypatch.setenv("FRACTAL_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("FRACTAL_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    return monkeypatch


def _kernel_workers(client: NotebookClient) -> list[psutil.Process]:
    """Dask worker processes still running under the kernel."""
    kernel = psutil.Process(client.km.provisioner.pid)
    workers = []
    for child in kernel.children(recursive=True):
        try:
            if WORKER_MARK in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.NoSuchProcess:
            continue
    return workers


def execute(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """Run ``path`` in a fresh kernel (cwd: the notebooks directory), as a reader would.

    Returns the executed notebook, and the command lines of the worker processes that
    were still alive under the kernel after its last cell, once given a grace period
    to exit: a notebook must close the clusters it starts.
    """
    nb = nbformat.read(path, as_version=4)
    last = max(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    leftovers: list[str] = []

    def after_cell(cell, cell_index, execute_reply):
        if cell_index == last:
            _, alive = psutil.wait_procs(_kernel_workers(client), timeout=15)
            leftovers.extend(" ".join(p.cmdline()) for p in alive if p.is_running())

    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_executed=after_cell,
    )
    # Raises CellExecutionError, with the cell's source and traceback, if a cell fails.
    client.execute()
    return nb, leftovers


def _output_text(output) -> str:
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return str(output.get("data", {}).get("text/plain", ""))


def _expects_output(source: str) -> bool:
    """A cell that prints, displays, or ends in an expression means to show something."""
    tree = ast.parse(source)
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    ends_in_expression = (
        bool(tree.body)
        and isinstance(tree.body[-1], ast.Expr)
        and not isinstance(tree.body[-1].value, ast.Await)
    )
    return ends_in_expression or bool(calls & {"print", "display"})


#: A log record's first line, as Dask's logging prints it in a kernel's output.
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - ", re.MULTILINE)
#: Records that carry a traceback when all is well: a scheduler's batched stream to a
#: worker that closed first, as a cluster shuts down (distributed logs it at INFO).
BENIGN = ("distributed.batched - INFO - Batched Comm Closed",)


def _without_benign_records(text: str) -> str:
    starts = [m.start() for m in LOG_RECORD.finditer(text)]
    if not starts:
        return text
    pieces = [text[: starts[0]]]
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        record = text[start:end]
        if not any(mark in record.split("\n", 1)[0] for mark in BENIGN):
            pieces.append(record)
    return "".join(pieces)


def check_outputs(nb: nbformat.NotebookNode) -> None:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        text = _without_benign_records("\n".join(_output_text(o) for o in cell.outputs))
        # Logged exceptions (a worker's, a callback's) do not fail a cell but show up here.
        assert "Traceback (most recent call last)" not in text, f"cell {index}:\n{text}"
        if _expects_output(cell.source):
            assert cell.outputs, f"cell {index} showed nothing:\n{cell.source}"


@pytest.mark.notebook
@pytest.mark.cluster
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_ids)
def test_notebook_runs(path, notebook_env):
    nb, leftovers = execute(path)
    check_outputs(nb)
    assert not leftovers, f"{path.name} left Dask workers running: {leftovers}"


@pytest.mark.notebook
@pytest.mark.cluster
@pytest.mark.timeout(600)
def test_scale_out_on_an_external_scheduler(notebook_env, external_cluster):
    """03 on a `dask scheduler` + `dask worker` named by DASK_SCHEDULER_ADDRESS."""
    notebook_env.setenv("DASK_SCHEDULER_ADDRESS", external_cluster.address)
    nb, leftovers = execute(NOTEBOOK_DIR / "03-scale-out.ipynb")
    check_outputs(nb)
    assert not leftovers, leftovers
    text = "\n".join(_output_text(o) for cell in nb.cells for o in cell.get("outputs", []))
    assert f"DASK_SCHEDULER_ADDRESS names the scheduler at {external_cluster.address}" in text
    assert "started a stand-in scheduler" not in text


def test_notebooks_found():
    """The glob the tests are parametrized over finds the notebooks (new ones join it)."""
    names = {path.name for path in NOTEBOOKS}
    assert names >= {"01-explore.ipynb", "02-compute-api.ipynb", "03-scale-out.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_ids)
def test_notebook_committed_clean(path):
    """Valid nbformat 4 on the python3 kernel, with no outputs or execution counts (they
    would make every run a diff), and small frames available at the top."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    dirty = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} hold outputs or execution counts"
    assert "FRACTAL_NOTEBOOK_SMALL" in code[0].source


def test_only_dasks_benign_shutdown_record_is_let_through():
    record = "2026-12-02 17:56:24,{ms} - {logger} - Batched Comm Closed <TCP>\nTraceback (most rec"
    benign = record.format(ms="020", logger="distributed.batched - INFO")
    other = record.format(ms="021", logger="distributed.worker - ERROR")
    assert "Traceback" not in _without_benign_records(f"out\n{benign}\n")
    assert "Traceback" in _without_benign_records(f"out\n{benign}\n{other}\n")
    assert "Traceback" in _without_benign_records("Traceback (most recent call last):\n")
