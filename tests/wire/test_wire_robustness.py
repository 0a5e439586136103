"""Hostile input: random bytes, every truncation and single-bit flips of valid packets.

A parser may accept or raise MalformedPacket, nothing else; and once it has accepted, reading
any field, property or the describe() line never raises.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netstack.errors import MalformedPacket
from netstack.wire import arp, ethernet, icmp, ipv4, tcp, udp
from netstack.wire.tcp_options import describe_option, parse_options
from tests.wire.wire_strategies import (
    arp_packets,
    ethernet_headers,
    icmp_headers,
    ipv4_headers,
    payloads,
    tcp_headers,
    udp_headers,
)

EXAMPLES = settings(max_examples=200, deadline=None)
SRC, DST = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
TCP_OFFSET_FLAGS_AT = 12  # where data offset | reserved | flags sits in a TCP header
UDP_LENGTH_AT, UDP_PAYLOAD_AT = 4, 8


def read_everything(header: Any, describe: Callable[[Any], str]) -> None:
    """Touch every field and property the way a stage or a log line would."""
    for field in dataclasses.fields(header):
        getattr(header, field.name)
    for name in dir(type(header)):
        if isinstance(getattr(type(header), name), property):
            getattr(header, name)
    assert isinstance(describe(header), str)
    if isinstance(header, tcp.TcpHeader):
        for option in header.options:
            assert describe_option(option)
        for bit in tcp.FLAG_NAMES:
            header.has(bit)
        tcp.find_option(header, tcp.MssOption)
    if isinstance(header, icmp.IcmpHeader):
        icmp.is_error(header.type)


def try_parse(parse: Callable[[bytes], Any], describe: Callable[[Any], str], data: bytes) -> bool:
    """True if `data` parsed; False if it raised MalformedPacket; anything else fails the test."""
    try:
        result = parse(data)
    except MalformedPacket as exc:
        assert exc.reason and exc.reason.replace("_", "").isalpha() and exc.reason.islower()
        return False
    header, payload = result if isinstance(result, tuple) else (result, b"")
    read_everything(header, describe)
    bytes(payload)
    return True


def parsers(units) -> dict[str, tuple[Callable[[bytes], Any], Callable[[Any], str]]]:
    """Each parser under test: the codec units' (the reference, or what --impl names)."""
    eth, ip, udp_codec, tcp_codec = (units.ethernet_codec, units.ipv4_codec, units.udp_codec,
                                     units.tcp_codec)
    return {
        "ethernet": (eth.parse, ethernet.describe),
        "arp": (arp.parse, arp.describe),
        "ipv4": (ip.parse, ipv4.describe),
        "icmp": (icmp.parse, icmp.describe),
        "udp": (udp_codec.parse, udp.describe),
        "udp+checksum": (lambda b: udp_codec.parse(b, SRC, DST), udp.describe),
        "tcp": (tcp_codec.parse, tcp.describe),
        "tcp+checksum": (lambda b: tcp_codec.parse(b, SRC, DST), tcp.describe),
    }


PARSER_NAMES = ["arp", "ethernet", "icmp", "ipv4", "tcp", "tcp+checksum", "udp", "udp+checksum"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARSER_NAMES), st.binary(max_size=120))
def test_random_bytes_parse_or_raise_malformed(units, name: str, data: bytes) -> None:
    try_parse(*parsers(units)[name], data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_random_tcp_option_bytes(units, data: bytes) -> None:
    """Any option area, behind an otherwise valid header of the right data offset."""
    area = data + bytes(-len(data) % 4)
    segment = bytearray(tcp.build(tcp.TcpHeader(1, 2, 3, 4, tcp.FLAG_ACK, 5)))
    words = (tcp.MIN_HEADER_LEN + len(area)) // tcp.WORD_LEN
    struct.pack_into("!H", segment, TCP_OFFSET_FLAGS_AT,
                     words << tcp.DATA_OFFSET_SHIFT | tcp.FLAG_ACK)
    try_parse(units.tcp_codec.parse, tcp.describe, bytes(segment) + area)
    try:
        options = parse_options(area)
    except MalformedPacket as exc:
        assert exc.reason == "bad_option"
    else:
        assert all(describe_option(o) for o in options)


def valid_packets() -> st.SearchStrategy[tuple[str, bytes]]:
    """(parser name, a packet that parser accepts)."""
    return st.one_of(
        st.tuples(st.just("ethernet"), st.builds(ethernet.build, ethernet_headers, payloads)),
        st.tuples(st.just("arp"), arp_packets.map(arp.build)),
        st.tuples(st.just("ipv4"), st.builds(ipv4.build, ipv4_headers(), payloads)),
        st.tuples(st.just("icmp"), st.builds(icmp.build, icmp_headers, payloads)),
        st.tuples(st.just("udp+checksum"),
                  st.builds(lambda h, p: udp.build(h, p, SRC, DST), udp_headers, payloads)),
        st.tuples(st.just("tcp+checksum"),
                  st.builds(lambda h, p: tcp.build(h, p, SRC, DST), tcp_headers, payloads)),
    )


@EXAMPLES
@given(valid_packets())
def test_every_truncation(units, packet: tuple[str, bytes]) -> None:
    name, data = packet
    parse, describe = parsers(units)[name]
    assert try_parse(parse, describe, data)
    accepted = [cut for cut in range(len(data)) if try_parse(parse, describe, data[:cut])]
    if name in ("arp", "ipv4", "udp+checksum"):
        # A length field (or ARP's fixed size) says the packet is longer than what is left.
        assert accepted == []
    if name == "ethernet":
        header, _ = ethernet.parse(data)
        assert accepted == list(range(header.header_len, len(data)))


@EXAMPLES
@given(valid_packets(), st.data())
def test_single_bit_flips_are_caught(
    units, packet: tuple[str, bytes], data: st.DataObject
) -> None:
    """The internet checksum detects every single-bit error in what it covers (RFC 1071)."""
    name, packet_bytes = packet
    if name == "icmp" or name == "tcp+checksum":
        covered = range(len(packet_bytes))  # the checksum covers the whole message
    elif name == "ipv4":
        # The header only; byte 0 holds the IHL, which also moves where the header ends.
        covered = range(1, ipv4.parse(packet_bytes)[0].header_len)
    elif name == "udp+checksum":
        # Not the length (it moves the end too) nor the checksum (0 would mean "none").
        covered = [*range(UDP_LENGTH_AT), *range(UDP_PAYLOAD_AT, len(packet_bytes))]
    else:
        return
    position = data.draw(st.sampled_from(covered), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    corrupted = bytearray(packet_bytes)
    corrupted[position] ^= 1 << bit
    assert not try_parse(*parsers(units)[name], bytes(corrupted))
