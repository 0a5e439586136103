"""What a student reads after `netstack lab check`: each failing test with its transcript,
the first mismatch in words, the variant, the pcap and the rerun command; then one line
"lab N: P/T tests passed"."""

from __future__ import annotations

import os
import re
import sys

from labs.grader.runner import Run, TestResult

STEP_FAILED = re.compile(r"^step (\d+) failed at t=([0-9.]+):\s*$")


def use_color(stream=sys.stdout) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def first_mismatch(message: str) -> str:
    """The first mismatch in one line: "step 3 (t=1.000): expected ..., got ..."."""
    lines = message.splitlines()
    for line in lines:  # already said (a grade item's output)
        if line.strip().startswith("first mismatch: "):
            return line.strip().removeprefix("first mismatch: ")
    for index, line in enumerate(lines):
        found = STEP_FAILED.match(line.strip())
        if found and index + 1 < len(lines):
            return f"step {found[1]} (t={found[2]}): {lines[index + 1].strip()}"
    for line in reversed(lines):  # a plain exception: its last line says what it was
        if line.strip() and not line.startswith(" "):
            return line.strip()
    return message.strip()[:200]


def failure_block(result: TestResult, run: Run, rerun: str, color: bool) -> str:
    head = paint(f"FAILED {result.name}", "1;31", color) + f"  ({run.variant_name})"
    lines = [head, f"  first mismatch: {first_mismatch(result.message)}", ""]
    lines += [f"  {line}" if line else "" for line in result.message.splitlines()]
    for pcap in result.pcaps:
        lines.append(f"  pcap of this transcript: {pcap} (open it in Wireshark)")
    if "rerun just this test" not in result.message:
        lines.append(f"  rerun just this test: {rerun.replace('{test}', result.name)}")
    return "\n".join(lines)


def check_report(number: int, run: Run, rerun: str, import_problem: str = "",
                 color: bool = False) -> str:
    """The whole text of one check."""
    blocks = []
    if import_problem:
        blocks.append(paint("your code does not import", "1;31", color) + "\n"
                      + "\n".join(f"  {x}" for x in import_problem.splitlines()))
    blocks += [paint("problem with the run: ", "1;31", color) + p for p in run.problems]
    failed = [r for r in run.results if not r.passed]
    for result in failed:
        if import_problem and "import" in result.message:
            continue  # the same import error, shown once above
        blocks.append(failure_block(result, run, rerun, color))
    if import_problem:
        names = [r.name for r in failed if "import" in r.message]
        if names:
            blocks.append("failed because your code does not import: " + ", ".join(names))
    passed = [r.name for r in run.results if r.passed]
    if passed:
        blocks.append(paint("passed: ", "32", color) + ", ".join(passed))
    total = len(run.results)
    summary = f"lab {number}: {run.passed}/{total} tests passed ({run.variant_name})"
    color_code = "1;32" if total and run.passed == total and not run.problems else "1;31"
    blocks.append(paint(summary, color_code, color))
    return "\n\n".join(blocks)
