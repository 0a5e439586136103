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
def test_ethernet_round_trip(units, header: ethernet.EthernetHeader, payload: bytes) -> None:
    codec = units.ethernet_codec
    frame = codec.build(header, payload)
    assert len(frame) == header.header_len + len(payload)
    assert codec.parse(frame) == (header, payload)


@EXAMPLES
@given(ethernet_headers, payloads)
def test_ethernet_write_header(units, header: ethernet.EthernetHeader, payload: bytes) -> None:
    codec = units.ethernet_codec
    buf, offset = place_payload(header.header_len, payload)
    codec.write_header(header, buf, offset)
    assert_written_like_build(buf, offset, codec.build(header, payload))


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
    units, header: ipv4.IPv4Header, payload: bytes, padding: bytes
) -> None:
    codec = units.ipv4_codec
    datagram = codec.build(header, payload)
    assert len(datagram) == header.header_len + len(payload)
    assert codec.parse(datagram) == (header, payload)
    # Ethernet pads short frames; what lies beyond total length is not payload.
    assert codec.parse(datagram + padding) == (header, payload)


@EXAMPLES
@given(ipv4_headers(), payloads)
def test_ipv4_write_header(units, header: ipv4.IPv4Header, payload: bytes) -> None:
    codec = units.ipv4_codec
    buf, offset = place_payload(header.header_len, payload)
    codec.write_header(header, buf, offset, len(payload))
    assert_written_like_build(buf, offset, codec.build(header, payload))


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
def test_udp_round_trip(units, header: udp.UdpHeader, payload: bytes, src, dst, padding) -> None:
    codec = units.udp_codec
    datagram = codec.build(header, payload, src, dst)
    assert codec.parse(datagram, src, dst) == (header, payload)
    assert codec.parse(datagram + padding, src, dst) == (header, payload)
    assert codec.parse(datagram) == (header, payload)  # no addresses: no checksum check


@EXAMPLES
@given(udp_headers, payloads, addresses, addresses)
def test_udp_write_header(units, header: udp.UdpHeader, payload: bytes, src, dst) -> None:
    codec = units.udp_codec
    buf, offset = place_payload(udp.HEADER_LEN, payload)
    codec.write_header(header, buf, offset, len(payload), src, dst)
    assert_written_like_build(buf, offset, codec.build(header, payload, src, dst))


@EXAMPLES
@given(tcp_headers, payloads, addresses, addresses)
def test_tcp_round_trip(units, header: tcp.TcpHeader, payload: bytes, src, dst) -> None:
    codec = units.tcp_codec
    segment = codec.build(header, payload, src, dst)
    assert len(segment) == header.header_len + len(payload)
    assert codec.parse(segment, src, dst) == (header, payload)


@EXAMPLES
@given(tcp_headers, payloads, addresses, addresses)
def test_tcp_write_header(units, header: tcp.TcpHeader, payload: bytes, src, dst) -> None:
    codec = units.tcp_codec
    buf, offset = place_payload(header.header_len, payload)
    codec.write_header(header, buf, offset, len(payload), src, dst)
    assert_written_like_build(buf, offset, codec.build(header, payload, src, dst))


@EXAMPLES
@given(tcp_headers)
def test_tcp_find_option_and_flags(header: tcp.TcpHeader) -> None:
    for cls in (tcp.MssOption, tcp.TimestampOption, tcp.SackOption, tcp.UnknownOption):
        expected = next((o for o in header.options if isinstance(o, cls)), None)
        assert tcp.find_option(header, cls) == expected
    for bit, name in tcp.FLAG_NAMES.items():
        assert header.has(bit) == (name in header.flag_names) == bool(header.flags & bit)


def test_full_stack_of_headers_nests(units) -> None:
    """A frame built layer by layer parses back layer by layer, the way a stage reads it."""
    ethernet_codec, ipv4_codec, tcp_codec = units.ethernet_codec, units.ipv4_codec, units.tcp_codec
    src, dst = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
    options = (tcp.MssOption(1460), tcp.NopOption(), tcp.WindowScaleOption(7))  # 8 bytes
    segment_header = tcp.TcpHeader(40000, 80, 1, 0, tcp.FLAG_SYN, 64240, options=options)
    ip_header = ipv4.IPv4Header(src, dst, ipv4.PROTO_TCP, dont_fragment=True)
    eth_header = ethernet.EthernetHeader(ethernet.BROADCAST, bytes(6), ethernet.ETHERTYPE_IPV4)
    frame = ethernet_codec.build(
        eth_header, ipv4_codec.build(ip_header, tcp_codec.build(segment_header, b"data", src, dst))
    )
    eth, rest = ethernet_codec.parse(frame)
    ip, rest = ipv4_codec.parse(rest)
    seg, data = tcp_codec.parse(rest, ip.src, ip.dst)
    assert (eth, ip, seg, bytes(data)) == (eth_header, ip_header, segment_header, b"data")


def test_codecs_sum_with_the_checksum_they_are_given(units) -> None:
    """A stack passes its checksum unit's `internet_checksum` to the codecs: they must use it
    (and only it) for every checksum they compute or verify."""
    src, dst = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
    reference = units.checksum.internet_checksum
    calls: list[int] = []

    def counting(data, initial=0):
        calls.append(len(data))
        return reference(data, initial)

    ip_header = ipv4.IPv4Header(src, dst, ipv4.PROTO_UDP)
    for codec, built in (
        (units.ipv4_codec, lambda c, k: c.build(ip_header, b"x", **k)),
        (units.udp_codec, lambda c, k: c.build(udp.UdpHeader(1, 2), b"x", src, dst, **k)),
        (units.tcp_codec,
         lambda c, k: c.build(tcp.TcpHeader(1, 2, 3, 4, tcp.FLAG_ACK, 100), b"x", src, dst, **k)),
    ):
        calls.clear()
        data = built(codec, {"internet_checksum": counting})
        assert calls, f"{codec.__name__}.build did not use the checksum it was given"
        assert data == built(codec, {})  # the same bytes as with the default checksum
        calls.clear()
        args = (src, dst) if codec is not units.ipv4_codec else ()
        codec.parse(data, *args, internet_checksum=counting)
        assert calls, f"{codec.__name__}.parse did not use the checksum it was given"
