"""Several engines in one thread on one virtual clock: a network that replays exactly.

Each stack keeps its real `Engine` (the same passes production runs: receive, dispatch in
bursts, timers, end of pass, transmit), but nobody calls `Engine.run`. `Lockstep` runs one
pass of every engine in turn until no frame moves, then moves the shared `VirtualClock`
straight to the earliest deadline (a stack's timer, or a frame an emulated link holds), and
so on. No thread, no real time and no sleep is involved, so with seeded stacks
(StackConfig.random_seed) a run is the same, byte for byte, every time.

    clock = VirtualClock()
    a = Engine(stack_a, open_port("memory:lab?loss=0.05"), pool_a, clock=clock)
    b = Engine(stack_b, open_port("memory:lab?loss=0.05"), pool_b, clock=clock)
    net = Lockstep([a, b], clock)
    net.call(a, lambda stack, now: stack.icmp.send_echo(B_IP, 1, 1, b"hi", now))
    net.run_for(1.0)

Applications act through `call` (or `Engine.call_soon_threadsafe` and a `settle`): their code
runs inside an engine pass, on the engine's stack, as a service on the loop thread would.
A capture that must repeat byte for byte keeps virtual timestamps: `Capture(path,
wall_clock=False)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from netstack.clock import VirtualClock
from netstack.engine.loop import Engine

MAX_ROUNDS = 100_000  # passes at one instant before we call it a livelock


class Lockstep:
    def __init__(self, engines: Sequence[Engine], clock: VirtualClock) -> None:
        for engine in engines:
            if engine.clock is not clock:
                raise ValueError("every engine must run on the lockstep's clock")
        self.engines = list(engines)
        self.clock = clock

    @property
    def now(self) -> float:
        return self.clock.now()

    def call(self, engine: Engine, fn: Callable[[Any, float], Any]) -> Any:
        """Run fn(stack, now) in `engine`'s next pass, settle, and return what it returned
        (or raise what it raised)."""
        outcome: list[tuple[bool, Any]] = []

        def run(stack: Any, now: float) -> None:
            try:
                outcome.append((True, fn(stack, now)))
            except Exception as exc:  # noqa: BLE001 - raised again in the caller, below
                outcome.append((False, exc))

        engine.call_soon_threadsafe(run)
        self.settle()
        if not outcome:
            raise RuntimeError("the engine did not run the call")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def settle(self) -> None:
        """Run passes at the current instant until nothing moves and nothing is due."""
        for _ in range(MAX_ROUNDS):
            before = self._progress()
            for engine in self.engines:
                engine.run_once(timeout=0)
            deadline = self.next_deadline()
            due = deadline is not None and deadline <= self.now
            if self._progress() == before and not due and not self._work_waiting():
                return
        raise RuntimeError(f"the network did not settle at t={self.now:.6f}")

    def next_deadline(self) -> float | None:
        """The earliest time any stack or port wants to run (None: nothing pending)."""
        deadlines = []
        for engine in self.engines:
            deadlines.append(engine.stack.next_deadline())
            port_deadline = getattr(engine.port, "next_deadline", None)
            if port_deadline is not None:
                deadlines.append(port_deadline())
        pending = [d for d in deadlines if d is not None]
        return min(pending) if pending else None

    def run_until(self, end: float, stop: Callable[[], bool] | None = None) -> bool:
        """Step from deadline to deadline up to time `end` (or until `stop()` is true, checked
        after each instant). Returns whether `stop` ended it."""
        self.settle()
        while not (stop is not None and stop()):
            deadline = self.next_deadline()
            if deadline is None or deadline > end:
                self.clock.advance(max(0.0, end - self.now))
                self.settle()
                return stop is not None and stop()
            self.clock.advance(max(0.0, deadline - self.now))
            self.settle()
        return True

    def run_for(self, seconds: float, stop: Callable[[], bool] | None = None) -> bool:
        return self.run_until(self.now + seconds, stop)

    def close(self) -> None:
        for engine in self.engines:
            engine.close()

    def _progress(self) -> tuple[int, ...]:
        """What changes whenever a frame moves anywhere."""
        return tuple(engine.counters[name] for engine in self.engines
                     for name in ("port.rx", "port.tx"))

    def _work_waiting(self) -> bool:
        return any(engine.has_work() for engine in self.engines)
