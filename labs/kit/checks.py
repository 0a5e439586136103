"""Checks: a numbered transcript of facts about values, for a unit driven alone.

Where a lab grades a unit without a whole stack around it (sequence arithmetic, the TCP
receiver or sender given fakes, an estimator), each call into the student's code is one
step: it runs under the same CPU budget as a LabHarness step, its printed output is kept
under the step, and a crash, a loop or a wrong value fails that step with the transcript
so far, the variant and the rerun command.

    checks = Checks("RTO estimator alone", variant)
    checks.check("rto after the first sample", lambda: est.rto, 0.3)
"""

from __future__ import annotations

import io
import os
import traceback
from collections.abc import Callable
from typing import Any

from labs.kit.stack import RERUN_ENV, STEP_CPU_SECONDS, StepOverBudget, captured_output, limit_cpu
from labs.kit.variant import Variant
from netstack.testing import TranscriptMismatch


def rerun_hint(variant: Variant) -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    test = current.rsplit(" (", 1)[0].rsplit("::", 1)[-1]
    command = os.environ.get(RERUN_ENV, "")
    seed = "" if variant.public else f" (variant: hidden seed {variant.seed})"
    if command and test:
        return f"\nrerun just this test{seed}: {command.replace('{test}', test)}"
    return f"\nrerun just this test: pytest -k {test}{seed}" if test else seed


class Checks:
    """A numbered transcript; `run` gives each step a CPU budget and the student's output."""

    def __init__(self, title: str, variant: Variant) -> None:
        self.title = title
        self.variant = variant
        self.lines: list[str] = []
        self.now = 0.0

    def log(self, text: str, printed: str = "") -> None:
        self.lines.append(f"{len(self.lines) + 1:3d}. t={self.now:.3f}  {text}")
        self.lines += [f"        | {line}" for line in printed.splitlines()]

    def fail(self, message: str, printed: str = "") -> None:
        head = f"transcript ({self.title}, {self.variant.name}):"
        body = "\n".join([head, *self.lines]) if self.lines else head + "\n  (no steps)"
        under = ("\n  your code printed during this step:\n"
                 + "\n".join(f"    | {x}" for x in printed.splitlines())) if printed else ""
        raise TranscriptMismatch(f"{body}\nstep {len(self.lines) + 1} failed at "
                                 f"t={self.now:.3f}:\n  {message}{under}"
                                 + rerun_hint(self.variant))

    def run(self, description: str, action: Callable[[], Any]) -> Any:
        """Run the student's code for one step; a crash or a loop fails this step."""
        output = io.StringIO()
        try:
            with captured_output(output), limit_cpu(STEP_CPU_SECONDS):
                value = action()
        except StepOverBudget:
            self.fail(f"{description}: took more than {STEP_CPU_SECONDS:g} s of CPU: an "
                      "infinite loop?", output.getvalue())
        except TranscriptMismatch:
            raise
        except Exception as exc:
            self.fail(f"{description}: your code raised {type(exc).__name__}: {exc}\n"
                      + traceback.format_exc().rstrip(), output.getvalue())
        self._printed = output.getvalue()
        return value

    def check(self, description: str, action: Callable[[], Any], expected: Any) -> Any:
        """Evaluate `action` (the student's code) and compare with `expected`."""
        got = self.run(description, action)
        if got != expected:
            self.fail(f"expected {description} == {expected!r}, got {got!r}", self._printed)
        self.log(f"{description} == {got!r}", self._printed)
        return got

    def check_raises(self, description: str, action: Callable[[], Any],
                     errors: tuple[type[BaseException], ...]) -> None:
        try:
            with limit_cpu(STEP_CPU_SECONDS):
                got = action()
        except errors as exc:
            self.log(f"{description} raises {type(exc).__name__}")
            return
        except NotImplementedError as exc:
            self.fail(f"{description}: your code raised NotImplementedError: {exc}")
        except Exception as exc:
            self.fail(f"{description}: expected {' or '.join(e.__name__ for e in errors)}, "
                      f"got {type(exc).__name__}: {exc}")
        self.fail(f"{description}: expected {' or '.join(e.__name__ for e in errors)}, "
                  f"got {got!r}")
