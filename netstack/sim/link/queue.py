"""Queues: where packets wait for the serializer, and which ones are thrown away.

Every queue is a FIFO of (arrival time, packet) entries in a deque, so enqueue and dequeue
cost O(1); `bytes` and `packets` count what waits (not the packet in the serializer, as
in mahimahi and Linux qdiscs). A queue never schedules events: it is told the time on
every call, and reports each packet it discards through `drop(t, packet, reason)`.

- DropTail: an arrival that does not fit is dropped ("tail").
- DropHead: the oldest packets are dropped to make room for the arrival ("head").
- CoDel (RFC 8289): drops at dequeue while the sojourn time has stayed above `target` for
  an `interval`, more often the longer it stays there (interval/sqrt(count)) ("codel").
- Pie (RFC 8033, the basic algorithm without derandomization): every `tupdate` a drop
  probability moves with the queueing delay's distance from `target` and its trend;
  arrivals are dropped at random with that probability ("pie").

Limits: `max_packets` and/or `max_bytes` (None: none). Both may be set; an arrival must fit
both. A packet larger than the byte limit can never fit and is dropped as it arrives.
CoDel and PIE keep such a limit too and tail-drop against it.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable

from netstack.errors import ConfigError
from netstack.sim.link.spec import QueueSpec
from netstack.sim.packet import Packet

Entry = tuple[float, Packet]
Drop = Callable[[float, Packet, str], None]

MAX_PACKET_BYTES = 1514  # an Ethernet frame with a 1500-byte MTU: CoDel's "maxpacket"


class DropTail:
    __slots__ = ("entries", "bytes", "packets", "max_packets", "max_bytes", "_drop")

    def __init__(self, drop: Drop, max_packets: int | None = None,
                 max_bytes: int | None = None) -> None:
        self.entries: deque[Entry] = deque()
        self.bytes = 0
        self.packets = 0
        # inf instead of None keeps the per-packet test to two comparisons
        self.max_packets = math.inf if max_packets is None else max_packets
        self.max_bytes = math.inf if max_bytes is None else max_bytes
        self._drop = drop

    def enqueue(self, packet: Packet, now: float) -> bool:
        """Queue the packet (True) or drop it (False)."""
        size = len(packet.data)
        if self.packets >= self.max_packets or self.bytes + size > self.max_bytes:
            self._drop(now, packet, "tail")
            return False
        self.entries.append((now, packet))
        self.packets += 1
        self.bytes += size
        return True

    def dequeue(self, now: float) -> Entry | None:
        """The oldest entry, or None if the queue is empty."""
        if not self.packets:
            return None
        entry = self.entries.popleft()
        self.packets -= 1
        self.bytes -= len(entry[1].data)
        return entry


class DropHead(DropTail):
    __slots__ = ()

    def enqueue(self, packet: Packet, now: float) -> bool:
        size = len(packet.data)
        if size > self.max_bytes:  # could never fit, whatever we dropped
            self._drop(now, packet, "tail")
            return False
        entries = self.entries
        while self.packets >= self.max_packets or self.bytes + size > self.max_bytes:
            _, oldest = entries.popleft()
            self.packets -= 1
            self.bytes -= len(oldest.data)
            self._drop(now, oldest, "head")
        entries.append((now, packet))
        self.packets += 1
        self.bytes += size
        return True


class CoDel(DropTail):
    """RFC 8289's CoDel; the state variables keep the RFC's names."""

    __slots__ = ("target", "interval", "first_above_time", "drop_next", "count",
                 "lastcount", "dropping")

    def __init__(self, drop: Drop, max_packets: int | None = None,
                 max_bytes: int | None = None, target: float = 0.005,
                 interval: float = 0.100) -> None:
        super().__init__(drop, max_packets, max_bytes)
        self.target = target
        self.interval = interval
        self.first_above_time: float | None = None  # the RFC's 0 means "not set"
        self.drop_next = 0.0
        self.count = 0
        self.lastcount = 0
        self.dropping = False

    def _control_law(self, t: float) -> float:
        return t + self.interval / math.sqrt(self.count)

    def _dodequeue(self, now: float) -> tuple[Entry | None, bool]:
        """RFC 8289 dodequeue: the head entry, and whether it is OK to drop it."""
        entry = DropTail.dequeue(self, now)
        if entry is None:
            self.first_above_time = None  # an empty queue is not above target
            return None, False
        sojourn = now - entry[0]
        if sojourn < self.target or self.bytes <= MAX_PACKET_BYTES:
            # below target (or too little queued to matter): stay below for an interval
            self.first_above_time = None
            return entry, False
        if self.first_above_time is None:
            self.first_above_time = now + self.interval
            return entry, False
        return entry, now >= self.first_above_time

    def dequeue(self, now: float) -> Entry | None:
        entry, ok_to_drop = self._dodequeue(now)
        if entry is None:
            self.dropping = False
            return None
        if self.dropping:
            if not ok_to_drop:
                self.dropping = False  # sojourn went below target: leave the dropping state
            while self.dropping and now >= self.drop_next:
                self._drop(now, entry[1], "codel")
                self.count += 1
                entry, ok_to_drop = self._dodequeue(now)
                if not ok_to_drop:
                    self.dropping = False
                else:
                    self.drop_next = self._control_law(self.drop_next)
        elif ok_to_drop:
            # Above target for a whole interval: drop one and enter the dropping state.
            self._drop(now, entry[1], "codel")
            entry, ok_to_drop = self._dodequeue(now)
            self.dropping = True
            # Coming back soon after the last dropping state: resume near its drop rate.
            delta = self.count - self.lastcount
            self.count = delta if delta > 1 and now - self.drop_next < 16 * self.interval else 1
            self.drop_next = self._control_law(now)
            self.lastcount = self.count
        return entry


class Pie(DropTail):
    """RFC 8033's PIE. The queueing delay is measured with timestamps: at each update it is
    how long the packet at the head has waited (0 when the queue is empty). Updates happen
    every `tupdate` from `start`, computed lazily when the queue is next used (the queue
    does not change between two calls, so the delay at each update time is known)."""

    __slots__ = ("target", "tupdate", "start", "drop_prob", "qdelay_old", "burst_allowance",
                 "_updates", "_next_update", "_random")

    ALPHA = 0.125  # per second of delay off target
    BETA = 1.25  # per second of delay change
    MAX_BURST = 0.150  # seconds of burst let through without early drops
    MEAN_PACKET_BYTES = 1500  # below two of these queued, never drop early

    def __init__(self, drop: Drop, rng: random.Random, max_packets: int | None = None,
                 max_bytes: int | None = None, target: float = 0.015,
                 tupdate: float = 0.015, start: float = 0.0) -> None:
        super().__init__(drop, max_packets, max_bytes)
        self.target = target
        self.tupdate = tupdate
        self.start = start
        self.drop_prob = 0.0
        self.qdelay_old = 0.0
        self.burst_allowance = self.MAX_BURST
        self._updates = 1
        self._next_update = start + tupdate
        self._random = rng.random

    def enqueue(self, packet: Packet, now: float) -> bool:
        self._catch_up(now)
        size = len(packet.data)
        if self.packets >= self.max_packets or self.bytes + size > self.max_bytes:
            self._drop(now, packet, "tail")
            return False
        if self._drop_early():
            self._drop(now, packet, "pie")
            return False
        self.entries.append((now, packet))
        self.packets += 1
        self.bytes += size
        return True

    def dequeue(self, now: float) -> Entry | None:
        self._catch_up(now)
        return DropTail.dequeue(self, now)

    def _drop_early(self) -> bool:
        """RFC 8033 §4.1 drop_early (without derandomization)."""
        if self.burst_allowance > 0:
            return False
        if self.qdelay_old < self.target / 2 and self.drop_prob < 0.2:
            return False
        if self.bytes <= 2 * self.MEAN_PACKET_BYTES:
            return False
        return self._random() < self.drop_prob

    def _catch_up(self, now: float) -> None:
        while self._next_update <= now:
            at = self._next_update
            self._update(at - self.entries[0][0] if self.entries else 0.0)
            self._updates += 1
            self._next_update = self.start + self._updates * self.tupdate

    def _update(self, qdelay: float) -> None:
        """RFC 8033 §4.2 calculate_drop_prob, with §4.3's burst allowance."""
        p = self.ALPHA * (qdelay - self.target) + self.BETA * (qdelay - self.qdelay_old)
        prob = self.drop_prob
        # Small probabilities move in small steps (the RFC's auto-tuning table).
        if prob < 0.000001:
            p /= 2048
        elif prob < 0.00001:
            p /= 512
        elif prob < 0.0001:
            p /= 128
        elif prob < 0.001:
            p /= 32
        elif prob < 0.01:
            p /= 8
        elif prob < 0.1:
            p /= 2
        elif p > 0.02:
            p = 0.02  # no sudden jumps once the probability is already high
        prob += p
        if qdelay == 0 and self.qdelay_old == 0:
            prob *= 0.98  # idle: decay
        elif qdelay > 0.250:
            prob += 0.02  # far too much delay: push harder
        self.drop_prob = min(1.0, max(0.0, prob))
        if self.burst_allowance > 0:
            self.burst_allowance = max(0.0, self.burst_allowance - self.tupdate)
        if (self.drop_prob == 0 and qdelay < self.target / 2
                and self.qdelay_old < self.target / 2):
            self.burst_allowance = self.MAX_BURST
        self.qdelay_old = qdelay


Queue = DropTail  # every queue has DropTail's interface


def make_queue(spec: QueueSpec, drop: Drop, rng: random.Random, start: float = 0.0) -> Queue:
    """The queue a QueueSpec describes. `rng` is used by PIE only."""
    kind = spec.kind
    if kind in ("droptail", "infinite"):
        return DropTail(drop, spec.packets, spec.bytes)
    if kind == "drophead":
        return DropHead(drop, spec.packets, spec.bytes)
    if kind == "codel":
        return CoDel(drop, spec.packets, spec.bytes, spec.target, spec.interval)
    if kind == "pie":
        return Pie(drop, rng, spec.packets, spec.bytes, spec.target, spec.interval, start)
    raise ConfigError(f"unknown queue kind {kind!r}")
