"""The CI contract of every lab in labs/NN (issue 12's acceptance), through the same
entry points students and teachers use:

- `netstack lab check N --reference` passes (public variant and one hidden variant);
- the untouched starter (`netstack lab start N`) fails every graded test with a readable
  transcript: exit 1, "lab N: 0/T", no INTERNALERROR and no traceback of the grader;
- `python -m labs.kit.starter --check N`: the committed starter is what the reference gives;
- `netstack lab grade N` on the starter writes a valid results.json scoring below its max;
- as root, `netstack lab real N --reference` passes and its evidence verifies offline.

Each mode runs a lab's suite once. With no labs yet, this file reports one skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from labs.grader.results import validate
from labs.kit.labfile import LABS_DIR, PROJECT_DIR, Lab, LabError, all_labs

from .grader_helpers import lab_command, without_traceback_of_the_grader

try:
    LABS, LABS_ERROR = all_labs(), ""
except LabError as exc:
    LABS, LABS_ERROR = [], str(exc)


def test_every_lab_toml_loads():
    assert LABS_ERROR == ""


@pytest.fixture(params=[lab.number for lab in LABS] or [None],
                ids=lambda n: "no-labs" if n is None else f"lab{n:02d}")
def lab(request) -> Lab:
    if request.param is None:
        pytest.skip("no labs in labs/ yet (labs/NN/lab.toml)")
    return next(lab for lab in LABS if lab.number == request.param)


def run(*args, cwd, timeout=300):
    return lab_command(*args, cwd=cwd, labs_dir=LABS_DIR, timeout=timeout)


def has_student_files(lab: Lab) -> bool:
    return bool(lab.starter)


@pytest.fixture
def starter_folder(lab, tmp_path):
    if not has_student_files(lab):
        pytest.skip(f"lab {lab.number} has no student files ([starter] is empty)")
    folder = tmp_path / "work"
    done = run("start", str(lab.number), str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.parametrize("variant", ["public", "12345"])
def test_reference_passes(lab, tmp_path, variant):
    done = run("check", str(lab.number), "--reference", "--variant", variant, cwd=tmp_path)
    last = done.stdout.rstrip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr
    assert last.startswith(f"lab {lab.number}: ") and "tests passed" in last
    passed, total = last.split(": ", 1)[1].split(" ", 1)[0].split("/")
    assert passed == total and int(total) > 0


def test_untouched_starter_fails_every_test_readably(lab, starter_folder):
    done = run("check", str(lab.number), cwd=starter_folder)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-5000:]
    assert f"lab {lab.number}: 0/" in done.stdout, done.stdout[-5000:]
    assert "refused:" not in out and "problem with the run" not in out, out[-5000:]
    assert without_traceback_of_the_grader(out), out[-5000:]
    assert "first mismatch:" in done.stdout


def test_committed_starter_matches_the_reference(lab):
    done = subprocess.run([sys.executable, "-m", "labs.kit.starter", "--check", str(lab.number)],
                          cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": PROJECT_DIR}, check=False)
    assert done.returncode == 0, done.stderr


def test_grade_on_the_starter_writes_valid_results(lab, starter_folder):
    done = run("grade", str(lab.number), "--hidden-seeds", "1", cwd=starter_folder)
    assert done.returncode == 1, done.stdout[-5000:] + done.stderr
    record = json.loads((starter_folder / "results.json").read_text())
    assert validate(record) == []
    assert record["tests"] and record["score"] < record["extra_data"]["max_score"]


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="the real-tool step needs root "
                    "(network namespaces and a TAP): run the suite as root")
def test_real_step_with_the_reference_passes_and_verifies(lab, tmp_path):
    assert os.path.exists(os.path.join(lab.folder, "real", "check.sh")), \
        f"labs/{lab.name}/real/check.sh is missing"
    evidence = tmp_path / "evidence"
    done = run("real", str(lab.number), "--reference", "--evidence", str(evidence),
               cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr
    again = run("verify", str(lab.number), str(evidence), cwd=tmp_path)
    assert again.returncode == 0, again.stdout
