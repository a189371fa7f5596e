"""The README's examples run as written: each ``python`` block (top-level ``await`` as in a
notebook), on the session's cluster through ``DASK_SCHEDULER_ADDRESS``, as a reader's
would run on theirs."""

from __future__ import annotations

import ast
import re

import pytest

from components.testing import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


@pytest.mark.cluster
@pytest.mark.asyncio
@pytest.mark.parametrize("block", range(len(BLOCKS)))
async def test_a_readme_example_runs(block, local_cluster, monkeypatch, capsys):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", local_cluster.scheduler_address)
    monkeypatch.setenv("ENGINE_STORE", "off")  # nothing written to the user's cache folder
    code = compile(BLOCKS[block], "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, {"__name__": f"readme_{block}"})
    if result is not None:
        await result
    printed = capsys.readouterr().out
    assert printed.strip(), "the example printed nothing"


def test_the_readme_has_its_examples_and_stays_short():
    assert len(BLOCKS) == 2
    assert len((ROOT / "README.md").read_text().splitlines()) < 250
