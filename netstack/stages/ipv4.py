"""The IPv4 stage of a host (RFC 791, with the host requirements of RFC 1122 §3.2.1).

Receiving: validate the header (wire.ipv4.parse does version, length and checksum), keep only
datagrams addressed to us (we are a host: RFC 1122 §3.3.1 forbids silently forwarding),
reassemble fragments, then hand the payload to the protocol registered for it. What nobody
handles goes to the kernel through KNI when that is on, or earns a protocol unreachable.

Sending: `send(dst, protocol, mbuf, now)` routes the datagram (longest-prefix match), prepends
the header into the mbuf's headroom, fragments it to the route MTU if it must, and passes it
to ARP, which finds the next hop's MAC.

`Ipv4Unit` (stages/context.py) is this unit's interface; `Ipv4Stage` is the reference. It
uses the stack's units for the rest: `ipv4_codec` (with the stack's checksum), `fragmentation`
and `reassembly`.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from netstack.checksum import with_checksum
from netstack.errors import MalformedPacket
from netstack.mbuf import HEADROOM, Mbuf
from netstack.stages.context import (  # noqa: F401  (Ipv4Unit re-exported: the interface)
    Ipv4Unit,
    ProtocolHandler,
    StackContext,
)
from netstack.stages.ethernet import MIN_FRAME_LEN
from netstack.wire import icmp as wire_icmp
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire.ethernet import HEADER_LEN as ETHERNET_HEADER_LEN
from netstack.wire.ipv4 import PROTO_TCP, PROTO_UDP, IPv4Header

LIMITED_BROADCAST = IPv4Address("255.255.255.255")
LIMITED_BROADCAST_INT = int(LIMITED_BROADCAST)
DST_PORT_OFFSET = 2  # UDP and TCP both start with source port (2), destination port (2)
IDENTIFICATION_MODULUS = 1 << 16
LOOPBACK_FIRST_OCTET = 127  # 127.0.0.0/8 (RFC 1122 §3.2.1.3)
MULTICAST_FIRST_OCTET = 224  # 224.0.0.0/4 multicast; everything above is 240.0.0.0/4, class E


def _address(value: IPv4Address | str | int) -> IPv4Address:
    # IPv4Address(an IPv4Address) goes through its text and back: slow, so skip it.
    return value if type(value) is IPv4Address else IPv4Address(value)


class Ipv4Stage:
    def __init__(self, stack: StackContext) -> None:
        self.stack = stack
        config = stack.config
        units = stack.units
        codec, checksum = units.ipv4_codec, units.checksum
        self._parse = with_checksum(codec.parse, checksum)
        self._build = with_checksum(codec.build, checksum)
        self._write_header = with_checksum(codec.write_header, checksum)
        self._write_plain_header = with_checksum(codec.write_plain_header, checksum)
        self._copy_plain_header = with_checksum(codec.copy_plain_header, checksum)
        self._fragment = units.fragmentation.fragment
        self.our_ip = config.address.ip
        self.subnet_broadcast = config.address.network.broadcast_address
        # The same three as ints: per-packet tests compare int(address) with these, since
        # IPv4Address's == is a Python call (int() is a cheaper one, done once).
        self._our_ip_int = int(self.our_ip)
        self._subnet_broadcast_int = int(self.subnet_broadcast)
        self.default_ttl = config.default_ttl
        self._handlers: dict[int, ProtocolHandler] = {}
        # A counter from a seeded start (RFC 6864 §4.2 only asks IDs to differ while in flight).
        first_id = stack.random.generator("ipv4.id").randrange(IDENTIFICATION_MODULUS)
        self._next_identification = first_id
        self.reassembler = units.reassembly(
            stack.timers,
            stack.counters,
            self._reassembly_timed_out,
            timeout=config.reassembly_timeout,
            memory_limit=config.reassembly_memory_limit,
            max_datagrams=config.reassembly_max_datagrams,
        )
        # The largest datagram one pool mbuf can hold with room for an Ethernet header.
        pool_buffer = len(stack.pool.mbufs[0].buf) if len(stack.pool) else 0
        self._max_datagram_per_mbuf = pool_buffer - HEADROOM
        # A port with TCP segmentation offload (TAP offload mode, engine/vnet.py) cuts TCP
        # datagrams up to this size itself: we send them whole, never fragmented. 0: none.
        self.tso_max = 0

    def register_protocol(self, protocol: int, handler: ProtocolHandler) -> None:
        self._handlers[protocol] = handler

    def unregister_protocol(self, protocol: int) -> None:
        self._handlers.pop(protocol, None)

    def is_local(self, dst: IPv4Address) -> bool:
        """Addresses we accept datagrams for (RFC 1122 §3.3.6 for the broadcasts)."""
        # BEGIN SOLUTION: our address, the subnet broadcast and 255.255.255.255 (RFC 1122 §3.3.6)
        n = int(dst)
        return n == self._our_ip_int or n == self._subnet_broadcast_int or n == LIMITED_BROADCAST_INT
        # END SOLUTION

    # --- receiving ------------------------------------------------------------------------

    def receive(self, packet: memoryview, frame: memoryview, now: float) -> None:
        """`packet` is the Ethernet payload; `frame` the whole frame (for KNI and ICMP)."""
        # BEGIN SOLUTION: parse (count ipv4.drop.<reason> on MalformedPacket), drop what is not for us (ipv4.drop.not_for_us) or has a martian source (ipv4.drop.bad_source), count ipv4.rx.packets, send fragments to the reassembler, then _deliver
        counters = self.stack.counters
        try:
            header, payload = self._parse(packet)
        except MalformedPacket as exc:
            counters.bump(f"ipv4.drop.{exc.reason}")
            return
        if not self.is_local(header.dst):
            counters.bump("ipv4.drop.not_for_us")
            return
        src = header.src
        # RFC 1122 §3.2.1.3: a source must name one host; broadcast, multicast, loopback and
        # class E sources are martians and are dropped silently. The first octet tells the
        # last three apart (IPv4Address.is_multicast and friends cost far more, per packet).
        src_int = int(src)
        first_octet = src_int >> 24
        if (
            first_octet == LOOPBACK_FIRST_OCTET
            or first_octet >= MULTICAST_FIRST_OCTET  # 224/4 multicast, then 240/4 class E
            or src_int == self._subnet_broadcast_int
        ):
            counters.bump("ipv4.drop.bad_source")
            return
        counters.bump("ipv4.rx.packets")

        if header.is_fragment:
            if header.protocol not in self._handlers and self.stack.config.kni:
                self.stack.send_to_kni(frame)  # the kernel reassembles what it handles
                return
            whole = self.reassembler.add(header, payload, now)
            if whole is None:
                return
            header, data = whole
            payload = memoryview(data)
            # Handlers (and KNI) get a frame that looks as if the datagram came unfragmented.
            frame = memoryview(
                b"".join((frame[:ETHERNET_HEADER_LEN], self._build(header, data)))
            )
        self._deliver(header, payload, frame, now)
        # END SOLUTION

    def _deliver(
        self, header: IPv4Header, payload: memoryview, frame: memoryview, now: float
    ) -> None:
        # BEGIN SOLUTION: hand the payload to the registered protocol (ipv4.rx.delivered); KNI if on; else count ipv4.drop.unknown_protocol and send a protocol unreachable
        config = self.stack.config
        if config.kni and self._is_kni_port(header.protocol, payload):
            self.stack.send_to_kni(frame)
            return
        handler = self._handlers.get(header.protocol)
        if handler is not None:
            self.stack.counters.bump("ipv4.rx.delivered")
            handler.receive(header, payload, frame, now)
        elif config.kni:
            self.stack.send_to_kni(frame)
        else:
            self.stack.counters.bump("ipv4.drop.unknown_protocol")
            self.stack.icmp.send_unreachable(
                wire_icmp.CODE_PROTOCOL_UNREACHABLE, header, payload, now, frame=frame
            )
        # END SOLUTION

    def _is_kni_port(self, protocol: int, payload: memoryview) -> bool:
        if protocol == PROTO_TCP:
            ports = self.stack.config.kni_tcp_ports
        elif protocol == PROTO_UDP:
            ports = self.stack.config.kni_udp_ports
        else:
            return False
        if not ports or len(payload) < DST_PORT_OFFSET + 2:
            return False
        dst_port = int.from_bytes(payload[DST_PORT_OFFSET : DST_PORT_OFFSET + 2], "big")
        return dst_port in ports

    def _reassembly_timed_out(self, first_header: IPv4Header, first_payload: bytes, now: float):
        # BEGIN SOLUTION: ICMP time exceeded, code 1 (reassembly), about fragment zero
        # RFC 792 / RFC 1122 §3.3.2: time exceeded, code 1, only when fragment zero arrived.
        self.stack.icmp.send_time_exceeded(
            wire_icmp.CODE_REASSEMBLY_TIME_EXCEEDED, first_header, first_payload, now
        )
        # END SOLUTION

    # --- sending --------------------------------------------------------------------------

    def send(
        self,
        dst: IPv4Address,
        protocol: int,
        mbuf: Mbuf,
        now: float,
        ttl: int | None = None,
        dont_fragment: bool = False,
        src: IPv4Address | None = None,
    ) -> bool:
        """Send the transport payload in `mbuf` (which we now own) to `dst`.

        Returns False when it was dropped here (no route, too big with DF, no mbufs); True
        when it left or is waiting for ARP.
        """
        # BEGIN SOLUTION: route (_path_to), then if it fits the MTU prepend a 20-byte header (our address, default TTL, a fresh identification) and give it to ARP for the next hop; else fragment
        dst = _address(dst)
        path = self._path_to(dst)
        if path is None:
            self.stack.pool.free(mbuf)
            return False
        next_hop, mtu = path
        payload_len = len(mbuf)
        if wire_ipv4.MIN_HEADER_LEN + payload_len <= mtu or (
            protocol == PROTO_TCP and wire_ipv4.MIN_HEADER_LEN + payload_len <= self.tso_max
        ):
            # The common case: the header goes into the headroom, the payload stays put.
            offset = mbuf.prepend(wire_ipv4.MIN_HEADER_LEN)
            self._write_plain_header(
                mbuf.buf,
                offset,
                self.our_ip if src is None else _address(src),
                dst,
                protocol,
                self.default_ttl if ttl is None else ttl,
                self._take_identification(),
                dont_fragment,
                payload_len,
            )
            self.stack.counters.bump("ipv4.tx.packets")
            self.stack.arp.output(next_hop, mbuf, now)
            return True
        header = self._header(dst, protocol, ttl, dont_fragment, src)
        sent = self._send_fragments(header, mbuf.data(), next_hop, mtu, now)
        self.stack.pool.free(mbuf)
        return sent
        # END SOLUTION

    def send_like(self, template: Mbuf, mbuf: Mbuf) -> bool:
        """`send` for a transport payload going where the frame `template` goes: a frame
        `send` queued moments ago (same burst, so the route and the ARP entry are the ones
        it used), whose plain header has the addresses, protocol, TTL and DF flag this
        payload needs, as a TCP connection's segments do. The Ethernet header is copied and
        the IPv4 header copied with our length and identification, instead of asking
        routing and ARP again: a bulk sender's segments share one path.

        Returns False, having done nothing, when `mbuf` must take the full path: larger
        than the template (the MTU was only checked for that size) or small enough that
        Ethernet would pad it."""
        template_ip = template.data_off + ETHERNET_HEADER_LEN
        buf = template.buf
        template_len = (buf[template_ip + 2] << 8) | buf[template_ip + 3]
        total_len = wire_ipv4.MIN_HEADER_LEN + len(mbuf)
        if total_len > template_len or ETHERNET_HEADER_LEN + total_len < MIN_FRAME_LEN:
            return False
        offset = mbuf.prepend(wire_ipv4.MIN_HEADER_LEN)
        self._copy_plain_header(buf, template_ip, mbuf.buf, offset,
                                    self._take_identification(), len(mbuf) - wire_ipv4.MIN_HEADER_LEN)
        start = mbuf.prepend(ETHERNET_HEADER_LEN)
        mbuf.buf[start:offset] = buf[template.data_off : template_ip]
        counters = self.stack.counters
        counters.bump("ipv4.tx.packets")
        self.stack.outgoing.append(mbuf)
        counters.bump("eth.tx.frames")
        return True

    def send_payload(
        self,
        dst: IPv4Address,
        protocol: int,
        payload: bytes | bytearray | memoryview,
        now: float,
        ttl: int | None = None,
        dont_fragment: bool = False,
        src: IPv4Address | None = None,
    ) -> bool:
        """Like `send`, from bytes: for payloads that may not fit one mbuf (a 4000-byte ping)."""
        # BEGIN SOLUTION: like send, for bytes: one mbuf when they fit, else fragment straight from the bytes
        dst = _address(dst)
        if len(payload) + wire_ipv4.MAX_HEADER_LEN <= self._max_datagram_per_mbuf:
            mbuf = self.stack.alloc_mbuf()
            if mbuf is None:
                return False
            mbuf.set_data(payload)
            return self.send(dst, protocol, mbuf, now, ttl, dont_fragment, src)
        path = self._path_to(dst)
        if path is None:
            return False
        next_hop, mtu = path
        header = self._header(dst, protocol, ttl, dont_fragment, src)
        return self._send_fragments(header, memoryview(payload), next_hop, mtu, now)
        # END SOLUTION

    def _arp_room(self, next_hop: IPv4Address) -> int:
        """How many more packets for `next_hop` ARP would accept (unlimited once resolved)."""
        arp = self.stack.arp
        if next_hop == LIMITED_BROADCAST or next_hop == self.subnet_broadcast:
            return wire_ipv4.MAX_TOTAL_LEN
        if arp.lookup(next_hop) is not None:
            return wire_ipv4.MAX_TOTAL_LEN
        config = self.stack.config
        return min(
            config.arp_pending_limit - arp.pending_count(next_hop),
            config.arp_pending_total_limit - arp.pending_count(),
        )

    def _path_to(self, dst: IPv4Address) -> tuple[IPv4Address, int] | None:
        """(next hop, MTU) for `dst`, or None (counted) when there is no route."""
        # BEGIN SOLUTION: broadcasts stay on the link; our own address is dropped (ipv4.drop.to_self); else the route table's next hop and MTU, or None (ipv4.drop.no_route)
        config = self.stack.config
        n = int(dst)
        if n == LIMITED_BROADCAST_INT or n == self._subnet_broadcast_int:
            return dst, config.mtu  # never routed: it stays on our link (RFC 1122 §3.3.6)
        if n == self._our_ip_int:
            self.stack.counters.bump("ipv4.drop.to_self")  # no loopback interface (yet)
            return None
        route = self.stack.routes.lookup(dst)
        if route is None:
            self.stack.counters.bump("ipv4.drop.no_route")
            return None
        return route.next_hop_for(dst), min(route.mtu or config.mtu, config.mtu)
        # END SOLUTION

    def _header(
        self,
        dst: IPv4Address,
        protocol: int,
        ttl: int | None,
        dont_fragment: bool,
        src: IPv4Address | None,
    ) -> IPv4Header:
        # BEGIN SOLUTION: an IPv4Header with our address (unless src), the default TTL (unless ttl) and a fresh identification
        return IPv4Header(
            src=self.our_ip if src is None else _address(src),
            dst=dst,
            protocol=protocol,
            ttl=self.default_ttl if ttl is None else ttl,
            identification=self._take_identification(),
            dont_fragment=dont_fragment,
        )
        # END SOLUTION

    def _take_identification(self) -> int:
        # BEGIN SOLUTION: the next identification, a 16-bit counter
        identification = self._next_identification
        self._next_identification = (identification + 1) % IDENTIFICATION_MODULUS
        return identification
        # END SOLUTION

    def _send_fragments(
        self,
        header: IPv4Header,
        payload: memoryview,
        next_hop: IPv4Address,
        mtu: int,
        now: float,
    ) -> bool:
        """Fragment into fresh mbufs (RFC 791 §3.2); each piece goes to ARP on its own."""
        # BEGIN SOLUTION: refuse DF (ipv4.drop.needs_fragmentation) and over 65535 (ipv4.drop.too_long); fragment; send every piece or none
        counters = self.stack.counters
        if header.dont_fragment:
            counters.bump("ipv4.drop.needs_fragmentation")
            return False
        if header.header_len + len(payload) > wire_ipv4.MAX_TOTAL_LEN:
            counters.bump("ipv4.drop.too_long")
            return False
        # Smaller pieces are always legal, so a pool of small mbufs just means more of them.
        piece_mtu = min(mtu, self._max_datagram_per_mbuf)
        pieces = self._fragment(header, payload, piece_mtu)
        if self.stack.pool.available < len(pieces):
            # Half a datagram is worthless to the receiver: send all of it or nothing.
            counters.bump("mbuf.drop.alloc_failed")
            return False
        if len(pieces) > self._arp_room(next_hop):
            # The same holds while ARP resolves the next hop: its pending queue is bounded,
            # so queue every fragment or none, rather than let it drop the tail silently.
            counters.bump("ipv4.drop.arp_pending_full")
            return False
        for piece_header, data in pieces:
            mbuf = self.stack.alloc_mbuf()
            if mbuf is None:  # another thread took the last ones since we looked
                return False
            mbuf.set_data(data)
            offset = mbuf.prepend(piece_header.header_len)
            self._write_header(piece_header, mbuf.buf, offset, len(data))
            counters.bump("ipv4.tx.fragments")
            self.stack.arp.output(next_hop, mbuf, now)
        counters.bump("ipv4.tx.packets")
        return True
        # END SOLUTION
