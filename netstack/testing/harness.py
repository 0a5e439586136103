"""The transcript harness: steps, and the Harness that runs them against a Stack."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netstack.stack import Stack
from netstack.testing.frames import TranscriptMismatch, decode, describe_frame, join_fragments
from netstack.testing.matchers import FrameMatcher

# --- steps -------------------------------------------------------------------------------


class Step:
    """One line of a transcript. `apply` returns the log line or raises TranscriptMismatch."""

    def apply(self, harness: Harness) -> str:
        raise NotImplementedError


@dataclass
class Receive(Step):
    frame: bytes
    note: str = ""

    def apply(self, h: Harness) -> str:
        h.stack.receive(self.frame, h.now)
        return f"receive   {self.note or describe_frame(self.frame)}"


@dataclass
class Advance(Step):
    seconds: float

    def apply(self, h: Harness) -> str:
        h.now += self.seconds
        h.stack.advance(h.now)
        return f"advance   {self.seconds:g} s"


@dataclass
class Start(Step):
    def apply(self, h: Harness) -> str:
        h.stack.start(h.now)
        return "start"


@dataclass
class Call(Step):
    """Run `action(stack, now)`: e.g. an application sending a ping."""

    description: str
    action: Callable[[Stack, float], Any]

    def apply(self, h: Harness) -> str:
        self.action(h.stack, h.now)
        return f"call      {self.description}"


@dataclass
class Expect(Step):
    """The next frame the stack sent must match."""

    matcher: FrameMatcher

    def apply(self, h: Harness) -> str:
        frame = h.pop_outgoing()
        if frame is None:
            raise TranscriptMismatch(f"expected {self.matcher}, got nothing")
        problem = self.matcher.mismatch(frame)
        if problem:
            raise TranscriptMismatch(problem)
        h.last_frame = frame
        return self.transcript_line(frame)

    def transcript_line(self, frame: bytes) -> str:
        """How the matched frame reads in the transcript (protocol helpers override it)."""
        return f"sent      {describe_frame(frame)}"


@dataclass
class ExpectReassembled(Step):
    """The next frames, fragments of one datagram, must reassemble into a matching one."""

    matcher: FrameMatcher

    def apply(self, h: Harness) -> str:
        frames = []
        while True:
            frame = h.pop_outgoing()
            if frame is None:
                raise TranscriptMismatch(
                    f"expected {self.matcher} (fragmented), got {len(frames)} fragment(s) and "
                    "then nothing"
                )
            frames.append(frame)
            fields = decode(frame)
            if "ip.header" not in fields:
                raise TranscriptMismatch(f"expected a fragment, got {describe_frame(frame)}")
            if not fields["ip.more_fragments"]:
                break
        whole = join_fragments(frames)
        problem = self.matcher.mismatch(whole)
        if problem:
            raise TranscriptMismatch(problem)
        h.last_frame = whole
        return f"sent      {describe_frame(whole)} in {len(frames)} fragment(s)"


@dataclass
class ExpectNothing(Step):
    def apply(self, h: Harness) -> str:
        frame = h.pop_outgoing()
        if frame is not None:
            raise TranscriptMismatch(f"expected nothing, got {describe_frame(frame)}")
        return "sent      nothing"


@dataclass
class ExpectKni(Step):
    """The next frame handed to the kernel; `frame` None means any."""

    frame: bytes | None = None

    def apply(self, h: Harness) -> str:
        if not h.stack.to_kni:
            raise TranscriptMismatch("expected a frame for the kernel (KNI), got nothing")
        got = h.stack.to_kni.popleft()
        if self.frame is not None and got != bytes(self.frame):
            raise TranscriptMismatch(f"expected the same frame at KNI, got {describe_frame(got)}")
        return f"to kni    {describe_frame(got)}"


@dataclass
class ExpectNoKni(Step):
    def apply(self, h: Harness) -> str:
        if h.stack.to_kni:
            got = h.stack.to_kni.popleft()
            raise TranscriptMismatch(f"expected nothing for KNI, got {describe_frame(got)}")
        return "to kni    nothing"


@dataclass
class ExpectCounter(Step):
    name: str
    value: int

    def apply(self, h: Harness) -> str:
        got = h.stack.counters[self.name]
        if got != self.value:
            others = h.stack.counters.matching(self.name.split(".")[0] + ".")
            raise TranscriptMismatch(
                f"expected counter {self.name} == {self.value}, got {got} (counters now: {others})"
            )
        return f"counter   {self.name} == {self.value}"


# --- the harness -------------------------------------------------------------------------


def rerun_hint(stack: Stack) -> str:
    """The command that runs just the failing test again, with the same replacement units
    (those given by path): pytest names the running test in PYTEST_CURRENT_TEST."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    if not current:
        return ""
    node = current.rsplit(" (", 1)[0]
    impl = "".join(f" --impl {name}={path}" for name, path in sorted(stack.config.impl.items())
                   if isinstance(path, str))
    return f"\nrerun just this test: pytest '{node}'{impl}"


class Harness:
    """Drives one Stack through steps with a virtual clock, keeping the transcript."""

    def __init__(self, stack: Stack, now: float = 0.0) -> None:
        self.stack = stack
        self.now = now
        self.lines: list[str] = []
        self.last_frame: bytes | None = None  # the frame the last Expect matched

    def pop_outgoing(self) -> bytes | None:
        """The next frame the stack sent, as bytes; its mbuf goes back to the pool."""
        if not self.stack.outgoing:
            return None
        mbuf = self.stack.outgoing.popleft()
        frame = mbuf.tobytes()
        if mbuf.index >= 0:
            self.stack.pool.free(mbuf)
        return frame

    def drain(self) -> list[bytes]:
        frames = []
        while (frame := self.pop_outgoing()) is not None:
            frames.append(frame)
        return frames

    def step(self, step: Step) -> None:
        number = len(self.lines) + 1
        at = self.now
        try:
            line = step.apply(self)
        except TranscriptMismatch as exc:
            raise TranscriptMismatch(
                self.transcript() + f"\nstep {number} failed at t={at:.3f}:\n  {exc}"
                + rerun_hint(self.stack)
            ) from None
        self.lines.append(f"{number:3d}. t={at:.3f}  {line}")

    def run(self, steps: list[Step]) -> None:
        for step in steps:
            self.step(step)

    def transcript(self) -> str:
        head = f"transcript (stack {self.stack.config.address}):"
        return "\n".join([head, *self.lines]) if self.lines else head + "\n  (no steps)"

    # One method per step type, for tests that read better imperatively.
    def receive(self, frame: bytes, note: str = "") -> None:
        self.step(Receive(bytes(frame), note))

    def advance(self, seconds: float) -> None:
        self.step(Advance(seconds))

    def start(self) -> None:
        self.step(Start())

    def call(self, description: str, action: Callable[[Stack, float], Any]) -> None:
        self.step(Call(description, action))

    def expect(self, matcher: FrameMatcher) -> bytes:
        self.step(Expect(matcher))
        assert self.last_frame is not None
        return self.last_frame

    def expect_reassembled(self, matcher: FrameMatcher) -> bytes:
        self.step(ExpectReassembled(matcher))
        assert self.last_frame is not None
        return self.last_frame

    def expect_nothing(self) -> None:
        self.step(ExpectNothing())

    def expect_kni(self, frame: bytes | None = None) -> None:
        self.step(ExpectKni(frame))

    def expect_no_kni(self) -> None:
        self.step(ExpectNoKni())

    def expect_counter(self, name: str, value: int) -> None:
        self.step(ExpectCounter(name, value))
