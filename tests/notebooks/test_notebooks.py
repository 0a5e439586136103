"""The notebooks as a set: the conventions notebooks/README.md promises, the root cells run
as root, a false fact failing its notebook, and a rerun with other parameters.

nbmake itself executes every notebook in `make test` (pyproject's addopts); these tests
check what nbmake cannot: the format, and that the assertions really guard the story.
"""

from __future__ import annotations

import re

import pytest

from tests.notebooks.paired import NOTEBOOKS, notebook_sources, sync_notebooks

SOURCES = notebook_sources()
ROOT_TAGS = {"skip-execution", "needs-root"}


def read(source):
    import jupytext

    return jupytext.read(source)


def code_cells(notebook) -> list:
    return [c for c in notebook.cells if c.cell_type == "code"]


def tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


def execute(notebook, cwd=NOTEBOOKS, timeout: int = 90):
    """Run a notebook as nbmake does (same kernel, cwd = the notebooks folder)."""
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def test_there_are_at_least_twelve_numbered_notebooks():
    numbers = [int(p.name[:2]) for p in SOURCES]
    assert len(SOURCES) >= 12, [p.name for p in SOURCES]
    assert numbers == list(range(1, len(SOURCES) + 1)), "numbered 01, 02, ... without gaps"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_follows_the_conventions(source):
    text = source.read_text()
    cells = code_cells(read(source))
    assert "parameters" in tags(cells[0]), "the first code cell is tagged `parameters`"
    assert re.search(r"^seed\s*=", cells[0].source, re.M), "the parameters include the seed"
    assert len(re.findall(r"^\s*assert ", text, re.M)) >= 4, "it asserts the facts it teaches"
    assert re.search(rf"viz\.save_figure\([^,]+,\s*f?\"{source.name[:2]}-", text), \
        "its figures are saved as figures/NN-*.png"
    sleeps = [line for line in text.splitlines() if "time.sleep(" in line]
    assert all("polling" in line for line in sleeps), \
        "virtual time: no sleeping (a live root run may poll a real process, and says so)"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_root_cells_are_tagged_and_fall_back_to_a_recording(source):
    cells = code_cells(read(source))
    for i, cell in enumerate(cells):
        if "needs-root" not in tags(cell) and "skip-execution" not in tags(cell):
            continue
        assert tags(cell) >= ROOT_TAGS, f"cell {i} needs both tags: {sorted(ROOT_TAGS)}"
        assert "geteuid" in cell.source, f"cell {i} checks for root itself (Jupyter runs it)"
        fallback = cells[i + 1].source if i + 1 < len(cells) else ""
        assert "recording" in fallback, f"the cell after root cell {i} says it shows a recording"
    recordings = [name.rstrip(".") for name in
                  re.findall(r"data/(\d\d-[\w.*-]+)", source.read_text())]
    if any("needs-root" in tags(c) for c in cells):
        assert recordings, "a notebook with root cells names its recordings in data/"
    for name in recordings:
        assert list((NOTEBOOKS / "data").glob(name)), f"recording data/{name} is missing"


def test_readme_lists_every_notebook_in_reading_order():
    readme = (NOTEBOOKS / "README.md").read_text()
    positions = [readme.find(p.name) for p in SOURCES]
    assert all(at >= 0 for at in positions), "README.md names every notebook's file"
    assert positions == sorted(positions)


ROOT_NOTEBOOKS = [s for s in SOURCES if "needs-root" in s.read_text()]


@pytest.mark.root
@pytest.mark.timeout(300)
@pytest.mark.parametrize("source", ROOT_NOTEBOOKS, ids=lambda p: p.stem)
def test_root_cells_run_as_root(source, tmp_path, monkeypatch):
    """The CI step that keeps the root cells from rotting: the whole notebook, root cells
    included (their skip-execution tag removed), against the real kernel."""
    monkeypatch.setenv("NETSTACK_FIGURES", str(tmp_path))
    notebook = read(source)
    for cell in code_cells(notebook):
        cell.metadata["tags"] = sorted(tags(cell) - {"skip-execution"})
    execute(notebook, timeout=240)
    outputs = "".join(o.get("text", "") for c in code_cells(notebook) for o in c.outputs)
    assert "not root: skipping" not in outputs


def test_sync_writes_missing_notebooks_only(tmp_path):
    source = tmp_path / "01-x.py"
    source.write_text("# %% tags=[\"parameters\"]\nseed = 1\n")
    assert sync_notebooks(tmp_path) == [tmp_path / "01-x.ipynb"]
    assert sync_notebooks(tmp_path) == []


def test_a_false_fact_fails_its_notebook(tmp_path, monkeypatch):
    """The proof that notebooks guard their story: give the stack a plausible bug (an RTO
    that grows by half instead of doubling on each timeout) and notebook 9, which teaches
    the doubling, must fail on an assertion about it."""
    from nbclient.exceptions import CellExecutionError
    from nbformat.v4 import new_code_cell

    monkeypatch.setenv("NETSTACK_FIGURES", str(tmp_path))
    notebook = read(NOTEBOOKS / "09-retransmission-timer.py")
    parameters = next(i for i, c in enumerate(notebook.cells) if "parameters" in tags(c))
    notebook.cells.insert(parameters + 1, new_code_cell(
        "from netstack.stages.tcp.rto import RtoEstimator\n"
        "RtoEstimator.rto = property(lambda self: min(self._base_rto * 1.5 ** self.backoffs,"
        " self.max_rto))\n"))
    with pytest.raises(CellExecutionError) as failure:
        execute(notebook)
    assert "AssertionError" in str(failure.value)
    # the first fact it breaks: after the SYN's timeout the RTO must be 2 s, and is 1.5 s
    assert "backed off until a real sample" in str(failure.value)


def test_papermill_reruns_a_notebook_with_other_parameters(tmp_path, monkeypatch):
    """What a student does: the same notebook with another seed and knob still tells a true
    story (its assertions compute what to expect from the parameters)."""
    import papermill

    monkeypatch.setenv("NETSTACK_FIGURES", str(tmp_path))
    sync_notebooks()
    out = papermill.execute_notebook(
        str(NOTEBOOKS / "07-tcp-handshake.ipynb"), str(tmp_path / "07.ipynb"),
        parameters={"seed": 7, "msl": 10.0}, cwd=str(NOTEBOOKS), progress_bar=False)
    injected = [c for c in out.cells if "injected-parameters" in tags(c)]
    assert injected and "msl = 10.0" in injected[0].source
    assert not any(o.get("output_type") == "error" for c in out.cells for o in c.get("outputs", []))
