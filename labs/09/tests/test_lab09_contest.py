"""Lab 9, part 3: the contest (lab09_contest.py). Your class races on five of the
experiment toolkit's presets, a few virtual seconds each; every TCP connection must use it,
every preset must deliver data, and the results go to the leaderboard when the grader asks
(NETSTACK_LAB_LEADERBOARD). The score itself is not graded: only that the race completes."""

from __future__ import annotations

import io
import traceback

from lab09_contest import CI_DURATION, PRESETS, contest_class, run_preset, write_leaderboard

from labs.kit.checks import Checks
from labs.kit.stack import StepOverBudget, captured_output, limit_cpu

PRESET_CPU_SECONDS = 20.0  # a preset takes about 1 s of CPU with NewReno


def test_your_algorithm_completes_the_contest_presets(variant):
    """Each preset runs to its end with your class in every TCP connection, and every one
    delivers data; the numbers are appended to the leaderboard file if there is one."""
    checks = Checks(f"the contest, {CI_DURATION:g} s virtual per preset", variant)
    cls = checks.run("load the class to race (CONTEST, else the unit)", contest_class)
    checks.log(f"racing {cls.__module__}.{cls.__qualname__}", checks._printed)
    results = []
    for name in PRESETS:
        output = io.StringIO()
        try:
            with captured_output(output), limit_cpu(PRESET_CPU_SECONDS):
                result = run_preset(name, cls, CI_DURATION)
        except StepOverBudget:
            checks.fail(f"{name}: took more than {PRESET_CPU_SECONDS:g} s of CPU",
                        output.getvalue())
        except Exception as exc:
            cause = exc.__cause__ or exc
            checks.fail(f"{name}: the run failed: {type(exc).__name__}: {exc}\n"
                        + "".join(traceback.format_exception(cause)).rstrip(),
                        output.getvalue())
        if result.connections == 0:
            checks.fail(f"{name}: no TCP connection was made with your class")
        if result.goodput_mbps <= 0:
            checks.fail(f"{name}: nothing was delivered ({result.line()})")
        checks.log(result.line(), output.getvalue())
        results.append(result)
    written = write_leaderboard(results)
    checks.log(f"leaderboard entries appended to {written}" if written else
               "no leaderboard file (NETSTACK_LAB_LEADERBOARD unset)")
