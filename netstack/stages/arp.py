"""The ARP stage (RFC 826): answer for our address, learn neighbours, resolve next hops.

Receiving follows RFC 826's "Packet Reception" algorithm:
  1. if we already have an entry for the sender, refresh it ("merge");
  2. if the packet is not for our address, stop (and never create entries from it: anyone
     could otherwise fill our cache with broadcasts);
  3. if we did not merge, add the sender;
  4. if it is a request, reply.
Plus two defences: a packet claiming our own address from another MAC is an address conflict
(RFC 5227 §2.4) and changes nothing; a sender of 0.0.0.0 is a probe (RFC 5227 §2.1.1) that we
answer but do not learn from.

Sending: `output(next_hop, mbuf, now)` takes an IPv4 datagram. If the next hop's MAC is known
it leaves at once; otherwise it waits in a small per-next-hop queue while we send requests
(RFC 1122 §2.3.2.2 asks to keep at least one packet). When every retry has gone unanswered the
queued packets are dropped: for each one someone else sent, an ICMP host unreachable goes back
to its source (RFC 1812 §4.3.3.1 style); for our own, listeners hear about it so a socket can
report EHOSTUNREACH.

`ArpUnit` (stages/context.py) is this unit's interface; `ArpStage` is the reference. Its
table is whatever `units.arp_table` builds (stages/arp_table.py, ArpTableUnit).

Retries wait `arp_retry_interval` plus a jitter in [0, `arp_retry_jitter`) drawn from the
stack's seeded random source, so hosts that lost the same reply do not ask again in lockstep.
The jitter only lengthens the wait: RFC 1122 §2.3.2.1 recommends at most one request per
second per destination.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from netstack.checksum import with_checksum
from netstack.errors import MalformedPacket
from netstack.mbuf import Mbuf
from netstack.stages.arp_table import ArpEntry
from netstack.stages.context import (  # noqa: F401  (ArpUnit re-exported: the interface)
    ArpUnit,
    StackContext,
    UnresolvedListener,
)
from netstack.timers import Timer
from netstack.wire import arp as wire_arp
from netstack.wire import icmp as wire_icmp
from netstack.wire.ethernet import BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IPV4, is_multicast

UNKNOWN_MAC = bytes(6)  # the target hardware address of a request: what we want to learn
UNSPECIFIED = IPv4Address(0)
ALL_ONES = 0xFFFFFFFF  # 255.255.255.255, the limited broadcast, as an int


@dataclass
class _Resolution:
    """A next hop we are asking for: the packets waiting on it and the retry state."""

    next_hop: IPv4Address
    timer: Timer
    waiting: deque[Mbuf] = field(default_factory=deque)
    requests_sent: int = 1


class ArpStage:
    def __init__(self, stack: StackContext) -> None:
        self.stack = stack
        config = stack.config
        self.our_mac = config.mac
        self.our_ip = config.address.ip
        self.subnet_broadcast = config.address.network.broadcast_address
        self._subnet_broadcast_int = int(self.subnet_broadcast)
        units = stack.units
        self.table = units.arp_table(stack.timers, config.arp_reachable_time,
                                     config.arp_table_limit)
        self._parse_ipv4 = with_checksum(units.ipv4_codec.parse, units.checksum)
        for ip, mac in config.static_arp.items():
            self.table.add_static(IPv4Address(ip), mac)
        self._resolving: dict[IPv4Address, _Resolution] = {}
        self._waiting_total = 0
        self.unresolved_listeners: list[UnresolvedListener] = []
        self._jitter = stack.random.generator("arp.retry_jitter")

    # --- the table, for tools and the engine (stack.arp.entries() etc.) --------------------

    def lookup(self, ip: IPv4Address) -> bytes | None:
        return self.table.lookup(IPv4Address(ip))

    def entries(self) -> list[ArpEntry]:
        return self.table.entries()

    def add_static(self, ip: IPv4Address, mac: bytes) -> None:
        ip = IPv4Address(ip)
        self.table.add_static(ip, mac)
        self._send_waiting(ip, bytes(mac))

    def remove(self, ip: IPv4Address) -> bool:
        return self.table.remove(IPv4Address(ip))

    def resolving(self) -> list[IPv4Address]:
        """Next hops we have asked about and not heard from yet (`ip neigh`'s INCOMPLETE)."""
        return list(self._resolving)

    def pending_count(self, next_hop: IPv4Address | None = None) -> int:
        """Packets waiting for resolution (for one next hop, or overall)."""
        if next_hop is None:
            return self._waiting_total
        resolution = self._resolving.get(IPv4Address(next_hop))
        return len(resolution.waiting) if resolution else 0

    # --- receiving ------------------------------------------------------------------------

    def receive(self, payload: memoryview, now: float) -> None:
        # BEGIN SOLUTION: parse (count malformed as arp.drop.<reason>), count the op, refuse multicast senders and our own address, then RFC 826: merge, am I the target?, learn (count arp.learned, and arp.evicted by how much the table's `evicted` grew), reply to requests; release packets waiting on the sender
        counters = self.stack.counters
        try:
            pkt = wire_arp.parse(payload)
        except MalformedPacket as exc:
            counters.bump(f"arp.drop.{exc.reason}")
            return
        if pkt.op == wire_arp.OP_REQUEST:
            counters.bump("arp.rx.request")
        elif pkt.op == wire_arp.OP_REPLY:
            counters.bump("arp.rx.reply")
        else:
            counters.bump("arp.drop.bad_op")
            return
        if is_multicast(pkt.sender_mac):
            counters.bump("arp.drop.bad_sender_mac")  # a neighbour's MAC is never a group
            return
        if pkt.sender_ip == self.our_ip:
            if pkt.sender_mac != self.our_mac:
                counters.bump("arp.drop.address_conflict")  # someone else claims our address
            else:
                counters.bump("arp.drop.own_packet")  # our own broadcast, looped back
            return

        learnable = pkt.sender_ip != UNSPECIFIED
        merged = learnable and self.table.learn(pkt.sender_ip, pkt.sender_mac, now, create=False)
        if pkt.target_ip != self.our_ip:
            counters.bump("arp.drop.not_for_us")
            if merged:
                self._send_waiting(pkt.sender_ip, pkt.sender_mac)
            return
        if learnable:
            if not merged:
                evicted_before = self.table.evicted
                if self.table.learn(pkt.sender_ip, pkt.sender_mac, now):
                    counters.bump("arp.learned")
                else:
                    counters.bump("arp.drop.table_full")  # only static entries left
                if self.table.evicted != evicted_before:
                    counters.bump("arp.evicted", self.table.evicted - evicted_before)
            self._send_waiting(pkt.sender_ip, pkt.sender_mac)
        if pkt.op == wire_arp.OP_REQUEST:
            reply = wire_arp.ArpPacket(
                wire_arp.OP_REPLY, self.our_mac, self.our_ip, pkt.sender_mac, pkt.sender_ip
            )
            if self._send_arp(pkt.sender_mac, reply):
                counters.bump("arp.tx.reply")
        # END SOLUTION

    # --- sending --------------------------------------------------------------------------

    def announce(self, now: float) -> None:
        """Send a gratuitous ARP (RFC 5227 §2.3 announcement): "our address is at our MAC"."""
        # BEGIN SOLUTION: broadcast a gratuitous ARP request: sender and target IP both ours
        pkt = wire_arp.ArpPacket(
            wire_arp.OP_REQUEST, self.our_mac, self.our_ip, UNKNOWN_MAC, self.our_ip
        )
        if self._send_arp(BROADCAST, pkt):
            self.stack.counters.bump("arp.tx.gratuitous")
        # END SOLUTION

    def output(self, next_hop: IPv4Address, mbuf: Mbuf, now: float) -> None:
        """Send the IPv4 datagram in `mbuf` to `next_hop`'s MAC, resolving it if need be."""
        # BEGIN SOLUTION: broadcasts go at once; a known next hop gets the frame at once; else queue it (within the limits, counting arp.drop.pending_full), and on the first packet send a request and schedule a retry
        n = int(next_hop)  # ints: IPv4Address's == and .packed are Python calls
        if n == self._subnet_broadcast_int or n == ALL_ONES:
            self.stack.ethernet.send(BROADCAST, ETHERTYPE_IPV4, mbuf)
            return
        mac = self.table.lookup_on_loop(next_hop)
        if mac is not None:
            self.stack.ethernet.send(mac, ETHERTYPE_IPV4, mbuf)
            return
        resolution = self._resolving.get(next_hop)
        config = self.stack.config
        if (
            resolution is not None and len(resolution.waiting) >= config.arp_pending_limit
        ) or self._waiting_total >= config.arp_pending_total_limit:
            self.stack.counters.bump("arp.drop.pending_full")
            self.stack.pool.free(mbuf)
            return
        if resolution is None:
            timer = self.stack.timers.schedule(
                now + self._retry_delay(), lambda t: self._retry(next_hop, t)
            )
            resolution = _Resolution(next_hop, timer)
            self._resolving[next_hop] = resolution
            self._send_request(next_hop)
        resolution.waiting.append(mbuf)
        self._waiting_total += 1
        # END SOLUTION

    def _retry_delay(self) -> float:
        # BEGIN SOLUTION: the retry interval plus a seeded jitter in [0, arp_retry_jitter)
        config = self.stack.config
        return config.arp_retry_interval + self._jitter.random() * config.arp_retry_jitter
        # END SOLUTION

    def _send_request(self, target_ip: IPv4Address) -> None:
        pkt = wire_arp.ArpPacket(
            wire_arp.OP_REQUEST, self.our_mac, self.our_ip, UNKNOWN_MAC, target_ip
        )
        if self._send_arp(BROADCAST, pkt):
            self.stack.counters.bump("arp.tx.request")

    def _send_arp(self, dst_mac: bytes, pkt: wire_arp.ArpPacket) -> bool:
        mbuf = self.stack.alloc_mbuf()
        if mbuf is None:
            return False
        mbuf.set_data(wire_arp.build(pkt))
        self.stack.ethernet.send(dst_mac, ETHERTYPE_ARP, mbuf)
        return True

    def _send_waiting(self, ip: IPv4Address, mac: bytes) -> None:
        """The next hop answered: release everything queued for it."""
        # BEGIN SOLUTION: stop the resolution: cancel its timer and send every queued packet to `mac`
        resolution = self._resolving.pop(ip, None)
        if resolution is None:
            return
        resolution.timer.cancel()
        self._waiting_total -= len(resolution.waiting)
        for mbuf in resolution.waiting:
            self.stack.ethernet.send(mac, ETHERTYPE_IPV4, mbuf)
        # END SOLUTION

    def _retry(self, next_hop: IPv4Address, now: float) -> None:
        # BEGIN SOLUTION: another request while retries remain (and a new timer); else give up: count arp.resolution_failed and report every queued packet
        resolution = self._resolving.get(next_hop)
        if resolution is None:
            return
        config = self.stack.config
        if resolution.requests_sent < config.arp_retries:
            resolution.requests_sent += 1
            self._send_request(next_hop)
            resolution.timer = self.stack.timers.schedule(
                now + self._retry_delay(), lambda t: self._retry(next_hop, t)
            )
            return
        del self._resolving[next_hop]
        self._waiting_total -= len(resolution.waiting)
        self.stack.counters.bump("arp.resolution_failed")
        for mbuf in resolution.waiting:
            self._report_unresolved(next_hop, mbuf, now)
            self.stack.pool.free(mbuf)
        # END SOLUTION

    def _report_unresolved(self, next_hop: IPv4Address, mbuf: Mbuf, now: float) -> None:
        # BEGIN SOLUTION: count arp.drop.unresolved; ICMP host unreachable to a forwarded packet's source, or tell the listeners about our own
        self.stack.counters.bump("arp.drop.unresolved")
        try:
            header, payload = self._parse_ipv4(mbuf.data())
        except MalformedPacket:
            return  # we built it, so this cannot happen; nothing to report if it does
        if header.src != self.our_ip:
            self.stack.icmp.send_error(
                wire_icmp.TYPE_DEST_UNREACHABLE,
                wire_icmp.CODE_HOST_UNREACHABLE,
                header,
                payload,
                now,
            )
            return
        for listener in list(self.unresolved_listeners):
            listener(next_hop, header, payload, now)
        # END SOLUTION
