"""Stacks made with the student's units, and the lab harness.

The grader runs the lab's tests in a subprocess with NETSTACK_LAB_IMPL set to the units to
grade (JSON: unit name -> "module:Attr", the module found in the student's folder); without
it, every unit is the reference (`netstack lab check N --reference`). `make_stack` builds a
stack for a variant with those units, and `LabHarness` is netstack's transcript harness plus
what a student needs when a step goes wrong:

- the student's own output (print, logging) shown under the step that produced it;
- a CPU budget per step, so an infinite loop fails that step instead of hanging the run;
- a crash in student code turned into that step's failure, with the student's traceback;
- every frame in and out kept, so the grader can write a pcap of a failing transcript;
- the variant's seed and the command that reruns just this test.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import traceback
from collections.abc import Iterator
from typing import Any

from labs.kit.variant import Variant
from netstack.engine.pcapfile import PcapWriter
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.stages.tcp.config import TcpConfig
from netstack.testing.frames import TranscriptMismatch
from netstack.testing.harness import Harness, Step

IMPL_ENV = "NETSTACK_LAB_IMPL"
RERUN_ENV = "NETSTACK_LAB_RERUN"  # the grader's rerun command, "{test}" standing for the test
STEP_CPU_SECONDS = 2.0


def graded_impl() -> dict[str, str]:
    """The units under test: {} means the reference for everything."""
    text = os.environ.get(IMPL_ENV, "")
    return dict(json.loads(text)) if text else {}


def make_stack(variant: Variant, pool_size: int = 256, **overrides: Any) -> Stack:
    """A stack at the variant's addresses, with the graded units; keyword arguments are
    StackConfig fields (`tcp=` is merged into a TcpConfig with the variant's RTO)."""
    tcp = {"initial_rto": variant.initial_rto, **dict(overrides.pop("tcp", {}))}
    settings: dict[str, Any] = {
        "mac": variant.our_mac,
        "address": variant.interface,
        "gateway": variant.peer_ip,
        "random_seed": variant.stack_seed,
        "tcp": TcpConfig(**tcp),
    }
    settings.update(overrides)
    settings["impl"] = {**graded_impl(), **dict(overrides.get("impl", {}))}
    return Stack(StackConfig(**settings), MbufPool(pool_size))


def make_harness(variant: Variant, now: float = 0.0, peer_known: bool = False,
                 mode: str = "immediate", **overrides: Any) -> LabHarness:
    """A LabHarness around a fresh stack; `peer_known` pre-loads a static ARP entry."""
    if peer_known:
        overrides.setdefault("static_arp", {variant.peer_ip: variant.peer_mac})
    return LabHarness(make_stack(variant, **overrides), variant, now, mode)


class StepOverBudget(BaseException):
    """Raised by SIGPROF inside a step; a BaseException so `except Exception` in student
    code cannot swallow it."""


# Every LabHarness made in this process, newest last, kept only when the grader's pytest
# plugin asks (KEEP_HARNESSES): it empties the list before each test and, when the test
# fails, writes each one's frames to a pcap. Outside the grader nothing is kept.
HARNESSES: list[Any] = []  # LabHarness, or any bench with `frames` and `write_pcap`
KEEP_HARNESSES = False


def keep_for_pcap(bench: Any) -> None:
    """Register a bench of a lab's own (with `frames` and `write_pcap`, e.g. lab 0's two
    simulated hosts) so the grader writes its frames to a pcap when its test fails."""
    if KEEP_HARNESSES:
        HARNESSES.append(bench)


def write_frames_pcap(frames: list[tuple[float, bytes]], path: str) -> None:
    """(virtual time, frame) pairs as a pcap. Virtual time starts at 0; a pcap reader
    wants something like a real date."""
    writer = PcapWriter(path)
    try:
        for at, frame in frames:
            writer.write(frame, 1_700_000_000.0 + at)
    finally:
        writer.close()


class LabHarness(Harness):
    def __init__(self, stack: Stack, variant: Variant, now: float = 0.0,
                 mode: str = "immediate", cpu_budget: float = STEP_CPU_SECONDS) -> None:
        super().__init__(stack, now, mode)
        keep_for_pcap(self)
        self.variant = variant
        self.cpu_budget = cpu_budget

    # --- frames, for the pcap of a failing transcript (Harness.frames logs them) --------
    def write_pcap(self, path: str) -> None:
        write_frames_pcap([(at, frame) for at, _direction, frame in self.frames], path)

    # --- each step: budget, output, crashes ------------------------------------------
    def apply_step(self, step: Step, number: int) -> tuple[str, list[str]]:
        output = io.StringIO()
        with captured_output(output), limit_cpu(self.cpu_budget):
            try:
                line = step.apply(self)
            except TranscriptMismatch as exc:
                raise TranscriptMismatch(str(exc) + _under(output)) from None
            except StepOverBudget:
                raise TranscriptMismatch(
                    f"step {number} took more than {self.cpu_budget:g} s of CPU: an infinite "
                    "loop?" + _under(output)) from None
            except Exception as exc:
                raise TranscriptMismatch(
                    f"your code raised {type(exc).__name__}: {exc}\n"
                    + "".join(traceback.format_exc()).rstrip() + _under(output)) from None
        return line, output.getvalue().splitlines()

    def rerun_hint(self) -> str:
        current = os.environ.get("PYTEST_CURRENT_TEST", "")
        test = current.rsplit(" (", 1)[0].rsplit("::", 1)[-1]
        command = os.environ.get(RERUN_ENV, "")
        seed = "" if self.variant.public else f" (variant: hidden seed {self.variant.seed})"
        if command and test:
            return f"\nrerun just this test{seed}: {command.replace('{test}', test)}"
        return super().rerun_hint() + seed


def _under(output: io.StringIO) -> str:
    lines = output.getvalue().splitlines()
    if not lines:
        return ""
    return "\n  your code printed during this step:\n" + "\n".join(f"    | {x}" for x in lines)


class _StudentLog(logging.Handler):
    """Log records from the student's modules (anything outside netstack and labs)."""

    def __init__(self, sink: io.StringIO) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(("netstack", "labs")):
            self.sink.write(f"{record.levelname.lower()}: {record.getMessage()}\n")


@contextlib.contextmanager
def captured_output(sink: io.StringIO) -> Iterator[None]:
    root = logging.getLogger()
    handler, level = _StudentLog(sink), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@contextlib.contextmanager
def limit_cpu(seconds: float) -> Iterator[None]:
    """SIGPROF after `seconds` of this process's CPU time (user + system)."""
    def over(signum, frame):
        raise StepOverBudget()

    previous = signal.signal(signal.SIGPROF, over)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


MODULES_ENV = "NETSTACK_LAB_MODULES"  # JSON: name -> module to import (student's or reference)


def student_module(name: str, reference: str) -> Any:
    """A plain module a lab grades (lab.toml [modules]): the student's, when the grader
    says so in NETSTACK_LAB_MODULES, else `reference`."""
    import importlib

    chosen = json.loads(os.environ.get(MODULES_ENV, "") or "{}").get(name, reference)
    return importlib.import_module(chosen)
