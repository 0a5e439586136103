"""One lab solved both ways (issue 12's acceptance): lab 1's tests give full marks to a
second, independent solution (tests/labs/lab01_alternative: the checksum by 64-bit words,
codecs by slicing, NamedTuple/dataclass headers of its own), so they grade behaviour, not
the reference's shape.

The run is the grader's: a subprocess pytest over labs/01/tests with NETSTACK_LAB_IMPL
naming the three files as the student's units and their folder first on PYTHONPATH, for
the public variant and a hidden one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from labs.grader.importcheck import refusals
from labs.kit.labfile import PROJECT_DIR, load_lab

ALTERNATIVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab01_alternative")


def test_the_alternative_imports_none_of_the_references_it_replaces():
    assert refusals(ALTERNATIVE, [load_lab(1)]) == []


@pytest.mark.parametrize("seed", ["public", "12345"])
def test_the_alternative_solution_passes_every_lab_1_test(seed):
    lab = load_lab(1)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ALTERNATIVE, PROJECT_DIR])
    env["NETSTACK_LAB_IMPL"] = json.dumps(lab.units)
    env["NETSTACK_LAB_VARIANT"] = seed
    env.pop("NETSTACK_LAB_MODULES", None)
    tests = [os.path.join(lab.folder, t) for t in lab.tests]
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-rfE", *tests], cwd=lab.folder, env=env, capture_output=True,
                         text=True, timeout=300)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary
