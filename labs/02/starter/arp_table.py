# Lab 2 starter, generated from netstack/stages/arp_table.py (python -m labs.kit.starter).
# Fill in each NotImplementedError; labs/README.md says how to test your work.
"""The ARP cache: IPv4 address -> MAC address, with aging (RFC 826, RFC 1122 §2.3.2.1).

This is the one piece of protocol state shared across threads: the dispatch loop learns and
ages entries, while application threads and tools read them (`lookup`, `entries`). A native
spinlock guards the dict; every critical section is a few dict operations, so spinning is
cheaper than sleeping on a mutex. Mutations (`learn`, `add_static`, `remove`) also touch the
timer wheel, which belongs to the loop thread: tools reach them via the engine's control queue.

Dynamic entries expire `reachable_time` seconds after they were last confirmed by an ARP
packet from their owner (RFC 1122 §2.3.2.1 asks for a timeout so a moved address is
relearned). Static entries never expire and are never overwritten by what the wire says.

The table holds at most `limit` entries, whatever arrives: a flood of ARP requests from
made-up senders would otherwise grow it without end. Learning a new address in a full table
evicts the dynamic entry least recently learned (`evicted` counts them); static entries are
never evicted, and when nothing else is left the new address is not learned.

`ArpTableUnit` is the interface of this unit (netstack/units.py); `ArpTable` is the reference.
The ARP stage builds its table as
`units.arp_table(stack.timers, config.arp_reachable_time, config.arp_table_limit)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

from netstack.native.blocks import Spinlock
from netstack.timers import Timer, TimerWheel


@dataclass(frozen=True, slots=True)
class ArpEntry:
    ip: IPv4Address
    mac: bytes
    static: bool = False
    expires_at: float | None = None  # None for static entries


class ArpTableUnit(Protocol):
    """The neighbour table. Constructed as `Cls(timers, reachable_time, limit)`: it ages
    dynamic entries with timers from that wheel and holds at most `limit` entries. Reads
    may come from any thread; writes and `lookup_on_loop` come from the dispatch loop only."""

    limit: int  # the most entries held (static ones included); a tunable may change it
    evicted: int  # dynamic entries evicted so far to make room for new ones

    def lookup(self, ip: IPv4Address) -> bytes | None:
        """The MAC for `ip`, or None: static entries, and dynamic ones not yet expired."""
        ...

    def lookup_on_loop(self, ip: IPv4Address) -> bytes | None:
        """`lookup`, from the loop thread (the only writer, so it may skip any lock)."""
        ...

    def entries(self) -> list[ArpEntry]:
        """A snapshot of every entry, sorted by address."""
        ...

    def add_static(self, ip: IPv4Address, mac: bytes) -> None:
        """`ip` is at `mac` for good: never ages, never overwritten by `learn`.
        ValueError for a MAC that is not 6 bytes."""
        ...

    def remove(self, ip: IPv4Address) -> bool:
        """Forget `ip` (static or not); True if there was an entry."""
        ...

    def learn(self, ip: IPv4Address, mac: bytes, now: float, create: bool = True) -> bool:
        """`ip` is at `mac` as of `now`: the entry lives until now + reachable_time unless
        learned again. With `create=False` only an existing entry is refreshed. A static
        entry is left as it is. A new entry in a full table evicts the dynamic entry least
        recently learned; with none to evict, `ip` is not learned. Returns True when the
        table has an entry for `ip`."""
        ...


DEFAULT_LIMIT = 1024  # entries; Linux's neighbour table starts evicting near gc_thresh3 (1024)


class ArpTable:
    def __init__(self, timers: TimerWheel, reachable_time: float = 60.0,
                 limit: int = DEFAULT_LIMIT) -> None:
        self.timers = timers
        self.reachable_time = reachable_time
        self.limit = limit
        self.evicted = 0
        self._lock = Spinlock()
        # Kept in the order entries were last learned (a refresh moves an entry to the end),
        # so the first dynamic entry is the one to evict.
        self._entries: dict[IPv4Address, ArpEntry] = {}
        self._aging: dict[IPv4Address, Timer] = {}  # one timer per dynamic entry

    # --- reads: safe from any thread -------------------------------------------------------

    def lookup(self, ip: IPv4Address) -> bytes | None:
        # TODO(lab 2): the MAC of `ip`'s entry (read under the lock), or None
        raise NotImplementedError("lab 2: ArpTable.lookup")

    def lookup_on_loop(self, ip: IPv4Address) -> bytes | None:
        """`lookup` for the dispatch loop, on its per-packet path. The loop is the only writer,
        so it cannot race itself, and a single dict read needs no lock. (The lock is a cffi
        call each way, and every cffi call lets another thread take the GIL.)"""
        # TODO(lab 2): the same as lookup, without the lock (the loop is the only writer)
        raise NotImplementedError("lab 2: ArpTable.lookup_on_loop")

    def get(self, ip: IPv4Address) -> ArpEntry | None:
        with self._lock:
            return self._entries.get(ip)

    def entries(self) -> list[ArpEntry]:
        """A snapshot sorted by address, for tools such as `netstack arp`."""
        # TODO(lab 2): a snapshot of the entries (under the lock), sorted by address
        raise NotImplementedError("lab 2: ArpTable.entries")

    def __contains__(self, ip: IPv4Address) -> bool:
        with self._lock:
            return ip in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # --- writes: the dispatch loop only ----------------------------------------------------

    def add_static(self, ip: IPv4Address, mac: bytes) -> None:
        # TODO(lab 2): check the MAC is 6 bytes (ValueError), stop any aging timer, store a static entry
        raise NotImplementedError("lab 2: ArpTable.add_static")

    def remove(self, ip: IPv4Address) -> bool:
        # TODO(lab 2): stop any aging timer; drop the entry; True if there was one
        raise NotImplementedError("lab 2: ArpTable.remove")

    def learn(self, ip: IPv4Address, mac: bytes, now: float, create: bool = True) -> bool:
        """Record that `ip` is at `mac` as of `now`.

        With `create=False` only an existing entry is refreshed (RFC 826's merge step, for
        packets not addressed to us). Static entries are left alone. Returns True when the
        table now has an entry for `ip`.
        """
        # TODO(lab 2): leave static entries alone; with create=False only refresh; a new entry needs room (self._make_room()); store the entry, last in the table's order, expiring at now + reachable_time; make sure one aging timer is running for it
        raise NotImplementedError("lab 2: ArpTable.learn")

    def _age(self, ip: IPv4Address, now: float) -> None:
        # TODO(lab 2): the aging timer fired: delete the entry if it has expired, else schedule a new timer for its (moved) expiry
        raise NotImplementedError("lab 2: ArpTable._age")

    def _make_room(self) -> bool:
        """Make sure one more entry fits within `limit`, evicting the dynamic entries least
        recently learned (counted in `evicted`). False when only static entries are left."""
        while len(self._entries) >= self.limit:
            with self._lock:
                oldest = next((e.ip for e in self._entries.values() if not e.static), None)
                if oldest is None:
                    return False
                del self._entries[oldest]
            self._stop_aging(oldest)
            self.evicted += 1
        return True

    def _stop_aging(self, ip: IPv4Address) -> None:
        timer = self._aging.pop(ip, None)
        if timer is not None:
            timer.cancel()
