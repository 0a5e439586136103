# Lab 5 starter, generated from netstack/stages/udp.py (python -m labs.kit.starter).
# Fill in each NotImplementedError; labs/README.md says how to test your work.
"""The UDP stage (RFC 768, with the host rules of RFC 1122 §4.1).

UDP adds two things to IP: ports, so a datagram reaches one application, and an optional
checksum over the data and a pseudo-header. Everything else here is bookkeeping a host needs:

- endpoints: a local binding (address or wildcard, port), maybe a connected peer, a bounded
  receive queue and a pending error. The stage owns them and runs only on the loop thread;
  the socket layer reads `ep.queue` under `ep.guard`, which it swaps for its own lock;
- demultiplexing (RFC 1122 §4.1.3.5 leaves the details to us; we follow Linux): an endpoint
  connected to the sender beats one that is not, an exact local address beats the wildcard,
  and among equals the most recently bound wins (SO_REUSEADDR lets several share a port);
- broadcasts go to every endpoint listening on the port (RFC 1122 §4.1.3.6), sending one
  needs SO_BROADCAST (`ep.broadcast`), as in BSD and Linux;
- a datagram for a closed port earns an ICMP port unreachable (RFC 1122 §4.1.3.1), which the
  ICMP stage rate-limits and never sends about broadcasts;
- ICMP errors about datagrams we sent become `ep.error` on the connected endpoint they
  concern (RFC 1122 §4.1.3.3: pass them to the application), reported on its next call;
- datagrams up to 65507 bytes (65535 less the IPv4 and UDP headers) go through IPv4
  fragmentation and reassembly.

`UdpUnit` is this unit's interface; `UdpStage` is the reference. Headers go through the
stack's `units.udp_codec`, summed with the stack's checksum unit.
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Protocol

from netstack.checksum import with_checksum
from netstack.errors import MalformedPacket
from netstack.mbuf import HEADROOM
from netstack.stages.icmp import IcmpErrorReport
from netstack.stages.ports import WILDCARD, PortTable, os_error
from netstack.wire import icmp as wire_icmp
from netstack.wire import udp as wire_udp
from netstack.wire.ipv4 import MIN_HEADER_LEN, PROTO_UDP, IPv4Header

if TYPE_CHECKING:
    from netstack.stages.context import StackContext

LIMITED_BROADCAST = IPv4Address("255.255.255.255")
MAX_PAYLOAD = 0xFFFF - MIN_HEADER_LEN - wire_udp.HEADER_LEN  # 65507
# What a queued datagram costs beyond its payload, like the skb overhead Linux charges to a
# socket buffer: without it, a flood of empty datagrams would fill memory but never the queue.
DATAGRAM_OVERHEAD = 64
DEFAULT_BUFFER = 212992  # Linux's default rmem/wmem (net.core.rmem_default)
_PORTS = struct.Struct("!HH")

Address = tuple[IPv4Address, int]

# ICMP destination unreachable codes -> the errno an application sees (after Linux's
# icmp_err_convert table, except that the brief maps protocol unreachable to ECONNREFUSED).
UNREACHABLE_ERRNO = {
    wire_icmp.CODE_NET_UNREACHABLE: errno.ENETUNREACH,
    wire_icmp.CODE_HOST_UNREACHABLE: errno.EHOSTUNREACH,
    wire_icmp.CODE_PROTOCOL_UNREACHABLE: errno.ECONNREFUSED,
    wire_icmp.CODE_PORT_UNREACHABLE: errno.ECONNREFUSED,
    wire_icmp.CODE_SOURCE_ROUTE_FAILED: errno.EOPNOTSUPP,
    6: errno.ENETUNREACH,  # destination network unknown (RFC 1122 §3.2.2.1)
    7: errno.EHOSTUNREACH,  # destination host unknown
    9: errno.ENETUNREACH,  # network administratively prohibited
    10: errno.EHOSTUNREACH,  # host administratively prohibited
    11: errno.ENETUNREACH,  # network unreachable for type of service
    12: errno.EHOSTUNREACH,  # host unreachable for type of service
    13: errno.EHOSTUNREACH,  # communication administratively prohibited (RFC 1812)
}


class UdpEndpoint:
    """One UDP endpoint. The stage changes it on the loop thread; `queue`, `queued_bytes`
    and `error` change only under `guard`, so another thread holding it may read them."""

    __slots__ = (
        "local", "remote", "reuse_addr", "broadcast", "rcvbuf", "sndbuf", "error", "queue",
        "queued_bytes", "drops", "guard", "on_event", "closed", "address_from_connect",
    )

    def __init__(self, reuse_addr: bool = False, rcvbuf: int = DEFAULT_BUFFER,
                 sndbuf: int = DEFAULT_BUFFER) -> None:
        self.local: Address | None = None  # (WILDCARD, port) for a wildcard bind
        self.remote: Address | None = None  # the connected peer
        self.reuse_addr = reuse_addr  # SO_REUSEADDR
        self.broadcast = False  # SO_BROADCAST: may send to broadcast addresses
        self.rcvbuf = rcvbuf  # bytes the receive queue may hold (payload + DATAGRAM_OVERHEAD)
        self.sndbuf = sndbuf  # the socket layer bounds its unsent bytes with this
        self.error: int | None = None  # pending errno, reported and cleared by the next call
        self.queue: deque[tuple[bytes, tuple[str, int]]] = deque()
        self.queued_bytes = 0
        self.drops = 0  # datagrams lost because the queue was full
        self.guard: AbstractContextManager = nullcontext()
        # Called on the loop thread, with `guard` held, after a datagram or an error arrives.
        self.on_event: Callable[[], None] | None = None
        self.closed = False
        self.address_from_connect = False

    def take(self, peek: bool = False) -> tuple[bytes, tuple[str, int]]:
        """The oldest datagram and its sender; the caller holds `guard` and knows the queue
        is not empty. With `peek` it stays queued."""
        if peek:
            return self.queue[0]
        item = self.queue.popleft()
        self.queued_bytes -= len(item[0]) + DATAGRAM_OVERHEAD
        return item

    def __repr__(self) -> str:
        local = f"{self.local[0]}:{self.local[1]}" if self.local else "unbound"
        remote = f" -> {self.remote[0]}:{self.remote[1]}" if self.remote else ""
        return f"<UdpEndpoint {local}{remote} queued={len(self.queue)}>"


class UdpUnit(Protocol):
    """The UDP unit (RFC 768, RFC 1122 §4.1): endpoints and their port table. Constructed as
    `Cls(stack)`; the socket layer calls it on the loop thread with `UdpEndpoint`s it made.
    Failures are OSErrors with an errno, as a socket call would raise them."""

    def receive(self, ip_header: IPv4Header, payload: memoryview, frame: memoryview,
                now: float) -> None:
        """A datagram from IPv4: queue it on the endpoint it belongs to, or answer port
        unreachable (through stack.icmp) when none does."""
        ...

    def bind(self, local_ip: IPv4Address | str | None, port: int, reuse_addr: bool = False,
             endpoint: UdpEndpoint | None = None) -> UdpEndpoint:
        """Bind `endpoint` (or a new one) to (local_ip or the wildcard, port or an
        ephemeral one). EADDRINUSE, EADDRNOTAVAIL, EINVAL."""
        ...

    def connect(self, ep: UdpEndpoint, remote_ip: IPv4Address | str, remote_port: int) -> None:
        """Fix the peer (binding first if need be). EBADF, EINVAL, EACCES, ENETUNREACH."""
        ...

    def disconnect(self, ep: UdpEndpoint) -> None: ...

    def close(self, ep: UdpEndpoint) -> None:
        """Unbind and mark closed; queued datagrams are dropped."""
        ...

    def send(self, ep: UdpEndpoint, payload: bytes | bytearray | memoryview,
             dst: tuple[IPv4Address | str, int] | None, now: float) -> bool:
        """One datagram to `dst` (or the connected peer). Raises EDESTADDRREQ, EMSGSIZE,
        EACCES, ENETUNREACH, EINVAL, EBADF; False when a lower layer dropped it."""
        ...

    def endpoints(self) -> list[UdpEndpoint]:
        """Every bound endpoint."""
        ...


class UdpStage:
    def __init__(self, stack: StackContext) -> None:
        self.stack = stack
        config = stack.config
        units = stack.units
        self._parse_udp = with_checksum(units.udp_codec.parse, units.checksum)
        self._write_udp_header = with_checksum(units.udp_codec.write_header, units.checksum)
        self.our_ip = config.address.ip
        self.subnet_broadcast = config.address.network.broadcast_address
        self.ports: PortTable[UdpEndpoint] = PortTable(config.ephemeral_port_first, config.ephemeral_port_last,
                               seed=stack.random.generator("udp.ephemeral_port"))
        pool_buffer = len(stack.pool.mbufs[0].buf) if len(stack.pool) else 0
        self._max_in_one_mbuf = pool_buffer - HEADROOM
        self._last_source: tuple[IPv4Address, str] = (WILDCARD, str(WILDCARD))
        stack.icmp.add_error_listener(self._icmp_error)
        stack.arp.unresolved_listeners.append(self._arp_failed)

    def is_broadcast(self, ip: IPv4Address) -> bool:
        return ip == LIMITED_BROADCAST or ip == self.subnet_broadcast

    # --- endpoints ------------------------------------------------------------------------

    def bind(self, local_ip: IPv4Address | str | None, port: int, reuse_addr: bool = False,
             endpoint: UdpEndpoint | None = None) -> UdpEndpoint:
        """Bind a new endpoint (or `endpoint`, not yet bound) to (local_ip, port).

        Port 0 picks an ephemeral port; None or 0.0.0.0 is the wildcard. Raises
        OSError(EADDRINUSE), OSError(EADDRNOTAVAIL) for an address that is not ours,
        OSError(EINVAL) for an endpoint already bound or a port out of range.
        """
        # TODO(lab 5): check the address and port; add the endpoint to self.ports
        raise NotImplementedError("lab 5: UdpStage.bind")

    def connect(self, ep: UdpEndpoint, remote_ip: IPv4Address | str, remote_port: int) -> None:
        """Remember the peer: sends default to it and only its datagrams are accepted.

        Binds an unbound endpoint to an ephemeral port and narrows a wildcard bind to our
        address, as Linux does (getsockname then shows the source address)."""
        # TODO(lab 5): checks; bind if unbound; narrow a wildcard bind; set ep.remote
        raise NotImplementedError("lab 5: UdpStage.connect")

    def disconnect(self, ep: UdpEndpoint) -> None:
        """Forget the peer (connect to AF_UNSPEC), undoing the address connect() chose."""
        # TODO(lab 5): forget the peer; undo the address connect() chose
        raise NotImplementedError("lab 5: UdpStage.disconnect")

    def close(self, ep: UdpEndpoint) -> None:
        # TODO(lab 5): unbind, mark closed, drop what is queued
        raise NotImplementedError("lab 5: UdpStage.close")

    def endpoints(self) -> list[UdpEndpoint]:
        """Every bound endpoint (for netstat-like tools)."""
        return self.ports.all()

    # --- sending --------------------------------------------------------------------------

    def send(self, ep: UdpEndpoint, payload: bytes | bytearray | memoryview,
             dst: tuple[IPv4Address | str, int] | None, now: float) -> bool:
        """Send one datagram to `dst`, or to the connected peer when `dst` is None.

        Raises OSError: EDESTADDRREQ (no destination), EMSGSIZE (over 65507 bytes), EACCES
        (broadcast without SO_BROADCAST), ENETUNREACH (no route), EINVAL (port 0), EBADF.
        Returns False when a lower layer dropped it (counted there), True when it left or
        is waiting for ARP.
        """
        # TODO(lab 5): destination, size, port, SO_BROADCAST, route checks; bind if unbound; send
        raise NotImplementedError("lab 5: UdpStage.send")

    def _send_datagram(self, header: wire_udp.UdpHeader, payload: bytes | bytearray | memoryview,
                       dst: IPv4Address, now: float) -> bool:
        src = self.our_ip
        length = wire_udp.HEADER_LEN + len(payload)
        if length <= self._max_in_one_mbuf:
            # The common case: write the payload once, straight into a pool buffer; the IPv4
            # stage prepends its header in front (and fragments from there if it must).
            mbuf = self.stack.alloc_mbuf()
            if mbuf is None:
                return False
            offset = mbuf.append(length)
            mbuf.buf[offset + wire_udp.HEADER_LEN : offset + length] = payload
            self._write_udp_header(header, mbuf.buf, offset, len(payload), src, dst)
            return self.stack.ipv4.send(dst, PROTO_UDP, mbuf, now)
        datagram = bytearray(length)
        datagram[wire_udp.HEADER_LEN :] = payload
        self._write_udp_header(header, datagram, 0, len(payload), src, dst)
        return self.stack.ipv4.send_payload(dst, PROTO_UDP, datagram, now)

    # --- receiving (the IPv4 stage calls this for protocol 17) ----------------------------

    def receive(self, ip_header: IPv4Header, payload: memoryview, frame: memoryview,
                now: float) -> None:
        # TODO(lab 5): parse (checksum); broadcast, or the best endpoint, or port unreachable
        raise NotImplementedError("lab 5: UdpStage.receive")

    def _lookup(self, dst_ip: IPv4Address, dst_port: int, src_ip: IPv4Address,
                src_port: int) -> UdpEndpoint | None:
        """The endpoint a unicast datagram belongs to (see the module docstring)."""
        # TODO(lab 5): connected > exact > wildcard (skip others' peers); ties: later bind
        raise NotImplementedError("lab 5: UdpStage._lookup")

    def _deliver_broadcast(self, dst_ip: IPv4Address, dst_port: int, data: memoryview,
                           src_ip: IPv4Address, src_port: int) -> None:
        """RFC 1122 §4.1.3.6 / §3.3.6: every endpoint listening on the port gets a copy
        (bound to the wildcard or to that broadcast address, and not connected elsewhere)."""
        # TODO(lab 5): a copy to each endpoint on the port (that address or the wildcard)
        raise NotImplementedError("lab 5: UdpStage._deliver_broadcast")

    def _enqueue(self, ep: UdpEndpoint, payload: bytes, source: tuple[str, int]) -> None:
        # TODO(lab 5): refuse past rcvbuf if others are queued; else queue, on_event
        raise NotImplementedError("lab 5: UdpStage._enqueue")

    def _source(self, ip: IPv4Address, port: int) -> tuple[str, int]:
        # str(IPv4Address) is slow and most traffic comes from one peer: remember the last.
        last_ip, text = self._last_source
        if ip != last_ip:
            text = str(ip)
            self._last_source = (ip, text)
        return text, port

    # --- errors about datagrams we sent ---------------------------------------------------

    def _icmp_error(self, report: IcmpErrorReport, now: float) -> None:
        # TODO(lab 5): only about our UDP datagrams; type/code -> errno; ports from the quote
        raise NotImplementedError("lab 5: UdpStage._icmp_error")

    def _arp_failed(self, next_hop: IPv4Address, header: IPv4Header, payload: memoryview,
                    now: float) -> None:
        """ARP gave up on the next hop of one of our datagrams: EHOSTUNREACH, as Linux
        reports it (through the ICMP host unreachable it sends itself)."""
        # TODO(lab 5): EHOSTUNREACH for the endpoint that sent this datagram
        raise NotImplementedError("lab 5: UdpStage._arp_failed")

    def _set_error(self, local_port: int, remote: Address, code: int) -> None:
        """Linux reports hard errors only to connected endpoints (without IP_RECVERR): an
        unconnected one cannot tell which of its peers the error was about."""
        # TODO(lab 5): the connected endpoint whose peer is `remote` gets the errno
        raise NotImplementedError("lab 5: UdpStage._set_error")
