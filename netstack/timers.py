"""A hashed timer wheel: the one place every protocol timer lives.

The wheel is an array of `slots` buckets, each covering `tick` seconds. A timer due at time
`d` goes into bucket `floor(d / tick) % slots`, so scheduling and cancelling are O(1) however
many timers exist (Varghese and Lauck, "Hashed and Hierarchical Timing Wheels", 1987; the Linux
kernel and DPDK's rte_timer use the same idea). Only timers due within one turn of the wheel
(`slots * tick` seconds) sit in the buckets; later ones wait in an "overflow" heap and move into
the wheel as it turns. An ARP entry aging out in 60 s lands there; a retransmission in 200 ms
does not.

This is a pure data structure: it never reads a clock. `advance(now)` is told the time and
fires, in deadline order, every timer due at or before it. Each bucket holds timers of exactly
one tick (an invariant `advance` keeps), which is what lets `next_deadline` stop at the first
non-empty bucket.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

TimerCallback = Callable[[float], None]

DEFAULT_TICK = 0.010  # 10 ms: finer than any protocol timer we run, coarse enough to be cheap
DEFAULT_SLOTS = 512  # one turn = 5.12 s at the default tick


class Timer:
    """A handle on one scheduled callback. `cancel()` is safe to call at any time, even twice."""

    __slots__ = ("deadline", "callback", "_seq", "_wheel", "_tick", "_state")

    # _DUE: `advance` took it out of the wheel and fires it later in the same call.
    _PENDING, _FIRED, _CANCELLED, _DUE = range(4)

    def __init__(self, wheel: TimerWheel, deadline: float, callback: TimerCallback, seq: int):
        self.deadline = deadline
        self.callback = callback
        self._seq = seq  # breaks deadline ties: first scheduled, first fired
        self._wheel = wheel
        self._tick: int | None = None  # None while waiting in the overflow heap
        self._state = Timer._PENDING

    @property
    def pending(self) -> bool:
        return self._state == Timer._PENDING or self._state == Timer._DUE

    def cancel(self) -> None:
        if self._state == Timer._PENDING:
            self._state = Timer._CANCELLED
            self._wheel._forget(self)
        elif self._state == Timer._DUE:
            # An earlier callback of the same advance cancels it: the wheel has already
            # counted it out, so only the state changes (counting it out twice would make
            # the wheel think itself empty while timers still wait in it).
            self._state = Timer._CANCELLED

    def __lt__(self, other: Timer) -> bool:  # heap order
        return (self.deadline, self._seq) < (other.deadline, other._seq)

    def __repr__(self) -> str:
        state = ("pending", "fired", "cancelled", "pending")[self._state]
        return f"Timer(deadline={self.deadline:.3f}, {state})"


class TimerWheel:
    """`schedule(deadline, callback)`, `advance(now)`, `next_deadline()`.

    Callbacks are called as `callback(now)`, with the `now` given to `advance`. They may
    schedule or cancel timers, including ones already due: those fire in the same `advance`.
    """

    def __init__(self, tick: float = DEFAULT_TICK, slots: int = DEFAULT_SLOTS) -> None:
        if tick <= 0 or slots < 1:
            raise ValueError("a timer wheel needs a positive tick and at least one slot")
        self.tick = tick
        self.slots = slots
        self._buckets: list[set[Timer]] = [set() for _ in range(slots)]
        self._overflow: list[Timer] = []  # heap of timers beyond one turn of the wheel
        self._current_tick: int | None = None  # set by the first schedule or advance
        self._in_wheel = 0  # pending timers in buckets
        self._in_overflow = 0  # pending timers in the heap (cancelled ones linger there)
        self._seq = itertools.count()
        self._cached_next: float | None = None
        self._cache_valid = True

    def __len__(self) -> int:
        """How many timers are pending."""
        return self._in_wheel + self._in_overflow

    @property
    def stored(self) -> int:
        """How many timer objects the wheel holds: the pending ones, plus cancelled ones
        still waiting in the overflow heap. `_forget` compacts the heap once they are half
        of it, so this stays below twice the pending count (plus a small constant), however
        many timers are scheduled and cancelled."""
        return self._in_wheel + len(self._overflow)

    def _tick_of(self, t: float) -> int:
        return math.floor(t / self.tick)

    def schedule(self, deadline: float, callback: TimerCallback) -> Timer:
        """Call `callback(now)` from the first `advance(now)` with `now >= deadline`."""
        if not math.isfinite(deadline):
            raise ValueError(f"timer deadline must be a finite time, not {deadline}")
        if self._current_tick is None:
            self._current_tick = self._tick_of(deadline)
        timer = Timer(self, deadline, callback, next(self._seq))
        self._place(timer)
        if self._cache_valid and (self._cached_next is None or deadline < self._cached_next):
            self._cached_next = deadline
        return timer

    def _place(self, timer: Timer) -> None:
        assert self._current_tick is not None
        # A deadline already in the past belongs to the bucket being processed right now.
        tick = max(self._tick_of(timer.deadline), self._current_tick)
        if tick - self._current_tick < self.slots:
            timer._tick = tick
            self._buckets[tick % self.slots].add(timer)
            self._in_wheel += 1
        else:
            timer._tick = None
            heapq.heappush(self._overflow, timer)
            self._in_overflow += 1

    def _forget(self, timer: Timer) -> None:
        """Called by Timer.cancel: take the timer out of the wheel's bookkeeping."""
        if timer._tick is not None:
            self._buckets[timer._tick % self.slots].discard(timer)
            self._in_wheel -= 1
        else:
            # Removing from the middle of a heap is O(n); the entry is skipped when popped.
            self._in_overflow -= 1
            if len(self._overflow) > 64 and self._in_overflow < len(self._overflow) // 2:
                self._overflow = [t for t in self._overflow if t.pending]
                heapq.heapify(self._overflow)
        if timer.deadline == self._cached_next:
            self._cache_valid = False

    def advance(self, now: float) -> int:
        """Fire every timer with `deadline <= now`, earliest first. Returns how many fired."""
        now_tick = self._tick_of(now)
        if self._current_tick is None:
            self._current_tick = now_tick
        fired = 0
        while True:
            due = self._collect_due(now, now_tick)
            if not due:
                break
            self._cache_valid = False
            due.sort()
            for timer in due:
                # An earlier callback in this batch may have cancelled this one.
                if timer._state == Timer._DUE:
                    timer._state = Timer._FIRED
                    fired += 1
                    timer.callback(now)
        return fired

    def _collect_due(self, now: float, now_tick: int) -> list[Timer]:
        """Take every due timer out of the wheel and turn the wheel to `now_tick`."""
        assert self._current_tick is not None
        start = self._current_tick
        end = max(start, now_tick)
        due: list[Timer] = []
        if self._in_wheel:
            # After a long idle gap, one pass over every bucket is enough.
            for tick in range(start, min(end + 1, start + self.slots)):
                bucket = self._buckets[tick % self.slots]
                if bucket:
                    ripe = [t for t in bucket if t.deadline <= now]
                    bucket.difference_update(ripe)
                    self._in_wheel -= len(ripe)
                    for timer in ripe:
                        timer._state = Timer._DUE
                    due.extend(ripe)
        self._current_tick = end
        # Turn the wheel: overflow timers now within one turn move into their buckets, and
        # those already due go straight to `due`.
        while self._overflow and (
            not self._overflow[0].pending
            or self._tick_of(self._overflow[0].deadline) - end < self.slots
        ):
            timer = heapq.heappop(self._overflow)
            if not timer.pending:
                continue
            self._in_overflow -= 1
            if timer.deadline <= now:
                timer._state = Timer._DUE
                due.append(timer)
            else:
                self._place(timer)
        return due

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or None when no timer is pending."""
        if not self._cache_valid:
            self._cached_next = self._find_next_deadline()
            self._cache_valid = True
        return self._cached_next

    def _find_next_deadline(self) -> float | None:
        if self._in_wheel:
            assert self._current_tick is not None
            # Buckets hold one tick each, so the first non-empty one holds the earliest timer.
            for tick in range(self._current_tick, self._current_tick + self.slots):
                bucket = self._buckets[tick % self.slots]
                if bucket:
                    return min(t.deadline for t in bucket)
        while self._overflow and not self._overflow[0].pending:
            heapq.heappop(self._overflow)
        return self._overflow[0].deadline if self._overflow else None
