"""The transcript harness: steps, and the Harness that runs them against a Stack."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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
        h.deliver([self.frame])
        return f"receive   {self.note or describe_frame(self.frame)}"


@dataclass
class Burst(Step):
    """One engine pass: these frames as one burst, then the end of the pass, whatever the
    harness's mode. `app`, if given, is the application's turn in that pass (a pass hook:
    after the burst, before end_pass), e.g. a service answering what the burst brought."""

    frames: list[bytes]
    app: Callable[[Stack, float], Any] | None = None
    app_description: str = ""

    def apply(self, h: Harness) -> str:
        h.run_pass(self.frames, self.app)
        count = f"{len(self.frames)} frame{'s' if len(self.frames) != 1 else ''}"
        then = f", then {self.app_description or 'the application'}" if self.app else ""
        shown = "".join(f"\n{'':24}{self.describe(f)}" for f in self.frames)  # under the text
        return f"pass      {count}{then}:{shown}"

    def describe(self, frame: bytes) -> str:
        """How one frame of the burst reads (protocol helpers override it)."""
        return describe_frame(frame)


@dataclass
class Advance(Step):
    seconds: float

    def apply(self, h: Harness) -> str:
        h.now += self.seconds
        if h.mode == "pass":
            h.run_pass([])
        else:
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
        if h.mode == "pass":
            h.run_pass([])  # the call was a control callable: the rest of its pass follows
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


def rerun_hint(impl: Mapping[str, Any]) -> str:
    """The command that runs just the failing test again, with the same replacement units
    (those given by path, e.g. a stack's `config.impl`): pytest names the running test in
    PYTEST_CURRENT_TEST."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    if not current:
        return ""
    node = current.rsplit(" (", 1)[0]
    impl = "".join(f" --impl {name}={path}" for name, path in sorted(impl.items())
                   if isinstance(path, str))
    return f"\nrerun just this test: pytest '{node}'{impl}"



MODES = ("immediate", "pass")


class Harness:
    """Drives one Stack through steps with a virtual clock, keeping the transcript.

    `mode` says how frames reach the stack. "immediate": `stack.receive` alone, so every
    "ACK now" leaves at once. "pass": as the engine drives it, each Receive is a pass of
    one frame, and Advance and Call end their pass too (`run_pass`), so ACKs wait for the
    end of the pass and in-order segments of one Burst merge (stages/tcp/gro.py).
    """

    def __init__(self, stack: Stack, now: float = 0.0, mode: str = "immediate") -> None:
        if mode not in MODES:
            raise ValueError(f"harness mode {mode!r}: expected one of {', '.join(MODES)}")
        self.stack = stack
        self.now = now
        self.mode = mode
        self.lines: list[str] = []
        self.last_frame: bytes | None = None  # the frame the last Expect matched
        self.steps_run = 0
        self._passes_ended = False
        # Every frame fed in and sent out: (time, "in" | "out", bytes), for ladder diagrams.
        # A frame sent is logged when the test takes it (expect, drain), at that time: take
        # frames before advancing the clock if their times matter.
        self.frames: list[tuple[float, str, bytes]] = []

    def deliver(self, frames: list[bytes]) -> None:
        """Hand frames from the wire to the stack, as the harness's mode says."""
        if self.mode == "pass":
            for frame in frames:
                self.run_pass([frame])
        else:
            for frame in frames:
                self.frames.append((self.now, "in", bytes(frame)))
                self.stack.receive(frame, self.now)

    def run_pass(self, frames: list[bytes],
                 app: Callable[[Stack, float], Any] | None = None) -> None:
        """One pass exactly as engine/loop.py's Engine._one_pass drives the stack: (the
        control callables, which a Call step already ran), the burst between begin_burst and
        end_burst (only if frames arrived), the timers due, the pass hooks (`app`), then
        end_pass, before the frames are collected."""
        stack, now = self.stack, self.now
        if not self._passes_ended:
            # A running engine has ended passes before the first frame arrives, and TCP
            # defers ACKs only for a driver it has seen end a pass (TcpStage.end_pass).
            self._passes_ended = True
            stack.end_pass(now)
        if frames:
            self.frames.extend((now, "in", bytes(frame)) for frame in frames)
            stack.begin_burst()
            for frame in frames:
                stack.receive(frame, now)
            stack.end_burst(now)
        stack.advance(now)
        if app is not None:
            app(stack, now)
        stack.end_pass(now)

    def pop_outgoing(self) -> bytes | None:
        """The next frame the stack sent, as bytes; its mbuf goes back to the pool."""
        if not self.stack.outgoing:
            return None
        mbuf = self.stack.outgoing.popleft()
        frame = mbuf.tobytes()
        self.frames.append((self.now, "out", frame))
        if mbuf.index >= 0:
            self.stack.pool.free(mbuf)
        return frame

    def drain(self) -> list[bytes]:
        frames = []
        while (frame := self.pop_outgoing()) is not None:
            frames.append(frame)
        return frames

    def step(self, step: Step) -> None:
        number = self.steps_run + 1
        at = self.now
        try:
            line, notes = self.apply_step(step, number)
        except TranscriptMismatch as exc:
            raise TranscriptMismatch(
                self.transcript() + f"\nstep {number} failed at t={at:.3f}:\n  {exc}"
                + self.rerun_hint()
            ) from None
        self.steps_run = number
        self.lines.append(f"{number:3d}. t={at:.3f}  {line}")
        self.lines.extend(f"{'':14}| {note}" for note in notes)

    def apply_step(self, step: Step, number: int) -> tuple[str, list[str]]:
        """Apply one step: its transcript line and any lines to print under it. A lab's
        harness (labs/kit) overrides this to add the student's own output and a CPU budget."""
        return step.apply(self), []

    def rerun_hint(self) -> str:
        """What to print after a failure so the reader can run just this test again."""
        return rerun_hint(self.stack.config.impl)

    def run(self, steps: list[Step]) -> None:
        for step in steps:
            self.step(step)

    def transcript(self) -> str:
        head = f"transcript (stack {self.stack.config.address}, {self.mode} mode):"
        return "\n".join([head, *self.lines]) if self.lines else head + "\n  (no steps)"

    # One method per step type, for tests that read better imperatively.
    def receive(self, frame: bytes, note: str = "") -> None:
        self.step(Receive(bytes(frame), note))

    def burst(self, frames: list[bytes], app: Callable[[Stack, float], Any] | None = None,
              app_description: str = "") -> None:
        self.step(Burst([bytes(f) for f in frames], app, app_description))

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
