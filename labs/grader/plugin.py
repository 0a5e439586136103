"""The pytest plugin the grader loads into the tests' subprocess (`-p labs.grader.plugin`).

It writes one JSON line per event to the file named by NETSTACK_LAB_REPORT, so the grader
never has to parse pytest's terminal output:

    {"event": "collected", "tests": [nodeid, ...]}
    {"event": "start", "nodeid": ...}            (a test that never ends was the one hanging)
    {"event": "test", "nodeid", "name", "outcome": "passed"|"failed"|"skipped",
     "message", "pcaps": [...], "seconds"}
    {"event": "collect_error", "nodeid", "message"}

A failing test's message is the transcript when a step failed (LabHarness puts the
student's output and the rerun command in it), else the exception with a traceback that
leaves pytest's own frames out. The frames of each LabHarness the failing test made go to
.lab-results/<test>.pcap in the current folder (the work folder).
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback

import pytest

from labs.kit import stack as kit_stack
from labs.kit.variant import VARIANT_ENV
from netstack.testing.frames import TranscriptMismatch
from netstack.units import ImplError

REPORT_ENV = "NETSTACK_LAB_REPORT"
RESULTS_DIR = ".lab-results"
INTERNAL_PATHS = (f"{os.sep}_pytest{os.sep}", f"{os.sep}pluggy{os.sep}",
                  f"{os.sep}labs{os.sep}grader{os.sep}")

_records: dict[str, dict] = {}


def _write(record: dict) -> None:
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def describe(excinfo: pytest.ExceptionInfo) -> str:
    """What a student reads about one exception."""
    exc = excinfo.value
    if isinstance(exc, TranscriptMismatch):
        return str(exc)
    if isinstance(exc, ImplError):  # a unit that does not import or lacks a member
        return str(exc)
    if isinstance(exc, pytest.skip.Exception):
        return f"skipped: {exc.msg} (a skipped test counts as failed in grading)"
    frames = [f for f in traceback.extract_tb(excinfo.tb)
              if not any(part in f.filename for part in INTERNAL_PATHS)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames),
             *traceback.format_exception_only(type(exc), exc)]
    return "".join(lines).rstrip()


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "test"


def write_pcaps(name: str) -> list[str]:
    """The frames of each harness the test made, one pcap each."""
    harnesses = [h for h in kit_stack.HARNESSES if h.frames]
    variant = os.environ.get(VARIANT_ENV, "public") or "public"
    suffix = "" if variant == "public" else f"-seed{variant}"
    paths = []
    os.makedirs(RESULTS_DIR, exist_ok=True)
    for index, harness in enumerate(harnesses, 1):
        extra = f"-{index}" if len(harnesses) > 1 else ""
        path = os.path.join(RESULTS_DIR, f"{safe_name(name)}{suffix}{extra}.pcap")
        try:
            harness.write_pcap(path)
        except OSError:
            continue
        paths.append(path)
    return paths


def pytest_configure(config: pytest.Config) -> None:
    kit_stack.KEEP_HARNESSES = True


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    _write({"event": "collected", "tests": [item.nodeid for item in session.items]})


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _write({"event": "collect_error", "nodeid": report.nodeid,
                "message": str(report.longreprtext).rstrip()})


def pytest_runtest_logstart(nodeid: str, location) -> None:
    _write({"event": "start", "nodeid": nodeid})


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    kit_stack.HARNESSES.clear()
    _records[item.nodeid] = {"event": "test", "nodeid": item.nodeid, "name": item.name,
                             "outcome": "passed", "message": "", "pcaps": [],
                             "started": time.monotonic()}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    record = _records.setdefault(item.nodeid, {"event": "test", "nodeid": item.nodeid,
                                               "name": item.name, "outcome": "passed",
                                               "message": "", "pcaps": [],
                                               "started": time.monotonic()})
    if record["outcome"] != "passed" or report.passed:
        return  # the first problem is the one to show
    if report.skipped:
        record["outcome"] = "skipped"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        record["message"] = f"skipped: {reason} (a skipped test counts as failed in grading)"
        return
    record["outcome"] = "failed"
    if call.excinfo is not None:
        record["message"] = describe(call.excinfo)
    else:
        record["message"] = str(report.longreprtext)
    if call.when == "setup":
        record["message"] = "while preparing the test: " + record["message"]
    record["pcaps"] = write_pcaps(item.name)


def pytest_runtest_logfinish(nodeid: str, location) -> None:
    record = _records.pop(nodeid, None)
    if record is not None:
        record["seconds"] = round(time.monotonic() - record.pop("started"), 3)
        _write(record)
