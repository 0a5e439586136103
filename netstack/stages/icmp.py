"""The ICMP stage (RFC 792, with the host rules of RFC 1122 §3.2.2).

Three jobs:
- answer echo requests (ping), copying identifier, sequence and data exactly (RFC 792);
- send errors for other stages (protocol/port unreachable, reassembly time exceeded, host
  unreachable), quoting the offending IP header and the first 8 bytes of its payload, which
  is enough for the sender to find the socket it concerns (RFC 792; RFC 1122 §3.2.2);
- a ping client core: `send_echo`, and listeners told about echo replies and errors.

RFC 1122 §3.2.2 lists when a host must NOT send an error, because errors about errors or
about broadcasts can multiply into storms: never about an ICMP error, about a datagram sent to
a broadcast or multicast address (IP or link layer), about one whose source is not a single
host, or about a non-initial fragment. Errors are also rate-limited (RFC 1812 §4.3.2.8) by a
token bucket. Echo requests sent to a broadcast address are ignored (RFC 1122 §3.2.2.6 allows
it; Linux does it by default, icmp_echo_ignore_broadcasts) to avoid "smurf" amplification.

`IcmpUnit` (stages/context.py) is this unit's interface; `IcmpStage` is the reference. Its
messages are summed with the stack's checksum unit, IPv4 headers go through `units.ipv4_codec`.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from netstack.checksum import with_checksum
from netstack.errors import MalformedPacket
from netstack.mbuf import HEADROOM
from netstack.stages.context import (  # noqa: F401  (IcmpUnit re-exported: the interface)
    EchoListener,
    ErrorListener,
    IcmpErrorReport,
    IcmpUnit,
    StackContext,
)
from netstack.stages.rate_limit import TokenBucket
from netstack.wire import icmp as wire_icmp
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire.ethernet import is_multicast as is_group_mac
from netstack.wire.icmp import IcmpHeader
from netstack.wire.ipv4 import PROTO_ICMP, IPv4Header

QUOTED_PAYLOAD_LEN = 8  # RFC 792: "the internet header plus the first 64 bits of the data"
LIMITED_BROADCAST = IPv4Address("255.255.255.255")
TOTAL_LENGTH_OFFSET = 2  # of the IPv4 header, patched when decoding a quoted header

COUNTER_NAMES = {
    wire_icmp.TYPE_ECHO_REPLY: "echo_reply",
    wire_icmp.TYPE_DEST_UNREACHABLE: "dest_unreachable",
    wire_icmp.TYPE_SOURCE_QUENCH: "source_quench",
    wire_icmp.TYPE_REDIRECT: "redirect",
    wire_icmp.TYPE_ECHO_REQUEST: "echo_request",
    wire_icmp.TYPE_TIME_EXCEEDED: "time_exceeded",
    wire_icmp.TYPE_PARAMETER_PROBLEM: "parameter_problem",
    wire_icmp.TYPE_TIMESTAMP: "timestamp",
    wire_icmp.TYPE_TIMESTAMP_REPLY: "timestamp_reply",
}

def _counter_name(icmp_type: int) -> str:
    return COUNTER_NAMES.get(icmp_type, f"type_{icmp_type}")


# The full counter names, made once rather than with an f-string per packet.
RX_COUNTERS = {icmp_type: f"icmp.rx.{name}" for icmp_type, name in COUNTER_NAMES.items()}


class IcmpStage:
    def __init__(self, stack: StackContext) -> None:
        self.stack = stack
        config = stack.config
        units = stack.units
        checksum = units.checksum
        self._internet_checksum = checksum.internet_checksum
        self._parse_icmp = with_checksum(wire_icmp.parse, checksum)
        self._write_icmp_header = with_checksum(wire_icmp.write_header, checksum)
        self._parse_ipv4 = with_checksum(units.ipv4_codec.parse, checksum)
        self._write_ipv4_header = with_checksum(units.ipv4_codec.write_header, checksum)
        self.our_ip = config.address.ip
        self.subnet_broadcast = config.address.network.broadcast_address
        self.rate_limiter = TokenBucket(config.icmp_error_rate, config.icmp_error_burst)
        self._echo_listeners: dict[int, EchoListener] = {}
        self._error_listeners: list[ErrorListener] = []
        pool_buffer = len(stack.pool.mbufs[0].buf) if len(stack.pool) else 0
        self._max_in_one_mbuf = pool_buffer - HEADROOM - wire_ipv4.MAX_HEADER_LEN

    def _is_broadcast(self, ip: IPv4Address) -> bool:
        # BEGIN SOLUTION: 255.255.255.255, the subnet broadcast, or multicast
        return ip == LIMITED_BROADCAST or ip == self.subnet_broadcast or ip.is_multicast
        # END SOLUTION

    # --- listeners ------------------------------------------------------------------------

    def add_echo_listener(self, identifier: int, callback: EchoListener) -> None:
        """`callback(src, sequence, payload, now)` for each echo reply with this identifier."""
        self._echo_listeners[identifier] = callback

    def remove_echo_listener(self, identifier: int) -> None:
        self._echo_listeners.pop(identifier, None)

    def add_error_listener(self, callback: ErrorListener) -> None:
        """`callback(report, now)` for every ICMP error received (see IcmpErrorReport)."""
        self._error_listeners.append(callback)

    def remove_error_listener(self, callback: ErrorListener) -> None:
        if callback in self._error_listeners:
            self._error_listeners.remove(callback)

    # --- receiving (the IPv4 stage calls this for protocol 1) -----------------------------

    def receive(
        self, ip_header: IPv4Header, payload: memoryview, frame: memoryview, now: float
    ) -> None:
        # BEGIN SOLUTION: parse (count icmp.drop.<reason>), count icmp.rx.<type>; answer echo requests, give echo replies to their listener, errors to _report_error
        counters = self.stack.counters
        try:
            header, data = self._parse_icmp(payload)
        except MalformedPacket as exc:
            counters.bump(f"icmp.drop.{exc.reason}")
            return
        counters.bump(RX_COUNTERS.get(header.type) or f"icmp.rx.{_counter_name(header.type)}")
        if header.type == wire_icmp.TYPE_ECHO_REQUEST:
            self._answer_echo(ip_header, header, data, now)
        elif header.type == wire_icmp.TYPE_ECHO_REPLY:
            listener = self._echo_listeners.get(header.identifier)
            if listener is None:
                counters.bump("icmp.drop.no_listener")
            else:
                listener(ip_header.src, header.sequence, bytes(data), now)
        elif wire_icmp.is_error(header.type):
            self._report_error(ip_header.src, header, data, now)
        # END SOLUTION

    def _answer_echo(
        self, ip_header: IPv4Header, request: IcmpHeader, data: memoryview, now: float
    ) -> None:
        # BEGIN SOLUTION: ignore echo to a broadcast (icmp.drop.broadcast_echo); else reply with the same identifier, sequence and data, from the address it was sent to
        if self._is_broadcast(ip_header.dst):
            self.stack.counters.bump("icmp.drop.broadcast_echo")
            return
        reply = IcmpHeader(wire_icmp.TYPE_ECHO_REPLY, 0, request.rest)  # same id and sequence
        if self._send(ip_header.src, reply, data, now, src=ip_header.dst):
            self.stack.counters.bump("icmp.tx.echo_reply")
        # END SOLUTION

    def _report_error(
        self, reporter: IPv4Address, header: IcmpHeader, data: memoryview, now: float
    ) -> None:
        quoted = self._parse_quoted(data)
        if quoted is None:
            self.stack.counters.bump("icmp.drop.bad_quote")
            return
        report = IcmpErrorReport(reporter, header.type, header.code, header.rest, *quoted)
        for listener in list(self._error_listeners):
            listener(report, now)

    # --- the ping client ------------------------------------------------------------------

    def send_echo(
        self, dst: IPv4Address, identifier: int, sequence: int, payload: bytes, now: float
    ) -> bool:
        """Send an echo request; the reply goes to the listener for `identifier`."""
        # BEGIN SOLUTION: an echo request to dst; count icmp.tx.echo_request when it left
        header = IcmpHeader.echo_request(identifier, sequence)
        if type(dst) is not IPv4Address:  # IPv4Address(an IPv4Address) re-parses its text
            dst = IPv4Address(dst)
        sent = self._send(dst, header, payload, now)
        if sent:
            self.stack.counters.bump("icmp.tx.echo_request")
        return sent
        # END SOLUTION

    # --- errors on behalf of other stages -------------------------------------------------

    def send_unreachable(
        self,
        code: int,
        offending_header: IPv4Header,
        offending_payload: bytes | memoryview,
        now: float,
        frame: bytes | memoryview | None = None,
    ) -> bool:
        """Destination unreachable about a datagram we received (`offending_payload` is its
        IP payload; pass the Ethernet `frame` too so link-layer broadcasts are recognised)."""
        return self.send_error(
            wire_icmp.TYPE_DEST_UNREACHABLE,
            code,
            offending_header,
            offending_payload,
            now,
            frame=frame,
        )

    def send_time_exceeded(
        self, code: int, offending_header: IPv4Header, offending_payload: bytes, now: float
    ) -> bool:
        return self.send_error(
            wire_icmp.TYPE_TIME_EXCEEDED, code, offending_header, offending_payload, now
        )

    def send_error(
        self,
        icmp_type: int,
        code: int,
        offending_header: IPv4Header,
        offending_payload: bytes | memoryview,
        now: float,
        rest: int = 0,
        frame: bytes | memoryview | None = None,
    ) -> bool:
        """Send an ICMP error about a datagram, unless RFC 1122 §3.2.2 forbids it or the rate
        limit says no. Returns True if it was sent."""
        # BEGIN SOLUTION: refuse what RFC 1122 §3.2.2 forbids (_error_refusal, count icmp.drop.<why>), then the token bucket (icmp.drop.rate_limited); quote the IP header and 8 bytes of its payload
        refusal = self._error_refusal(offending_header, offending_payload, frame)
        if refusal is not None:
            self.stack.counters.bump(f"icmp.drop.{refusal}")
            return False
        if not self.rate_limiter.allow(now):
            self.stack.counters.bump("icmp.drop.rate_limited")
            return False
        quote = bytearray(offending_header.header_len)
        self._write_ipv4_header(offending_header, quote, 0, len(offending_payload))
        quote += offending_payload[:QUOTED_PAYLOAD_LEN]
        # Answer from the address the datagram was sent to when it is ours (RFC 1122 §3.2.2).
        src = offending_header.dst if offending_header.dst == self.our_ip else self.our_ip
        sent = self._send(offending_header.src, IcmpHeader(icmp_type, code, rest), quote, now, src)
        if sent:
            self.stack.counters.bump(f"icmp.tx.{_counter_name(icmp_type)}")
        return sent
        # END SOLUTION

    def _error_refusal(
        self,
        offending: IPv4Header,
        payload: bytes | memoryview,
        frame: bytes | memoryview | None,
    ) -> str | None:
        """Why RFC 1122 §3.2.2 forbids an error about this datagram, or None if it does not."""
        # BEGIN SOLUTION: no error about an ICMP error, a broadcast/multicast (IP or Ethernet), a source that is not one host, or a non-initial fragment
        if offending.protocol == PROTO_ICMP and (
            len(payload) < 1 or wire_icmp.is_error(payload[0])
        ):
            return "error_about_error"
        if self._is_broadcast(offending.dst) or (frame is not None and is_group_mac(frame[:6])):
            return "error_to_broadcast"
        src = offending.src
        if (
            src == IPv4Address(0)
            or self._is_broadcast(src)
            or src.is_loopback
            or src.is_reserved  # class E, 240.0.0.0/4
        ):
            return "error_bad_source"
        if offending.fragment_offset != 0:
            return "error_about_fragment"
        return None
        # END SOLUTION

    def _send(
        self,
        dst: IPv4Address,
        header: IcmpHeader,
        data: bytes | bytearray | memoryview,
        now: float,
        src: IPv4Address | None = None,
    ) -> bool:
        # BEGIN SOLUTION: write the ICMP message (header with checksum, then data) and send it over IPv4
        length = wire_icmp.HEADER_LEN + len(data)
        if length <= self._max_in_one_mbuf:
            # The common case: write the message once, straight into a pool buffer; the
            # IPv4 stage prepends its header in front of it.
            mbuf = self.stack.alloc_mbuf()
            if mbuf is None:
                return False
            offset = mbuf.append(length)
            mbuf.buf[offset + wire_icmp.HEADER_LEN : offset + length] = data
            self._write_icmp_header(header, mbuf.buf, offset, len(data))
            return self.stack.ipv4.send(dst, PROTO_ICMP, mbuf, now, src=src)
        message = bytearray(length)  # a big ping: the IPv4 stage fragments it from here
        message[wire_icmp.HEADER_LEN :] = data
        self._write_icmp_header(header, message, 0, len(data))
        return self.stack.ipv4.send_payload(dst, PROTO_ICMP, message, now, src=src)
        # END SOLUTION

    def _parse_quoted(self, data: memoryview) -> tuple[IPv4Header, bytes] | None:
        """The IP header quoted in an ICMP error, and the payload bytes that follow it.

        The quote is cut short, so its total length field promises more than is there and
        the codec's parse would refuse it; we patch the length and checksum in a copy first.
        """
        quote = bytearray(data)
        if len(quote) < wire_ipv4.MIN_HEADER_LEN:
            return None
        header_len = (quote[0] & wire_ipv4.IHL_MASK) * wire_ipv4.WORD_LEN
        if header_len < wire_ipv4.MIN_HEADER_LEN or header_len > len(quote):
            return None
        struct.pack_into("!H", quote, TOTAL_LENGTH_OFFSET, len(quote))
        struct.pack_into("!H", quote, wire_ipv4.CHECKSUM_OFFSET, 0)
        checksum = self._internet_checksum(memoryview(quote)[:header_len])
        struct.pack_into("!H", quote, wire_ipv4.CHECKSUM_OFFSET, checksum)
        try:
            header, payload = self._parse_ipv4(quote)
        except MalformedPacket:
            return None
        return header, bytes(payload)
