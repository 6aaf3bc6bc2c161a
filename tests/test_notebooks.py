"""Every notebook executes top to bottom, headless (nbclient, a real IPython kernel),
against a small run made here and against the committed reference runs; the notebooks
are committed without outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, small_run

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def execute(path: Path, parameters: dict | None = None) -> nbformat.NotebookNode:
    """Run a notebook with papermill's convention: assignments injected after the cell
    tagged `parameters`."""
    book = nbformat.read(path, as_version=4)
    if parameters:
        index = next(
            i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", [])
        )
        source = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = ["injected-parameters"]
        book.cells.insert(index + 1, cell)
    NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    return book


@pytest.fixture(scope="module")
def reference_like_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nb") / "run"
    code = small_run(out, "NSA-1.1,NSA-1.4,CIS-5.2.2,CIS-5.5.1,NSA-2.5", combined=1)
    assert code in (0, 1)
    return out


def test_there_are_three_notebooks_committed_without_outputs():
    assert [p.stem for p in NOTEBOOKS] == ["coverage", "explore", "latency"]
    for path in NOTEBOOKS:
        book = json.loads(path.read_text())
        for cell in book["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_a_small_run(path, reference_like_run):
    parameter = {"coverage": "RUN", "latency": "RUNS", "explore": "RUNS"}[path.stem]
    value = str(reference_like_run) if parameter == "RUN" else [str(reference_like_run)]
    started = time.monotonic()
    book = execute(path, {parameter: value})
    print(f"{path.name}: {time.monotonic() - started:.1f} s")
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert outputs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_reference_runs(path):
    book = execute(path)
    text = json.dumps([o for c in book.cells if c.cell_type == "code" for o in c.outputs])
    if path.stem == "latency":
        assert "image/png" in text  # the figures rendered
    if path.stem == "coverage":
        assert "33/55" in text  # the thesis's total beside ours
