"""Gradescope's results.json, built from the runs of a lab's suite, and a validator.

The fields are those of Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): top level `score`,
`output`, `output_format`, `visibility`, `stdout_visibility`, `extra_data`, `tests`,
`leaderboard`; each test `score`, `max_score`, `status` ("passed"/"failed"), `name`,
`number`, `output`, `output_format`, `visibility`, `tags`, `extra_data`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

OUTPUT_FORMATS = ("text", "html", "simple_format", "md", "ansi")
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
TOP_FIELDS = {"score": (int, float), "execution_time": (int, float), "output": str,
              "output_format": str, "test_output_format": str, "test_name_format": str,
              "visibility": str, "stdout_visibility": str, "extra_data": dict, "tests": list,
              "leaderboard": list}
TEST_FIELDS = {"score": (int, float), "max_score": (int, float), "status": str, "name": str,
               "name_format": str, "number": str, "output": str, "output_format": str,
               "tags": list, "visibility": str, "extra_data": dict}


def result_item(number: str, name: str, passed: bool, output: str, max_score: float = 1.0
              ) -> dict[str, Any]:
    return {"score": max_score if passed else 0.0, "max_score": max_score,
            "status": "passed" if passed else "failed", "name": name, "number": number,
            "output": output, "output_format": "ansi", "visibility": "visible"}


def results(items: list[dict[str, Any]], output: str, leaderboard: list[dict] | None = None,
            extra: dict[str, Any] | None = None, seconds: float | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "score": sum(item["score"] for item in items),
        "output": output, "output_format": "ansi", "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"max_score": sum(item["max_score"] for item in items), **(extra or {})},
        "tests": items,
    }
    if seconds is not None:
        record["execution_time"] = round(seconds, 1)
    if leaderboard:
        record["leaderboard"] = leaderboard
    return record


def leaderboard_entries(lines: list[dict]) -> list[dict]:
    """The entries tests wrote, the last value of each name kept, in the spec's shape."""
    entries: dict[str, dict] = {}
    for line in lines:
        name, value = line.get("name"), line.get("value")
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        entry: dict[str, Any] = {"name": name, "value": value}
        if line.get("order") in ("asc", "desc"):
            entry["order"] = line["order"]
        entries[name] = entry
    return list(entries.values())


def _check_fields(record: dict, fields: dict, where: str) -> list[str]:
    problems = []
    for key, value in record.items():
        if key not in fields:
            problems.append(f"{where}: unknown field {key!r}")
        elif isinstance(value, bool) or not isinstance(value, fields[key]):
            problems.append(f"{where}: {key} has the wrong type ({type(value).__name__})")
    for key in ("output_format", "test_output_format"):
        if key in record and record[key] not in OUTPUT_FORMATS:
            problems.append(f"{where}: {key} {record[key]!r} is not one of {OUTPUT_FORMATS}")
    for key in ("visibility", "stdout_visibility"):
        if key in record and record[key] not in VISIBILITIES:
            problems.append(f"{where}: {key} {record[key]!r} is not one of {VISIBILITIES}")
    return problems


def validate(record: Any) -> list[str]:
    """Problems with a results.json against Gradescope's documented fields ([]: valid)."""
    if not isinstance(record, dict):
        return ["results.json must be an object"]
    problems = _check_fields(record, TOP_FIELDS, "results")
    tests = record.get("tests", [])
    if "score" not in record and not all(isinstance(t, dict) and "score" in t for t in tests):
        problems.append("results: a score is needed, at the top or on every test")
    for index, test in enumerate(tests if isinstance(tests, list) else []):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            problems.append(f"{where}: must be an object")
            continue
        problems += _check_fields(test, TEST_FIELDS, where)
        if test.get("status") not in (None, "passed", "failed"):
            problems.append(f"{where}: status {test['status']!r} is not passed or failed")
        if "score" in test and "max_score" in test and test["score"] > test["max_score"]:
            problems.append(f"{where}: score above max_score")
    for index, entry in enumerate(record.get("leaderboard", []) or []):
        where = f"leaderboard[{index}]"
        if not isinstance(entry, dict) or "name" not in entry or "value" not in entry:
            problems.append(f"{where}: needs a name and a value")
            continue
        if set(entry) - {"name", "value", "order"}:
            problems.append(f"{where}: unknown fields {sorted(set(entry) - {'name', 'value', 'order'})}")
        if entry.get("order", "desc") not in ("asc", "desc"):
            problems.append(f"{where}: order must be asc or desc")
    return problems


def write(record: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
        f.write("\n")


def write_failure(path: str, log: str) -> None:
    """run_autograder's fallback when the grader wrote nothing: a zero with its output."""
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()[-20000:]
    except OSError:
        text = "(no output)"
    write(results([], "The grader could not grade this submission:\n" + text), path)


if __name__ == "__main__":  # python -m labs.grader.results FALLBACK_RESULTS LOG
    write_failure(sys.argv[1], sys.argv[2])
