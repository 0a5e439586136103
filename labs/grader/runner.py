"""Run a lab's tests in a subprocess and collect what the plugin reports.

The student's code is only ever imported by that subprocess: a crash, an infinite loop at
import time or a `sys.exit()` in it cannot take the grader down. The subprocess gets a
wall-clock limit on top of the CPU budget per step that LabHarness enforces, so nothing
ever hangs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from labs.grader.plugin import REPORT_ENV, RESULTS_DIR
from labs.grader.workfolder import test_environment
from labs.kit.labfile import PROJECT_DIR, Lab
from labs.kit.stack import IMPL_ENV, MODULES_ENV, RERUN_ENV
from labs.kit.variant import VARIANT_ENV

LEADERBOARD_ENV = "NETSTACK_LAB_LEADERBOARD"
DEFAULT_TIMEOUT = 600.0  # seconds of wall clock for one run of a lab's suite
IMPORT_TIMEOUT = 20.0


@dataclass
class TestResult:
    nodeid: str
    name: str
    outcome: str  # "passed", "failed" or "skipped"
    message: str = ""
    pcaps: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass
class Run:
    """One run of the suite, for one variant (seed None: the public one)."""

    seed: int | None
    results: list[TestResult]
    problems: list[str]  # what went wrong with the run itself (collection, timeout, crash)
    leaderboard: list[dict]
    output: str  # pytest's own output, shown only when something went wrong with the run

    @property
    def variant_name(self) -> str:
        return "public variant" if self.seed is None else f"hidden seed {self.seed}"

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)


def rerun_command(lab: Lab, seed: int | None, reference: bool, all_student: bool) -> str:
    words = ["netstack lab check", str(lab.number), "-k {test}"]
    if seed is not None:
        words.append(f"--variant {seed}")
    if reference:
        words.append("--reference")
    if all_student:
        words.append("--impl all-student")
    return " ".join(words)


def clear_results(folder: str) -> None:
    """Forget the pcaps of an earlier run, so every pcap there belongs to this one."""
    results = os.path.join(folder, RESULTS_DIR)
    if os.path.isdir(results):
        for name in os.listdir(results):
            if name.endswith(".pcap"):
                os.remove(os.path.join(results, name))


def pytest_command(lab: Lab, keyword: str | None, junit: str | None) -> list[str]:
    paths = [os.path.join(lab.folder, path) for path in lab.tests]
    command = [sys.executable, "-P", "-m", "pytest", *paths,
               "-c", os.path.join(PROJECT_DIR, "pyproject.toml"), "--rootdir", PROJECT_DIR,
               "-p", "labs.grader.plugin", "-p", "no:cacheprovider",
               "-q", "--no-header", "--tb=no", "-rN", "-o", "addopts=",
               "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if keyword:
        command += ["-k", keyword]
    if junit:
        command += [f"--junitxml={junit}", "-o", f"junit_suite_name=lab{lab.number:02d}"]
    return command


def base_environment(folder: str | None, labs: list[Lab]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in (IMPL_ENV, MODULES_ENV, VARIANT_ENV, "PYTEST_ADDOPTS")}
    env.update(test_environment(folder, labs))
    return env


def check_imports(folder: str, files: list[str], env: dict[str, str]) -> str:
    """Import each student file in a subprocess; the first failure, readable, or ''."""
    for path in files:
        module = os.path.splitext(os.path.basename(path))[0]
        code = ("import importlib, sys, traceback\n"
                f"try:\n    importlib.import_module({module!r})\n"
                "except BaseException as exc:\n"
                "    tb = [f for f in traceback.extract_tb(exc.__traceback__)"
                " if 'importlib' not in f.filename and f.filename != '<string>']\n"
                "    print(''.join(traceback.format_list(tb)"
                " + traceback.format_exception_only(type(exc), exc)).rstrip())\n"
                "    sys.exit(1)\n")
        try:
            done = subprocess.run([sys.executable, "-P", "-c", code], cwd=folder, env=env,
                                  capture_output=True, text=True, timeout=IMPORT_TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            return (f"importing {os.path.basename(path)} took more than {IMPORT_TIMEOUT:g} s: "
                    "does it run a loop at module level?")
        if done.returncode != 0:
            return (f"{os.path.basename(path)} does not import:\n"
                    + (done.stdout or done.stderr).rstrip())
    return ""


def run_suite(lab: Lab, labs: list[Lab], folder: str | None, *, seed: int | None = None,
              keyword: str | None = None, junit: str | None = None,
              all_student: bool = False, timeout: float = DEFAULT_TIMEOUT) -> Run:
    """Run `lab`'s tests once: the student's units from `folder`, or the reference (None)."""
    env = base_environment(folder, labs)
    env[VARIANT_ENV] = "public" if seed is None else str(seed)
    env[RERUN_ENV] = rerun_command(lab, seed, folder is None, all_student)
    cwd = folder or os.getcwd()
    with tempfile.TemporaryDirectory(prefix="netstack-lab-") as scratch:
        report = os.path.join(scratch, "report.jsonl")
        leaderboard = os.path.join(scratch, "leaderboard.jsonl")
        env[REPORT_ENV] = report
        env[LEADERBOARD_ENV] = leaderboard
        output, timed_out = _run(pytest_command(lab, keyword, junit), cwd, env, timeout)
        events = _read_lines(report)
        entries = _read_lines(leaderboard)
    return _assemble(seed, events, entries, output, timed_out, timeout)


def _run(command: list[str], cwd: str, env: dict[str, str], timeout: float
         ) -> tuple[str, bool]:
    # A session of its own, so a timeout kills the student's child processes too.
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        return output, False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        return output, True
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def _read_lines(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def _assemble(seed: int | None, events: list[dict], entries: list[dict], output: str,
              timed_out: bool, timeout: float) -> Run:
    collected: list[str] | None = None
    finished: dict[str, TestResult] = {}
    started: list[str] = []
    problems: list[str] = []
    for event in events:
        kind = event.get("event")
        if kind == "collected":
            collected = list(event["tests"])
        elif kind == "start":
            started.append(event["nodeid"])
        elif kind == "test":
            finished[event["nodeid"]] = TestResult(event["nodeid"], event["name"],
                                                   event["outcome"], event["message"],
                                                   list(event.get("pcaps", [])))
        elif kind == "collect_error":
            problems.append(f"the tests in {event['nodeid'] or 'this lab'} could not be "
                            f"loaded:\n{event['message']}")
    results = []
    for nodeid in collected if collected is not None else list(finished):
        if nodeid in finished:
            results.append(finished[nodeid])
            continue
        name = nodeid.rsplit("::", 1)[-1]
        if timed_out and started and nodeid == started[-1]:
            message = (f"stopped after {timeout:g} s of wall-clock time: an infinite loop "
                       "outside a transcript step (or a very slow one)?")
        elif timed_out:
            message = "not run: the run was stopped by its time limit"
        else:
            message = "did not finish: the test process ended during this test (os._exit?)"
        results.append(TestResult(nodeid, name, "failed", message))
    if timed_out:
        problems.append(f"the run took more than {timeout:g} s and was stopped")
    elif collected is None and not problems:
        problems.append("the tests did not run: pytest said\n" + output.strip()[-3000:])
    return Run(seed, results, problems, entries, output)
