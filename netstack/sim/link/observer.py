"""Who watches a link direction: the mahimahi log writer, plots, tests.

A LinkDirection calls its observer (if it has one) as things happen, in time order for that
direction. Calls for skipped delivery opportunities are made lazily, so an observer may be
told of an opportunity a little after `sim.now` passed it, but never out of order relative
to the other calls of the same direction.

Times are virtual seconds; sizes are bytes (the whole frame).
"""

from __future__ import annotations

from typing import Protocol


class LinkObserver(Protocol):
    def arrival(self, t: float, size: int) -> None:
        """A packet reached the link's input (it may be dropped right after: see drop)."""

    def opportunity(self, t: float, size: int) -> None:
        """The link could carry `size` bytes at `t` (a trace line; constant and on/off links
        report one 1500-byte opportunity per 1500 bytes of capacity)."""

    def departure(self, t: float, size: int, queue_delay: float) -> None:
        """A packet's last byte left the serializer; `queue_delay` is t minus its arrival."""

    def drop(self, t: float, size: int, reason: str) -> None:
        """A packet was discarded: "tail", "head", "codel", "pie" (queue) or "loss"."""

    def queue(self, t: float, nbytes: int, npackets: int) -> None:
        """The queue's occupancy changed (the packet in the serializer is not counted)."""


class MultiObserver:
    """Tells every observer in `observers`, in order."""

    def __init__(self, *observers: LinkObserver) -> None:
        self.observers = list(observers)

    def arrival(self, t: float, size: int) -> None:
        for o in self.observers:
            o.arrival(t, size)

    def opportunity(self, t: float, size: int) -> None:
        for o in self.observers:
            o.opportunity(t, size)

    def departure(self, t: float, size: int, queue_delay: float) -> None:
        for o in self.observers:
            o.departure(t, size, queue_delay)

    def drop(self, t: float, size: int, reason: str) -> None:
        for o in self.observers:
            o.drop(t, size, reason)

    def queue(self, t: float, nbytes: int, npackets: int) -> None:
        for o in self.observers:
            o.queue(t, nbytes, npackets)


class EventLog:
    """Keeps every call as a tuple ("arrival", t, size), ("departure", t, size, delay)...:
    handy in tests and notebooks."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def arrival(self, t: float, size: int) -> None:
        self.events.append(("arrival", t, size))

    def opportunity(self, t: float, size: int) -> None:
        self.events.append(("opportunity", t, size))

    def departure(self, t: float, size: int, queue_delay: float) -> None:
        self.events.append(("departure", t, size, queue_delay))

    def drop(self, t: float, size: int, reason: str) -> None:
        self.events.append(("drop", t, size, reason))

    def queue(self, t: float, nbytes: int, npackets: int) -> None:
        self.events.append(("queue", t, nbytes, npackets))

    def of(self, kind: str) -> list[tuple]:
        """The calls of one kind, without the kind."""
        return [e[1:] for e in self.events if e[0] == kind]
