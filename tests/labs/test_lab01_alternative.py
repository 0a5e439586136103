"""One lab solved both ways (issue 12's acceptance): lab 1's tests give full marks to a
second, independent solution (tests/labs/lab01_alternative: the checksum by 64-bit words,
codecs by slicing, NamedTuple/dataclass headers of its own), so they grade behaviour, not
the reference's shape.

The run is the grader's own: `netstack lab grade 1` in a work folder holding the
alternative's files, public variant and hidden ones, and results.json must show full marks.
"""

from __future__ import annotations

import json
import os
import shutil

from labs.grader.importcheck import refusals
from labs.grader.results import validate
from labs.kit.labfile import load_lab

from .grader_helpers import lab_command

ALTERNATIVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab01_alternative")


def test_the_alternative_imports_none_of_the_references_it_replaces():
    assert refusals(ALTERNATIVE, [load_lab(1)]) == []


def test_the_alternative_solution_gets_full_marks_from_the_grader(tmp_path):
    """`netstack lab start 1`, the alternative's files over the starter's, then `netstack
    lab grade 1` (public variant and two hidden seeds): every test passes, full marks."""
    folder = tmp_path / "work"
    started = lab_command("start", "1", str(folder), cwd=tmp_path, labs_dir=None)
    assert started.returncode == 0, started.stderr
    for name in os.listdir(ALTERNATIVE):
        if name.endswith(".py"):
            shutil.copy(os.path.join(ALTERNATIVE, name), folder / name)
    graded = lab_command("grade", "1", "--hidden-seeds", "2", cwd=folder, labs_dir=None,
                         timeout=600)
    assert graded.returncode == 0, graded.stdout[-6000:] + graded.stderr
    record = json.loads((folder / "results.json").read_text())
    assert validate(record) == []
    tests = record["tests"]
    assert len(tests) >= 50 and all(t["status"] == "passed" for t in tests), [
        t["name"] for t in tests if t["status"] != "passed"]
    assert record["score"] == record["extra_data"]["max_score"] > 0
