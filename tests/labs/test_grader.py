"""`netstack lab` on a fixture lab: what a student sees from check (transcripts, the first
mismatch, pcaps, rerun commands, CPU and wall-clock limits, crashes, refused imports), and
what grade writes (results.json, JUnit, leaderboard, evidence)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

from labs.grader.results import validate
from labs.kit.real import Evidence

from .grader_helpers import (
    BROKEN_SYNTAX,
    CHATTY_AND_WRONG,
    CHEATING,
    CHEATING_VIA_IMPORTLIB,
    CRASHING,
    LOOPING,
    REFERENCE,
    lab_command,
    without_traceback_of_the_grader,
)

TESTS = 4  # in tests/labs/fixture_labs/01/tests/fx_checksum.py


@pytest.fixture
def work(tmp_path):
    """A work folder made by `netstack lab start 1` (the untouched starter)."""
    folder = tmp_path / "work"
    done = lab_command("start", "1", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return folder


def with_code(work, text):
    (work / "checksum.py").write_text(text)
    return work


# --- start, list -----------------------------------------------------------------------

def test_start_copies_the_starter_writeup_and_a_marker(work):
    assert "NotImplementedError" in (work / "checksum.py").read_text()
    assert (work / "WRITEUP.md").exists()
    marker = json.loads((work / ".netstack-lab.json").read_text())
    assert marker["lab"] == 1


def test_start_refuses_to_overwrite_student_work_without_force(work):
    (work / "checksum.py").write_text("# my work\n")
    again = lab_command("start", "1", str(work), cwd=work)
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "already exists" in again.stderr
    assert (work / "checksum.py").read_text() == "# my work\n"
    forced = lab_command("start", "1", str(work), "--force", cwd=work)
    assert forced.returncode == 0 and "NotImplementedError" in (work / "checksum.py").read_text()


def test_list_one_lab_per_line_starting_with_its_number(tmp_path):
    done = lab_command("list", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        " 1  Fixture: the internet checksum  (0.5 h; you write: checksum; 4 public tests)"]


# --- check -----------------------------------------------------------------------------

def test_reference_passes_from_anywhere(tmp_path):
    done = lab_command("check", "1", "--reference", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert done.stdout.rstrip().endswith(f"lab 1: {TESTS}/{TESTS} tests passed (public variant)")


def test_reference_passes_a_hidden_variant(tmp_path):
    done = lab_command("check", "1", "--reference", "--variant", "12345", cwd=tmp_path)
    assert done.returncode == 0 and "(hidden seed 12345)" in done.stdout


def test_starter_fails_every_test_with_a_readable_transcript(work):
    done = lab_command("check", "1", cwd=work)
    out = done.stdout
    assert done.returncode == 1
    assert out.rstrip().endswith(f"lab 1: 0/{TESTS} tests passed (public variant)")
    assert out.count("FAILED ") == TESTS
    assert "transcript (stack 192.0.2.2/24, immediate mode):" in out
    assert "first mismatch: step 1 (t=0.000): your code raised NotImplementedError: lab 1: " \
           "internet_checksum" in out
    assert "rerun just this test: netstack lab check 1 -k test_echo_reply" in out
    assert without_traceback_of_the_grader(out + done.stderr)


def test_a_failing_transcript_leaves_a_pcap_of_its_frames(work):
    lab_command("check", "1", "-k", "test_echo_reply", cwd=work)
    pcap = work / ".lab-results" / "test_echo_reply.pcap"
    from netstack.engine.pcapfile import read_pcap

    frames = list(read_pcap(str(pcap)))
    assert len(frames) == 1  # the ping the stack could not check


def test_student_output_shows_under_its_step_and_the_mismatch_in_words(work):
    done = lab_command("check", "1", "-k", "test_echo_reply", cwd=with_code(work, CHATTY_AND_WRONG))
    out = done.stdout
    assert done.returncode == 1
    assert "| hello from my checksum" in out
    assert "first mismatch: step 2 (t=0.000): expected ICMP echo reply seq=1" in out


def test_an_infinite_loop_fails_its_step_after_2_s_of_cpu(work):
    done = lab_command("check", "1", "-k", "test_echo_reply", cwd=with_code(work, LOOPING))
    assert done.returncode == 1
    assert "step 1 took more than 2 s of CPU: an infinite loop?" in done.stdout
    assert "lab 1: 0/1 tests passed" in done.stdout


def test_a_loop_outside_any_step_is_stopped_by_the_wall_clock_limit(work):
    done = lab_command("check", "1", "-k", "known_header", "--timeout", "4",
                       cwd=with_code(work, LOOPING))
    assert done.returncode == 1
    assert "stopped after 4 s of wall-clock time" in done.stdout
    assert "lab 1: 0/1 tests passed" in done.stdout


def test_a_crash_in_student_code_shows_the_students_traceback(work):
    done = lab_command("check", "1", "-k", "test_echo_reply", cwd=with_code(work, CRASHING))
    out = done.stdout
    assert done.returncode == 1
    assert "your code raised ZeroDivisionError" in out
    assert f'File "{work / "checksum.py"}"' in out and "in _invert" in out
    assert without_traceback_of_the_grader(out)


def test_a_syntax_error_is_one_readable_failure(work):
    done = lab_command("check", "1", cwd=with_code(work, BROKEN_SYNTAX))
    out = done.stdout
    assert done.returncode == 1
    assert "your code does not import" in out and "SyntaxError" in out
    assert out.count("SyntaxError") <= 3  # shown once, not once per test
    assert f"lab 1: 0/{TESTS} tests passed" in out
    assert without_traceback_of_the_grader(out + done.stderr)


@pytest.mark.parametrize("code, line", [(CHEATING, 1), (CHEATING_VIA_IMPORTLIB, 3)])
def test_importing_the_replaced_reference_is_refused(work, code, line):
    done = lab_command("check", "1", cwd=with_code(work, code))
    assert done.returncode == 1
    assert f"refused: checksum.py:{line}: imports netstack.checksum" in done.stdout
    assert "passed" not in done.stdout.replace("not run", "")


def test_a_correct_student_unit_passes(work):
    done = lab_command("check", "1", cwd=with_code(work, REFERENCE))
    assert done.returncode == 0 and f"{TESTS}/{TESTS} tests passed" in done.stdout


# --- bad arguments: one line, exit 2 ---------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["check", "one"], "is not a lab number"),
    (["check", "99"], "there is no lab 99"),
    (["check", "1"], "is not a work folder for lab 1: checksum.py is missing"),
    (["check", "1", "--variant", "x"], "expected an integer seed"),
    (["grade", "1", "-k", "echo"], "counts no run that used -k"),
    (["real", "2"], "there is no lab 2"),
    (["verify", "1", "nowhere"], "nowhere: no such folder"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, says):
    done = lab_command(*args, cwd=tmp_path)
    assert done.returncode == 2, done
    assert done.stderr.startswith("netstack lab: error: ") and says in done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""


def test_no_test_matching_k_is_a_usage_error(work):
    done = lab_command("check", "1", "-k", "no_such_test", cwd=work)
    assert done.returncode == 2 and "no test of lab 1 matches -k no_such_test" in done.stderr


def test_help_for_every_command(tmp_path):
    for command in ("list", "start", "check", "grade", "real", "verify", "package", "starters"):
        done = lab_command(command, "--help", cwd=tmp_path)
        assert done.returncode == 0 and "usage: netstack lab " + command in done.stdout


# --- grade -----------------------------------------------------------------------------

def read_results(path):
    record = json.loads(path.read_text())
    assert validate(record) == []
    return record


def test_grade_on_the_starter_writes_a_valid_zero(work):
    done = lab_command("grade", "1", "--seeds", "1,2", cwd=work)
    assert done.returncode == 1
    assert "public variant + hidden seeds 1, 2" in done.stdout
    record = read_results(work / "results.json")
    assert record["score"] == 0 and record["extra_data"]["max_score"] == TESTS
    assert [t["status"] for t in record["tests"]] == ["failed"] * TESTS
    first = record["tests"][0]
    assert first["name"] == "test_echo_reply" and first["number"] == "1.1"
    assert first["output_format"] == "ansi" and "transcript" in first["output"]
    assert "also failed in the hidden seed 1" in first["output"]


def test_grade_full_marks_with_leaderboard_and_junit(work, tmp_path):
    with_code(work, REFERENCE)
    results_path, junit = tmp_path / "out" / "r.json", tmp_path / "junit.xml"
    results_path.parent.mkdir()
    done = lab_command("grade", "1", "--hidden-seeds", "1", "--results", str(results_path),
                       "--junit", str(junit), cwd=work)
    assert done.returncode == 0, done.stdout
    record = read_results(results_path)
    assert record["score"] == TESTS == record["extra_data"]["max_score"]
    assert len(record["extra_data"]["hidden_seeds"]) == 1
    assert record["leaderboard"] == [{"name": "checksum of zero", "value": 65535,
                                      "order": "desc"}]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(TESTS) and suite.get("failures") == "0"


def test_grade_counts_a_test_failing_only_in_a_hidden_variant(work, tmp_path):
    # Correct for the public variant's peer address only: a hidden variant finds it out.
    code = REFERENCE.replace("def internet_checksum(data, initial=0):", (
        "def internet_checksum(data, initial=0):\n"
        "    import os\n"
        "    if os.environ.get('NETSTACK_LAB_VARIANT', 'public') != 'public':\n"
        "        return 0\n"))
    done = lab_command("grade", "1", "--seeds", "7", cwd=with_code(work, code))
    assert done.returncode == 1
    record = read_results(work / "results.json")
    failed = [t for t in record["tests"] if t["status"] == "failed"]
    assert failed and all("(hidden seed 7)" in t["output"] for t in failed)
    assert "--variant 7" in failed[0]["output"]


def test_grade_refuses_files_that_import_the_reference(work):
    done = lab_command("grade", "1", cwd=with_code(work, CHEATING))
    assert done.returncode == 1
    record = read_results(work / "results.json")
    assert record["score"] == 0 and "imports netstack.checksum" in record["output"]


def make_evidence(folder, impl="student", passed=True):
    """An evidence folder as the fixture's real/check.py writes it."""
    os.environ["LAB_IMPL_KIND"] = impl
    try:
        evidence = Evidence(str(folder), lab=1)
    finally:
        del os.environ["LAB_IMPL_KIND"]
    evidence.write_text("tool.txt", "64 bytes from 192.0.2.2\n")
    evidence.write_text("environment.txt", f"LAB_IMPL_KIND={impl}\n")
    evidence.check("the kernel pings the stack", passed, "3/3")
    evidence.save()


def test_grade_verifies_the_evidence_folder_as_its_own_item(work):
    with_code(work, REFERENCE)
    make_evidence(work / "evidence-01")
    record_ok = lab_command("grade", "1", "--hidden-seeds", "0", cwd=work)
    assert record_ok.returncode == 0, record_ok.stdout
    item = read_results(work / "results.json")["tests"][-1]
    assert item["name"] == "real-tool step evidence (evidence-01)" and item["status"] == "passed"
    (work / "evidence-01" / "tool.txt").write_text("edited\n")
    lab_command("grade", "1", "--hidden-seeds", "0", cwd=work)
    item = read_results(work / "results.json")["tests"][-1]
    assert item["status"] == "failed" and "tool.txt was changed" in item["output"]


def test_evidence_from_the_reference_does_not_count_for_the_student(work):
    with_code(work, REFERENCE)
    make_evidence(work / "evidence-01", impl="reference")
    lab_command("grade", "1", "--hidden-seeds", "0", cwd=work)
    item = read_results(work / "results.json")["tests"][-1]
    assert item["status"] == "failed" and "came from the reference" in item["output"]


def is_root():
    return os.geteuid() == 0


@pytest.mark.root
@pytest.mark.skipif(not is_root(), reason="`netstack lab real` needs root")
def test_real_hands_the_students_units_to_the_step_and_verifies(work):
    with_code(work, REFERENCE)
    done = lab_command("real", "1", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"lab 1: evidence {work / 'evidence-01'} verified" in done.stdout
    handed = (work / "evidence-01" / "environment.txt").read_text()
    assert "LAB_IMPL_ARGS=--impl checksum=checksum\n" in handed
    assert "LAB_IMPL_KIND=student\n" in handed
    grade = lab_command("grade", "1", "--hidden-seeds", "0", cwd=work)
    assert grade.returncode == 0 and read_results(work / "results.json")["tests"][-1][
        "name"] == "real-tool step evidence (evidence-01)"


@pytest.mark.root
@pytest.mark.skipif(not is_root(), reason="`netstack lab real` needs root")
def test_real_with_the_reference_runs_anywhere(tmp_path):
    done = lab_command("real", "1", "--reference", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    handed = (tmp_path / "evidence-01" / "environment.txt").read_text()
    assert "LAB_IMPL_ARGS=\n" in handed and "LAB_IMPL_KIND=reference\n" in handed


def test_verify_an_evidence_folder_offline(tmp_path):
    make_evidence(tmp_path / "ev")
    assert lab_command("verify", "1", str(tmp_path / "ev"), cwd=tmp_path).returncode == 0
    make_evidence(tmp_path / "bad", passed=False)
    done = lab_command("verify", "1", str(tmp_path / "bad"), cwd=tmp_path)
    assert done.returncode == 1 and "check failed: the kernel pings the stack" in done.stdout


def test_starters_check_passes_on_the_committed_fixture_starter(tmp_path):
    assert lab_command("starters", "--check", "1", cwd=tmp_path).returncode == 0


def test_netstack_lab_is_the_same_command(tmp_path):
    import subprocess
    import sys

    from .grader_helpers import FIXTURE_LABS, PROJECT

    env = {**os.environ, "PYTHONPATH": str(PROJECT), "NETSTACK_LABS_DIR": str(FIXTURE_LABS)}
    done = subprocess.run([sys.executable, "-m", "netstack", "lab", "list"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith(" 1  Fixture")


# --- package ---------------------------------------------------------------------------

def test_package_is_a_gradescope_autograder_that_grades_a_submission(tmp_path):
    import stat
    import subprocess
    import sys
    import zipfile

    done = lab_command("package", "1", "--gradescope", "-o", str(tmp_path / "ag.zip"),
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "ag.zip") as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        root = tmp_path / "autograder"
        archive.extractall(root / "source")
    assert names[:2] == ["setup.sh", "run_autograder"]
    for script in ("setup.sh", "run_autograder"):
        assert modes[script] & stat.S_IXUSR
        os.chmod(root / "source" / script, 0o755)
    for needed in ("pyproject.toml", "labs/cli.py", "labs/grader/runner.py", "labs/kit/stack.py",
                   "netstack/stack.py", "labs/01/lab.toml", "labs/01/tests/fx_checksum.py"):
        assert needed in names
    assert not any("__pycache__" in name for name in names)

    def autograde(submission_files):
        submission = root / "submission"
        if submission.exists():
            import shutil
            shutil.rmtree(submission)
        (submission / "nested").mkdir(parents=True)
        for name, text in submission_files.items():
            (submission / "nested" / name).write_text(text)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NETSTACK_LAB", "PYTHONPATH", "PYTEST_"))}
        env.update(AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
        subprocess.run([str(root / "source" / "run_autograder")], env=env, cwd=root,
                       capture_output=True, text=True, timeout=300, check=True)
        return read_results(root / "results" / "results.json")

    graded = autograde({"checksum.py": REFERENCE, "WRITEUP.md": "hours: 1\n"})
    assert graded["score"] == graded["extra_data"]["max_score"] == TESTS
    assert (root / "work" / "WRITEUP.md").exists()
    nothing = autograde({"notes.txt": "I forgot my files\n"})
    assert nothing["score"] == 0 and "checksum.py is missing" in nothing["output"]
