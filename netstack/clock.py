"""Clocks are injected. Stages never read the time themselves; the engine passes `now` in."""

import time


class MonotonicClock:
    """The real clock: seconds from an arbitrary start, never going backwards."""

    def now(self) -> float:
        return time.monotonic()


class VirtualClock:
    """A clock that only moves when told to, so tests and labs run minutes in microseconds."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
        return self._now
