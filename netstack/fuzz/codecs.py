"""Harness 2: the wire codecs (netstack/wire/) with arbitrary bytes.

The first byte picks a codec, the rest is what it decodes. A codec may refuse the bytes only
with its documented error (MalformedPacket; DnsError for DNS replies). When decoding succeeds,
encoding the result and decoding that again must give the same value: the header survives a
round trip, even when the original bytes carried things the encoder writes another way
(padding after an End option, a VLAN tag's TPID...).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

from netstack.errors import MalformedPacket
from netstack.fuzz.world import InvariantViolation
from netstack.wire import arp, dns, ethernet, icmp, ipv4, tcp, tcp_options, udp

# Any pseudo-header will do for re-encoding: the checksum is then verified on the way back.
SRC = IPv4Address("192.0.2.1")
DST = IPv4Address("192.0.2.2")


def _agree(name: str, first: object, second: object) -> None:
    if first != second:
        raise InvariantViolation(f"{name} round trip: {first!r} became {second!r}")


def ethernet_round_trip(data: bytes) -> None:
    header, payload = ethernet.parse(data)
    again, payload_again = ethernet.parse(ethernet.build(header, payload))
    _agree("ethernet", (header, bytes(payload)), (again, bytes(payload_again)))


def arp_round_trip(data: bytes) -> None:
    packet = arp.parse(data)
    _agree("arp", packet, arp.parse(arp.build(packet)))


def ipv4_round_trip(data: bytes) -> None:
    header, payload = ipv4.parse(data)
    again, payload_again = ipv4.parse(ipv4.build(header, payload))
    _agree("ipv4", (header, bytes(payload)), (again, bytes(payload_again)))


def icmp_round_trip(data: bytes) -> None:
    header, payload = icmp.parse(data)
    again, payload_again = icmp.parse(icmp.build(header, payload))
    _agree("icmp", (header, bytes(payload)), (again, bytes(payload_again)))


def udp_round_trip(data: bytes) -> None:
    header, payload = udp.parse(data)  # no addresses: the checksum is not checked
    built = udp.build(header, payload, SRC, DST)
    again, payload_again = udp.parse(built, SRC, DST)
    _agree("udp", (header, bytes(payload)), (again, bytes(payload_again)))


def tcp_round_trip(data: bytes) -> None:
    header, payload = tcp.parse(data)
    built = tcp.build(header, payload, SRC, DST)
    again, payload_again = tcp.parse(built, SRC, DST)
    _agree("tcp", (header, bytes(payload)), (again, bytes(payload_again)))


def tcp_options_round_trip(data: bytes) -> None:
    options = tcp_options.parse_options(data[:40])
    _agree("tcp options", options, tcp_options.parse_options(tcp_options.encode_options(options)))


def dns_reply(data: bytes) -> None:
    if len(data) >= 2:
        dns.parse_reply(data, int.from_bytes(data[:2], "big"))
    else:
        dns.parse_reply(data, 0)


CODECS: list[Callable[[bytes], None]] = [
    ethernet_round_trip, arp_round_trip, ipv4_round_trip, icmp_round_trip, udp_round_trip,
    tcp_round_trip, tcp_options_round_trip, dns_reply,
]
DOCUMENTED_ERRORS = (MalformedPacket, dns.DnsError)


def one_input(data: bytes) -> None:
    if not data:
        return
    codec = CODECS[data[0] % len(CODECS)]
    try:
        codec(data[1:])
    except DOCUMENTED_ERRORS:
        pass
