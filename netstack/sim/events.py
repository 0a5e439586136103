"""The discrete-event core: one heap of timed callbacks and a clock that jumps between them.

Ties break by the order events were scheduled (a sequence number), so a run is a pure
function of its inputs. Nothing here reads the wall clock: `now` only moves when the next
event is taken off the heap.

    sim = Simulator(seed=1)
    sim.at(0.5, print, "half a second")
    sim.after(0.1, print, "a tenth")
    sim.run_until(1.0)
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections.abc import Callable
from typing import Any


class Event:
    """A scheduled callback; `cancel()` leaves it on the heap but makes it do nothing."""

    __slots__ = ("time", "fn", "args", "cancelled")

    def __init__(self, time: float, fn: Callable[..., Any], args: tuple) -> None:
        self.time = time
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def derive_seed(seed: int, path: str) -> int:
    """A 64-bit seed for the component at `path` ("link/bottleneck/up/loss"), so adding a
    component never changes the numbers another one draws."""
    digest = hashlib.sha256(f"{seed}/{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Simulator:
    def __init__(self, seed: int = 0, start: float = 0.0) -> None:
        self.seed = seed
        self.now = start
        self._heap: list[tuple[float, int, Event]] = []
        self._sequence = itertools.count()
        self.events_run = 0

    # --- scheduling ----------------------------------------------------------------------

    def at(self, when: float, fn: Callable[..., Any], *args: Any) -> Event:
        """Run fn(*args) at virtual time `when` (not before now)."""
        if when < self.now:
            raise ValueError(f"cannot schedule at {when} before now ({self.now})")
        event = Event(when, fn, args)
        heapq.heappush(self._heap, (when, next(self._sequence), event))
        return event

    def after(self, delay: float, fn: Callable[..., Any], *args: Any) -> Event:
        return self.at(self.now + delay, fn, *args)

    def random(self, path: str) -> random.Random:
        """The generator of the component at `path` (see derive_seed)."""
        return random.Random(derive_seed(self.seed, path))

    # --- running -------------------------------------------------------------------------

    def next_time(self) -> float | None:
        """When the next live event is due (None: the heap is empty)."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_until(self, end: float, stop: Callable[[], bool] | None = None) -> bool:
        """Run every event due up to `end` (inclusive), in order; leave `now` at `end`
        (at the last event's time when `end` is infinite).
        `stop()`, checked after each event, ends the run early; returns whether it did."""
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= end:
            when, _, event = pop(heap)
            if event.cancelled:
                continue
            self.now = when
            self.events_run += 1
            event.fn(*event.args)
            if stop is not None and stop():
                return True
        if self.now < end < float("inf"):
            self.now = end
        return False

    def run(self, stop: Callable[[], bool] | None = None) -> bool:
        """Run until the heap is empty (or `stop()`)."""
        return self.run_until(float("inf"), stop)
