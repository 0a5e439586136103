"""An ARP table unit built differently from the reference (stages/arp_table.py): entries are
keyed by the address as an integer, a threading.Lock guards them instead of the spinlock, and
aging uses ONE timer, armed for the earliest deadline of a heap, instead of one per entry,
and the order to evict in (least recently learned first) is a dict of its own rather than
the order of the entries.

    pytest tests/stages/test_arp.py --impl arp_table=tests.units.alternatives.arp_table:HeapArpTable
"""

from __future__ import annotations

import heapq
import threading
from ipaddress import IPv4Address

from netstack.stages.arp_table import ArpEntry
from netstack.timers import Timer, TimerWheel

MAC_LEN = 6


class HeapArpTable:
    def __init__(self, timers: TimerWheel, reachable_time: float = 60.0,
                 limit: int = 1024) -> None:
        self.timers = timers
        self.reachable_time = reachable_time
        self.limit = limit
        self.evicted = 0
        self._recency: dict[int, None] = {}  # dynamic entries, least recently learned first
        self._lock = threading.Lock()
        self._by_number: dict[int, ArpEntry] = {}
        # (deadline, address number) for each dynamic entry; an entry refreshed since its
        # deadline was pushed is pushed again with its new one when the old one comes up.
        self._deadlines: list[tuple[float, int]] = []
        self._timer: Timer | None = None  # armed for self._deadlines[0]

    def lookup(self, ip: IPv4Address) -> bytes | None:
        with self._lock:
            entry = self._by_number.get(int(ip))
        return entry.mac if entry is not None else None

    def lookup_on_loop(self, ip: IPv4Address) -> bytes | None:
        entry = self._by_number.get(int(ip))
        return entry.mac if entry is not None else None

    def entries(self) -> list[ArpEntry]:
        with self._lock:
            return [self._by_number[n] for n in sorted(self._by_number)]

    def add_static(self, ip: IPv4Address, mac: bytes) -> None:
        if len(mac) != MAC_LEN:
            raise ValueError("a MAC address is 6 bytes")
        ip = IPv4Address(ip)
        with self._lock:
            self._by_number[int(ip)] = ArpEntry(ip, bytes(mac), static=True)
        self._recency.pop(int(ip), None)

    def remove(self, ip: IPv4Address) -> bool:
        self._recency.pop(int(ip), None)
        with self._lock:
            return self._by_number.pop(int(ip), None) is not None

    def learn(self, ip: IPv4Address, mac: bytes, now: float, create: bool = True) -> bool:
        number = int(ip)
        expires_at = now + self.reachable_time
        with self._lock:
            entry = self._by_number.get(number)
            if entry is not None and entry.static:
                return True
            if entry is None and not create:
                return False
        if entry is None and not self._evict_for_one_more():
            return False
        with self._lock:
            self._by_number[number] = ArpEntry(IPv4Address(ip), bytes(mac), False, expires_at)
        self._recency.pop(number, None)
        self._recency[number] = None
        if entry is None:
            heapq.heappush(self._deadlines, (expires_at, number))
            self._arm()
        return True

    def _evict_for_one_more(self) -> bool:
        while len(self._by_number) >= self.limit:
            if not self._recency:
                return False  # only static entries
            oldest = next(iter(self._recency))
            del self._recency[oldest]
            with self._lock:
                del self._by_number[oldest]
            self.evicted += 1
        if len(self._deadlines) > 2 * len(self._recency) + 64:
            # Evicted entries' deadlines would otherwise wait in the heap until they come up.
            self._deadlines = [(self._by_number[n].expires_at or 0.0, n) for n in self._recency]
            heapq.heapify(self._deadlines)
        return True

    def _arm(self) -> None:
        if not self._deadlines:
            return
        earliest = self._deadlines[0][0]
        if self._timer is not None and self._timer.pending:
            if self._timer.deadline <= earliest:
                return
            self._timer.cancel()
        self._timer = self.timers.schedule(earliest, self._expire)

    def _expire(self, now: float) -> None:
        self._timer = None
        while self._deadlines and self._deadlines[0][0] <= now:
            _, number = heapq.heappop(self._deadlines)
            with self._lock:
                entry = self._by_number.get(number)
                if entry is None or entry.static or entry.expires_at is None:
                    continue  # removed, or made static, since
                if entry.expires_at > now:
                    heapq.heappush(self._deadlines, (entry.expires_at, number))  # refreshed
                else:
                    del self._by_number[number]
                    self._recency.pop(number, None)
        self._arm()
