"""IPv4 reassembly (RFC 791 §3.2, RFC 815), hardened against fragment floods.

Fragments of one datagram share (source, destination, protocol, identification): that is the
key (RFC 791 §3.2). Each arriving fragment is stored, in offset order, until the pieces cover
the whole payload with no hole; the last fragment (MF clear) tells us how long that is.

The defences are what make this module longer than RFC 815's hole list:
- a timeout per datagram (RFC 1122 §3.3.2 suggests 60 to 120 s; Linux uses 30 s), after which
  an ICMP time exceeded (code 1) goes back only if the first fragment arrived, because only then
  can we quote the transport header the sender needs (RFC 792, RFC 1122 §3.3.2);
- limits on concurrent datagrams and on total bytes held, so a flood of fragments that never
  complete cannot exhaust memory: the oldest incomplete datagram is evicted first;
- overlapping fragments discard the whole datagram (RFC 5722 made this mandatory for IPv6;
  for IPv4 overlaps have no legitimate use and are the basis of attacks such as Teardrop and
  of IDS evasion), and later fragments of that datagram are dropped until the timeout passes;
  an exact duplicate, which is just a retransmission, is ignored.

`ReassemblyUnit` is the interface of this unit (netstack/units.py); `Reassembler` is the
reference. The IPv4 stage builds one as `units.reassembly(timers, counters, on_timeout,
timeout=..., memory_limit=..., max_datagrams=...)`.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Protocol

from netstack.counters import Counters
from netstack.timers import Timer, TimerWheel
from netstack.wire.ipv4 import FRAGMENT_UNIT, MAX_TOTAL_LEN, IPv4Header

# Each stored fragment costs more than its payload (list entry, bytes object header); charging
# this much per fragment keeps a flood of tiny fragments honest against the memory limit.
FRAGMENT_OVERHEAD = 64

ReassemblyKey = tuple[IPv4Address, IPv4Address, int, int]
# on_timeout(first_fragment_header, first_fragment_payload, now)
TimeoutCallback = Callable[[IPv4Header, bytes, float], None]


class ReassemblyUnit(Protocol):
    """Putting fragments back together. Constructed as `Cls(timers, counters, on_timeout,
    timeout=, memory_limit=, max_datagrams=)`; it schedules its deadlines on `timers` and
    counts its drops in `counters` (ipv4.drop.<reason>)."""

    memory_used: int  # bytes held: each fragment's payload plus a fixed per-fragment charge

    def add(
        self, header: IPv4Header, payload: bytes | memoryview, now: float
    ) -> tuple[IPv4Header, bytes] | None:
        """Keep one fragment (`payload` may be reused by the caller: copy it). When it
        completes its datagram, return (the first fragment's header with MF and offset
        cleared, the whole payload); otherwise None. A datagram incomplete `timeout` seconds
        after its first fragment is dropped, calling `on_timeout(first_header,
        first_payload, now)` if its offset-0 fragment had arrived."""
        ...

    def __len__(self) -> int:
        """Datagrams waiting for more fragments."""
        ...


@dataclass
class _PartialDatagram:
    key: ReassemblyKey
    timer: Timer
    fragments: list[tuple[int, bytes]] = field(default_factory=list)  # (offset, data) sorted
    payload_len: int | None = None  # known once the last fragment (MF clear) has arrived
    first_header: IPv4Header | None = None  # the header of the offset-0 fragment
    bytes_charged: int = 0

    def is_complete(self) -> bool:
        # BEGIN SOLUTION: True when the last fragment is known, fragment zero arrived and the pieces cover 0..payload_len with no hole
        if self.payload_len is None:
            return False
        expected = 0
        for offset, data in self.fragments:
            if offset != expected:
                return False
            expected += len(data)
        return expected == self.payload_len and self.first_header is not None
        # END SOLUTION


class Reassembler:
    """`add(header, payload, now)` returns `(header, payload)` of a complete datagram, or None.

    The returned header is the first fragment's, with MF and the offset cleared.
    """

    def __init__(
        self,
        timers: TimerWheel,
        counters: Counters,
        on_timeout: TimeoutCallback,
        timeout: float = 30.0,
        memory_limit: int = 4 * 1024 * 1024,
        max_datagrams: int = 64,
    ) -> None:
        self.timers = timers
        self.counters = counters
        self.on_timeout = on_timeout
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.max_datagrams = max_datagrams
        # Insertion order is arrival order of each datagram's first fragment: the oldest first.
        self._partial: dict[ReassemblyKey, _PartialDatagram] = {}
        self._discarded: dict[ReassemblyKey, Timer] = {}  # overlapped datagrams, until timeout
        self.memory_used = 0

    def __len__(self) -> int:
        """How many datagrams are waiting for more fragments."""
        return len(self._partial)

    def add(
        self, header: IPv4Header, payload: bytes | memoryview, now: float
    ) -> tuple[IPv4Header, bytes] | None:
        # BEGIN SOLUTION: validate, find or start the datagram (limits, timer), check the fragment fits, store a copy, return the whole datagram once complete
        key = (header.src, header.dst, header.protocol, header.identification)
        start = header.fragment_offset
        end = start + len(payload)
        if header.more_fragments and (len(payload) == 0 or len(payload) % FRAGMENT_UNIT):
            # RFC 791 §3.2: every fragment but the last carries a multiple of 8 bytes.
            self.counters.bump("ipv4.drop.fragment_bad_length")
            return None
        if header.header_len + end > MAX_TOTAL_LEN:
            self.counters.bump("ipv4.drop.fragment_too_large")  # the Ping of Death
            return None
        if key in self._discarded:
            self.counters.bump("ipv4.drop.fragment_of_discarded")
            return None

        datagram = self._partial.get(key)
        if datagram is None:
            if not self._make_room_for_datagram():
                self.counters.bump("ipv4.drop.reassembly_limit")
                return None
            timer = self.timers.schedule(now + self.timeout, lambda t: self._expire(key, t))
            datagram = _PartialDatagram(key, timer)
            self._partial[key] = datagram
            self.counters.bump("ipv4.reassembly.started")

        verdict = self._check_fits(datagram, start, end, payload, header.more_fragments)
        if verdict == "duplicate":
            self.counters.bump("ipv4.fragment.duplicate")
            return None
        if verdict != "ok":
            self.counters.bump(f"ipv4.drop.{verdict}")
            self._discard(datagram, remember=True)
            return None

        cost = len(payload) + FRAGMENT_OVERHEAD
        if not self._make_room_for_bytes(cost, keep=datagram):
            self.counters.bump("ipv4.drop.reassembly_memory")
            if not datagram.fragments:
                self._discard(datagram, remember=False)
            return None

        bisect.insort(datagram.fragments, (start, bytes(payload)), key=lambda f: f[0])
        datagram.bytes_charged += cost
        self.memory_used += cost
        if not header.more_fragments:
            datagram.payload_len = end
        if start == 0:
            datagram.first_header = header
        self.counters.bump("ipv4.fragment.received")

        if not datagram.is_complete():
            return None
        assert datagram.first_header is not None
        whole = dataclasses.replace(datagram.first_header, more_fragments=False, fragment_offset=0)
        payload_bytes = b"".join(data for _, data in datagram.fragments)
        self._discard(datagram, remember=False)
        self.counters.bump("ipv4.reassembled")
        return whole, payload_bytes
        # END SOLUTION

    @staticmethod
    def _check_fits(
        datagram: _PartialDatagram, start: int, end: int, payload: bytes | memoryview, more: bool
    ) -> str:
        """ "ok", "duplicate", or the drop reason that discards the whole datagram."""
        # BEGIN SOLUTION: "duplicate" for an exact copy, a drop reason for an overlap or an inconsistent end, else "ok"
        for offset, data in datagram.fragments:
            other_end = offset + len(data)
            if offset == start and other_end == end and data == payload:
                return "duplicate"
            if start < other_end and offset < end:
                return "fragment_overlap"
        if more:
            if datagram.payload_len is not None and end > datagram.payload_len:
                return "fragment_inconsistent"  # data past the end the last fragment gave
        else:
            if datagram.payload_len is not None and datagram.payload_len != end:
                return "fragment_inconsistent"  # two "last" fragments that disagree
            if (
                datagram.fragments
                and datagram.fragments[-1][0] + len(datagram.fragments[-1][1]) > end
            ):
                return "fragment_inconsistent"  # we already hold bytes past this end
        return "ok"
        # END SOLUTION

    def _make_room_for_datagram(self) -> bool:
        # BEGIN SOLUTION: evict the oldest partial datagrams until there is room for one more; False if you cannot
        while len(self._partial) >= self.max_datagrams:
            if not self._evict_oldest(keep=None):
                return False
        return True
        # END SOLUTION

    def _make_room_for_bytes(self, cost: int, keep: _PartialDatagram) -> bool:
        # BEGIN SOLUTION: evict the oldest other datagrams until cost more bytes fit under memory_limit; False if you cannot
        while self.memory_used + cost > self.memory_limit:
            if not self._evict_oldest(keep=keep):
                return False
        return True
        # END SOLUTION

    def _evict_oldest(self, keep: _PartialDatagram | None) -> bool:
        # BEGIN SOLUTION: discard the oldest partial datagram that is not keep (counted); False if there is none
        for datagram in self._partial.values():
            if datagram is not keep:
                self.counters.bump("ipv4.drop.reassembly_evicted")
                self._discard(datagram, remember=False)
                return True
        return False
        # END SOLUTION

    def _discard(self, datagram: _PartialDatagram, remember: bool) -> None:
        """Forget a datagram; with `remember`, drop its later fragments until the timeout."""
        # BEGIN SOLUTION: cancel the timer, forget the datagram and its bytes; with remember, drop its later fragments until its deadline
        datagram.timer.cancel()
        del self._partial[datagram.key]
        self.memory_used -= datagram.bytes_charged
        datagram.fragments.clear()
        datagram.bytes_charged = 0
        if remember and len(self._discarded) < self.max_datagrams:
            key = datagram.key
            self._discarded[key] = self.timers.schedule(
                datagram.timer.deadline, lambda _now: self._discarded.pop(key, None)
            )
        # END SOLUTION

    def _expire(self, key: ReassemblyKey, now: float) -> None:
        # BEGIN SOLUTION: count the timeout, forget the datagram, and call on_timeout only if fragment zero had arrived
        datagram = self._partial.get(key)
        if datagram is None:
            return
        self.counters.bump("ipv4.drop.reassembly_timeout")
        first_header = datagram.first_header
        first_payload = datagram.fragments[0][1] if first_header is not None else b""
        self._discard(datagram, remember=False)
        if first_header is not None:
            self.on_timeout(first_header, first_payload, now)
        # END SOLUTION
