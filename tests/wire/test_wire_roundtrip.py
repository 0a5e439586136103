"""parse(build(x)) == x for every header, and write_header writes what build builds."""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st

from netstack.wire import arp, ethernet, icmp, ipv4, tcp, udp
from tests.wire.wire_strategies import (
    addresses,
    arp_packets,
    ethernet_headers,
    icmp_headers,
    ipv4_headers,
    payloads,
    tcp_headers,
    udp_headers,
)

EXAMPLES = settings(max_examples=300, deadline=None)
HEADROOM = 7  # an odd offset catches any code that assumes the header starts at 0
TAILROOM = 5
FILL = 0xA5  # bytes around the packet, which write_header must leave alone


def place_payload(header_len: int, payload: bytes) -> tuple[bytearray, int]:
    """A buffer like an mbuf's: headroom, room for the header, the payload, then tailroom."""
    buf = bytearray([FILL]) * (HEADROOM + header_len + len(payload) + TAILROOM)
    start = HEADROOM + header_len
    buf[start : start + len(payload)] = payload
    return buf, HEADROOM


def assert_written_like_build(buf: bytearray, offset: int, built: bytes) -> None:
    assert buf[offset : offset + len(built)] == built
    assert buf[:offset] == bytes([FILL]) * offset
    assert buf[offset + len(built) :] == bytes([FILL]) * TAILROOM


@EXAMPLES
@given(ethernet_headers, payloads)
def test_ethernet_round_trip(header: ethernet.EthernetHeader, payload: bytes) -> None:
    frame = ethernet.build(header, payload)
    assert len(frame) == header.header_len + len(payload)
    assert ethernet.parse(frame) == (header, payload)


@EXAMPLES
@given(ethernet_headers, payloads)
def test_ethernet_write_header(header: ethernet.EthernetHeader, payload: bytes) -> None:
    buf, offset = place_payload(header.header_len, payload)
    ethernet.write_header(header, buf, offset)
    assert_written_like_build(buf, offset, ethernet.build(header, payload))


@EXAMPLES
@given(arp_packets, st.binary(max_size=18))
def test_arp_round_trip_ignores_padding(pkt: arp.ArpPacket, padding: bytes) -> None:
    data = arp.build(pkt)
    assert len(data) == arp.PACKET_LEN
    assert arp.parse(data) == pkt
    assert arp.parse(data + padding) == pkt


@EXAMPLES
@given(ipv4_headers(), payloads, st.binary(max_size=20))
def test_ipv4_round_trip_cuts_padding(
    header: ipv4.IPv4Header, payload: bytes, padding: bytes
) -> None:
    datagram = ipv4.build(header, payload)
    assert len(datagram) == header.header_len + len(payload)
    assert ipv4.parse(datagram) == (header, payload)
    # Ethernet pads short frames; what lies beyond total length is not payload.
    assert ipv4.parse(datagram + padding) == (header, payload)


@EXAMPLES
@given(ipv4_headers(), payloads)
def test_ipv4_write_header(header: ipv4.IPv4Header, payload: bytes) -> None:
    buf, offset = place_payload(header.header_len, payload)
    ipv4.write_header(header, buf, offset, len(payload))
    assert_written_like_build(buf, offset, ipv4.build(header, payload))


@EXAMPLES
@given(icmp_headers, payloads)
def test_icmp_round_trip(header: icmp.IcmpHeader, payload: bytes) -> None:
    assert icmp.parse(icmp.build(header, payload)) == (header, payload)


@EXAMPLES
@given(icmp_headers, payloads)
def test_icmp_write_header(header: icmp.IcmpHeader, payload: bytes) -> None:
    buf, offset = place_payload(icmp.HEADER_LEN, payload)
    icmp.write_header(header, buf, offset, len(payload))
    assert_written_like_build(buf, offset, icmp.build(header, payload))


@EXAMPLES
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_icmp_echo_constructors(identifier: int, sequence: int) -> None:
    request = icmp.IcmpHeader.echo_request(identifier, sequence)
    reply = icmp.IcmpHeader.echo_reply(identifier, sequence)
    assert (request.type, reply.type) == (icmp.TYPE_ECHO_REQUEST, icmp.TYPE_ECHO_REPLY)
    for header in (request, reply):
        parsed, _ = icmp.parse(icmp.build(header, b"ping"))
        assert (parsed.identifier, parsed.sequence) == (identifier, sequence)


@EXAMPLES
@given(udp_headers, payloads, addresses, addresses, st.binary(max_size=8))
def test_udp_round_trip(header: udp.UdpHeader, payload: bytes, src, dst, padding) -> None:
    datagram = udp.build(header, payload, src, dst)
    assert udp.parse(datagram, src, dst) == (header, payload)
    assert udp.parse(datagram + padding, src, dst) == (header, payload)
    assert udp.parse(datagram) == (header, payload)  # no addresses: no checksum check


@EXAMPLES
@given(udp_headers, payloads, addresses, addresses)
def test_udp_write_header(header: udp.UdpHeader, payload: bytes, src, dst) -> None:
    buf, offset = place_payload(udp.HEADER_LEN, payload)
    udp.write_header(header, buf, offset, len(payload), src, dst)
    assert_written_like_build(buf, offset, udp.build(header, payload, src, dst))


@EXAMPLES
@given(tcp_headers, payloads, addresses, addresses)
def test_tcp_round_trip(header: tcp.TcpHeader, payload: bytes, src, dst) -> None:
    segment = tcp.build(header, payload, src, dst)
    assert len(segment) == header.header_len + len(payload)
    assert tcp.parse(segment, src, dst) == (header, payload)


@EXAMPLES
@given(tcp_headers, payloads, addresses, addresses)
def test_tcp_write_header(header: tcp.TcpHeader, payload: bytes, src, dst) -> None:
    buf, offset = place_payload(header.header_len, payload)
    tcp.write_header(header, buf, offset, len(payload), src, dst)
    assert_written_like_build(buf, offset, tcp.build(header, payload, src, dst))


@EXAMPLES
@given(tcp_headers)
def test_tcp_find_option_and_flags(header: tcp.TcpHeader) -> None:
    for cls in (tcp.MssOption, tcp.TimestampOption, tcp.SackOption, tcp.UnknownOption):
        expected = next((o for o in header.options if isinstance(o, cls)), None)
        assert tcp.find_option(header, cls) == expected
    for bit, name in tcp.FLAG_NAMES.items():
        assert header.has(bit) == (name in header.flag_names) == bool(header.flags & bit)


def test_full_stack_of_headers_nests() -> None:
    """A frame built layer by layer parses back layer by layer, the way a stage reads it."""
    src, dst = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
    options = (tcp.MssOption(1460), tcp.NopOption(), tcp.WindowScaleOption(7))  # 8 bytes
    segment_header = tcp.TcpHeader(40000, 80, 1, 0, tcp.FLAG_SYN, 64240, options=options)
    ip_header = ipv4.IPv4Header(src, dst, ipv4.PROTO_TCP, dont_fragment=True)
    eth_header = ethernet.EthernetHeader(ethernet.BROADCAST, bytes(6), ethernet.ETHERTYPE_IPV4)
    frame = ethernet.build(
        eth_header, ipv4.build(ip_header, tcp.build(segment_header, b"data", src, dst))
    )
    eth, rest = ethernet.parse(frame)
    ip, rest = ipv4.parse(rest)
    seg, data = tcp.parse(rest, ip.src, ip.dst)
    assert (eth, ip, seg, bytes(data)) == (eth_header, ip_header, segment_header, b"data")
