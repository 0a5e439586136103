"""Serializers: when each packet's last byte leaves a link direction.

Four kinds, chosen by RateSpec.kind:

- "constant": a packet of S bytes takes S*8/bps seconds. When idle, the serializer takes
  the next packet from the queue at once; back-to-back packets leave exactly S*8/bps apart.
- "infinite": no serializer; a packet leaves the moment it arrives (the queue stays empty).
- "trace": mahimahi's semantics. Each line of the trace is one delivery opportunity of
  1500 bytes at that millisecond (equal lines are several opportunities). Past the last
  line the trace repeats, shifted by its last timestamp (mahimahi's period); with
  `once` it just ends, and packets still queued then stay queued. Within an opportunity
  the bytes are shared: two 700-byte packets leave on one opportunity, a 1514-byte packet
  takes all 1500 bytes of one and 14 of the next, and leaves at the second. Bytes an
  opportunity cannot use (the queue is empty) are lost, not saved for later. As in
  mahimahi, a packet arriving at the very time of an opportunity comes after it.
- "onoff": constant `bps` for `on` seconds, then nothing for `off` seconds, over and over
  from the link's start. A packet being serialized when an off period begins stays in the
  serializer and resumes where it stopped when the link comes back on; an idle
  serializer takes the next packet even while off (the packet then waits in it).

Lazy opportunities. The link log needs every opportunity, but scheduling an event for each
one would cost 8,000 events a second on an idle 100 Mbit/s link. So a serializer schedules
an event only when a packet is due to leave (`wakeup`). Opportunities that pass while
nothing is due are reported to the observer later, in time order, the next time the
serializer is advanced: on the next arrival, the next departure, or at `finish(end)`.
Without an observer, an idle trace link skips the opportunities it missed with a binary
search, so its cost does not depend on the trace's rate.

The serializer talks to the rest of its link through three callables: `pull(t)` takes the
next packet from the queue as (arrival time, packet) or None; `depart(t, entry)` hands
over a packet whose last byte left at t; `opportunity(t, size)` tells the observer.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from typing import Protocol

from netstack.errors import ConfigError
from netstack.sim.link.spec import RateSpec
from netstack.sim.link.trace import locate_trace, read_trace
from netstack.sim.packet import Packet

OPPORTUNITY_BYTES = 1500  # one trace line, as in mahimahi

__all__ = ["ConstantRate", "InfiniteRate", "OnOffRate", "TraceRate", "make_serializer",
           "read_trace", "OPPORTUNITY_BYTES"]

Entry = tuple[float, Packet]  # (arrival time at the link, packet)
Pull = Callable[[float], "Entry | None"]
Depart = Callable[[float, Entry], None]
Opportunity = Callable[[float, int], None]


class Occupancy(Protocol):
    packets: int


class Serializer(Protocol):
    wakeup: float | None  # when advance() must run next; None: nothing due

    def advance(self, now: float) -> None:
        """Do everything due at or before `now`, in time order."""

    def kick(self, now: float) -> None:
        """The queue just received a packet."""

    def capacity_bytes(self, t0: float, t1: float) -> float:
        """Bytes the link could carry in [t0, t1)."""


class InfiniteRate:
    """No serializer: every packet leaves as it arrives."""

    __slots__ = ("wakeup", "_pull", "_depart")

    def __init__(self, pull: Pull, depart: Depart) -> None:
        self.wakeup: float | None = None
        self._pull = pull
        self._depart = depart

    def advance(self, now: float) -> None:
        pass

    def kick(self, now: float) -> None:
        entry = self._pull(now)
        while entry is not None:
            self._depart(now, entry)
            entry = self._pull(now)

    def capacity_bytes(self, t0: float, t1: float) -> float:
        return math.inf  # unbounded: utilization is 0 by convention


class ConstantRate:
    """S*8/bps seconds per packet; reports one 1500-byte opportunity per 1500 bytes of time."""

    __slots__ = ("bps", "seconds_per_byte", "start", "wakeup", "in_transit", "_pull",
                 "_depart", "_opportunity", "_opportunity_index", "_next_opportunity")

    def __init__(self, bps: float, pull: Pull, depart: Depart,
                 opportunity: Opportunity | None = None, start: float = 0.0) -> None:
        self.bps = bps
        self.seconds_per_byte = 8.0 / bps
        self.start = start
        self.wakeup: float | None = None
        self.in_transit: Entry | None = None
        self._pull = pull
        self._depart = depart
        self._opportunity = opportunity
        self._opportunity_index = 0
        self._next_opportunity = start

    def advance(self, now: float) -> None:
        wakeup = self.wakeup
        while wakeup is not None and wakeup <= now:
            if self._opportunity is not None:
                self._report_opportunities(wakeup)
            self._depart(wakeup, self.in_transit)
            self._take(wakeup)
            wakeup = self.wakeup
        if self._opportunity is not None:
            self._report_opportunities(now)

    def kick(self, now: float) -> None:
        if self.in_transit is None:
            self._take(now)

    def _take(self, t: float) -> None:
        entry = self._pull(t)
        self.in_transit = entry
        self.wakeup = None if entry is None else self._finish(t, len(entry[1].data))

    def _finish(self, t: float, size: int) -> float:
        return t + size * self.seconds_per_byte

    def _opportunity_time(self, k: int) -> float:
        return self.start + k * OPPORTUNITY_BYTES * self.seconds_per_byte

    def _report_opportunities(self, until: float) -> None:
        emit = self._opportunity
        t = self._next_opportunity
        k = self._opportunity_index
        while t <= until:
            emit(t, OPPORTUNITY_BYTES)
            k += 1
            t = self._opportunity_time(k)
        self._opportunity_index = k
        self._next_opportunity = t

    def capacity_bytes(self, t0: float, t1: float) -> float:
        return max(0.0, t1 - t0) * self.bps / 8.0


class OnOffRate(ConstantRate):
    """`bps` for `on` seconds, then 0 for `off` seconds, repeating from `start`."""

    __slots__ = ("on", "off", "period")

    def __init__(self, bps: float, on: float, off: float, pull: Pull, depart: Depart,
                 opportunity: Opportunity | None = None, start: float = 0.0) -> None:
        self.on = on
        self.off = off
        self.period = on + off
        super().__init__(bps, pull, depart, opportunity, start)

    def on_time(self, t: float) -> float:
        """Seconds of 'on' in [start, t)."""
        x = t - self.start
        if x <= 0:
            return 0.0
        periods, into = divmod(x, self.period)
        return periods * self.on + min(into, self.on)

    def time_at_on_time(self, x: float) -> float:
        """The earliest time by which `x` seconds of 'on' have gone by."""
        if x <= 0:
            return self.start
        periods, into = divmod(x, self.on)
        if into == 0:  # exactly at the end of an on period, not the start of the next
            return self.start + (periods - 1) * self.period + self.on
        return self.start + periods * self.period + into

    def _finish(self, t: float, size: int) -> float:
        return self.time_at_on_time(self.on_time(t) + size * self.seconds_per_byte)

    def _opportunity_time(self, k: int) -> float:
        return self.time_at_on_time(k * OPPORTUNITY_BYTES * self.seconds_per_byte)

    def capacity_bytes(self, t0: float, t1: float) -> float:
        return max(0.0, self.on_time(t1) - self.on_time(t0)) * self.bps / 8.0


class TraceRate:
    """mahimahi's delivery opportunities (see the module docstring)."""

    __slots__ = ("schedule", "once", "start", "period", "wakeup", "in_transit", "bytes_left",
                 "next_index", "_queue", "_pull", "_depart", "_opportunity")

    def __init__(self, schedule: list[int], once: bool, queue: Occupancy, pull: Pull,
                 depart: Depart, opportunity: Opportunity | None = None, start: float = 0.0,
                 source: str = "trace") -> None:
        if not schedule:
            raise ConfigError(f"{source}: empty trace (no delivery opportunities)")
        if not once and schedule[-1] == 0:
            raise ConfigError(f"{source}: a repeating trace must last more than 0 ms "
                              f"(its last line is its period)")
        self.schedule = schedule
        self.once = once
        self.start = start
        self.period = schedule[-1]
        self.wakeup: float | None = None
        self.in_transit: Entry | None = None
        self.bytes_left = 0  # of the packet in transit, still to be paid for
        self.next_index = 0  # the first opportunity not yet used or reported
        self._queue = queue
        self._pull = pull
        self._depart = depart
        self._opportunity = opportunity

    # --- the timeline ----------------------------------------------------------------------

    def time_of(self, k: int) -> float:
        """When opportunity number k (from 0) happens; inf past the end of a `once` trace."""
        schedule = self.schedule
        n = len(schedule)
        if k < n:
            return self.start + schedule[k] / 1000
        if self.once:
            return math.inf
        laps, i = divmod(k, n)
        return self.start + (schedule[i] + laps * self.period) / 1000

    def _count_ms(self, ms: int) -> int:
        """Opportunities whose millisecond is <= ms."""
        if ms < 0:
            return 0
        if self.once:
            return bisect.bisect_right(self.schedule, ms)
        laps = ms // self.period
        return laps * len(self.schedule) + bisect.bisect_right(self.schedule, ms - laps * self.period)

    def _last_ms(self, t: float, strict: bool) -> int:
        """The largest millisecond m with start + m/1000 <= t (< t when strict), computed with
        the same float expression as time_of, so the two never disagree."""
        def before(m: int) -> bool:
            when = self.start + m / 1000
            return when < t if strict else when <= t
        m = math.floor((t - self.start) * 1000)
        while before(m + 1):
            m += 1
        while m >= 0 and not before(m):
            m -= 1
        return m

    def count_until(self, t: float, strict: bool = False) -> int:
        """How many opportunities happen at or before t (strictly before, if strict)."""
        return self._count_ms(self._last_ms(t, strict))

    def capacity_bytes(self, t0: float, t1: float) -> float:
        if t1 <= t0:
            return 0.0
        return float(OPPORTUNITY_BYTES
                     * (self.count_until(t1, strict=True) - self.count_until(t0, strict=True)))

    # --- serializing -----------------------------------------------------------------------

    def advance(self, now: float) -> None:
        k = self.next_index
        queue = self._queue
        pull = self._pull
        emit = self._opportunity
        while True:
            if self.in_transit is None and queue.packets == 0:
                # Idle: nothing to pay for. Skip what has passed, telling the observer.
                seen = self.count_until(now)
                if emit is not None:
                    for j in range(k, seen):
                        emit(self.time_of(j), OPPORTUNITY_BYTES)
                k = max(k, seen)
                break
            t = self.time_of(k)
            if t > now:
                break
            k += 1
            if emit is not None:
                emit(t, OPPORTUNITY_BYTES)
            room = OPPORTUNITY_BYTES
            while room:
                entry = self.in_transit
                if entry is None:
                    entry = pull(t)
                    if entry is None:
                        break  # the rest of this opportunity is lost
                    self.in_transit = entry
                    self.bytes_left = len(entry[1].data)
                left = self.bytes_left
                if left > room:
                    self.bytes_left = left - room
                    break
                room -= left
                self.in_transit = None
                self._depart(t, entry)
        self.next_index = k
        self._plan()

    def kick(self, now: float) -> None:
        if self.wakeup is None:
            self._plan()

    def _plan(self) -> None:
        """Wake up at the opportunity that finishes the packet in transit, or at the next one
        if a packet waits in the queue."""
        if self.in_transit is not None:
            last = self.next_index + (self.bytes_left - 1) // OPPORTUNITY_BYTES
            wakeup = self.time_of(last)
        elif self._queue.packets:
            wakeup = self.time_of(self.next_index)
        else:
            wakeup = math.inf
        self.wakeup = None if wakeup == math.inf else wakeup


def make_serializer(rate: RateSpec, queue: Occupancy, pull: Pull, depart: Depart,
                    opportunity: Opportunity | None = None, start: float = 0.0) -> Serializer:
    """The serializer a RateSpec describes (a trace is read from its file here)."""
    if rate.kind == "infinite":
        return InfiniteRate(pull, depart)
    if rate.kind == "constant":
        return ConstantRate(rate.bps, pull, depart, opportunity, start)
    if rate.kind == "onoff":
        return OnOffRate(rate.bps, rate.on, rate.off, pull, depart, opportunity, start)
    if rate.kind == "trace":
        if rate.trace is None:
            raise ConfigError("a trace rate needs a trace file")
        return TraceRate(read_trace(locate_trace(rate.trace)), rate.once, queue, pull, depart, opportunity,
                         start, source=rate.trace)
    raise ConfigError(f"unknown rate kind {rate.kind!r}")
