"""Targeted cases: each malformation gives its own reason, bad build arguments a ValueError,
and the small helpers (MAC text, describe lines, ICMP and IPv4 properties) say what they should."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings

from netstack.checksum import internet_checksum, pseudo_header_sum
from netstack.errors import MalformedPacket
from netstack.wire import arp, ethernet, icmp, ipv4, tcp, udp
from tests.wire.wire_strategies import macs

SRC, DST = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
U16 = struct.Struct("!H")
IPV4_TOTAL_LENGTH_AT = 2
UDP_LENGTH_AT = 4
TCP_OFFSET_FLAGS_AT = 12


def reason(parse, *args) -> str:
    with pytest.raises(MalformedPacket) as info:
        parse(*args)
    return info.value.reason


def with_u16(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    U16.pack_into(out, offset, value)
    return bytes(out)


# --- Ethernet -------------------------------------------------------------------------------


def test_ethernet_malformed(units) -> None:
    codec = units.ethernet_codec
    frame = codec.build(ethernet.EthernetHeader(MAC_A, MAC_B, ethernet.ETHERTYPE_IPV4))
    assert reason(codec.parse, frame[:-1]) == "truncated"
    tagged_without_room = MAC_A + MAC_B + U16.pack(ethernet.ETHERTYPE_VLAN) + b"\x00\x05"
    assert reason(codec.parse, tagged_without_room) == "truncated"
    assert reason(codec.parse, MAC_A + MAC_B + U16.pack(1500)) == "not_ethernet_ii"


def test_ethernet_qinq_tags_in_order(units) -> None:
    codec = units.ethernet_codec
    outer = ethernet.VlanTag(100, pcp=5, tpid=ethernet.ETHERTYPE_QINQ)
    inner = ethernet.VlanTag(10, dei=True)
    header = ethernet.EthernetHeader(MAC_A, MAC_B, ethernet.ETHERTYPE_ARP, (outer, inner))
    frame = codec.build(header, b"x")
    assert frame[12:14] == U16.pack(ethernet.ETHERTYPE_QINQ)
    assert codec.parse(frame)[0].vlans == (outer, inner)
    assert ethernet.describe(header) == (
        "02:00:00:00:00:02 > 02:00:00:00:00:01 vlan 100 p 5 (802.1ad) vlan 10 p 0 dei, "
        "ARP (0x0806)"
    )


@pytest.mark.parametrize(
    "header",
    [
        ethernet.EthernetHeader(MAC_A[:5], MAC_B, ethernet.ETHERTYPE_IPV4),
        ethernet.EthernetHeader(MAC_A, MAC_B, ethernet.ETHERTYPE_VLAN),
        ethernet.EthernetHeader(MAC_A, MAC_B, 0x05DC),
        ethernet.EthernetHeader(MAC_A, MAC_B, 0x0800, (ethernet.VlanTag(4096),)),
        ethernet.EthernetHeader(MAC_A, MAC_B, 0x0800, (ethernet.VlanTag(1, pcp=8),)),
        ethernet.EthernetHeader(MAC_A, MAC_B, 0x0800, (ethernet.VlanTag(1, tpid=0x9100),)),
    ],
)
def test_ethernet_build_rejects(units, header: ethernet.EthernetHeader) -> None:
    codec = units.ethernet_codec
    with pytest.raises(ValueError):
        codec.build(header)


@settings(max_examples=100)
@given(macs)
def test_mac_text_round_trip(mac: bytes) -> None:
    text = ethernet.format_mac(mac)
    assert len(text) == 17 and text == text.lower()
    assert ethernet.parse_mac(text) == mac
    assert ethernet.parse_mac(text.upper()) == mac
    assert ethernet.is_multicast(mac) == bool(mac[0] & 1)


@pytest.mark.parametrize(
    "text", ["", "02:00:00:00:00", "02:00:00:00:00:01:02", "02-00-00-00-00-01", "2:0:0:0:0:1",
             "02:00:00:00:00:0g", "02:00:00:00:00:+1", "0200.0000.0001"],
)
def test_parse_mac_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        ethernet.parse_mac(text)


def test_broadcast_is_multicast() -> None:
    assert ethernet.BROADCAST == b"\xff" * 6
    assert ethernet.is_multicast(ethernet.BROADCAST)
    assert not ethernet.is_multicast(MAC_A)


# --- ARP ------------------------------------------------------------------------------------


def test_arp_malformed() -> None:
    packet = arp.build(arp.ArpPacket(arp.OP_REQUEST, MAC_A, SRC, bytes(6), DST))
    assert reason(arp.parse, packet[:7]) == "truncated"
    assert reason(arp.parse, packet[:27]) == "truncated"
    assert reason(arp.parse, with_u16(packet, 0, 6)) == "unsupported_hardware"  # IEEE 802
    assert reason(arp.parse, with_u16(packet, 2, 0x86DD)) == "unsupported_hardware"


def test_arp_describe_and_build_rejects() -> None:
    request = arp.ArpPacket(arp.OP_REQUEST, MAC_A, SRC, bytes(6), DST)
    assert arp.describe(request) == "ARP request who-has 192.0.2.2 tell 192.0.2.1 (02:00:00:00:00:01)"
    with pytest.raises(ValueError):
        arp.build(arp.ArpPacket(arp.OP_REPLY, MAC_A[:5], SRC, MAC_B, DST))
    with pytest.raises(ValueError):
        arp.build(arp.ArpPacket(0x10000, MAC_A, SRC, MAC_B, DST))


# --- IPv4 -----------------------------------------------------------------------------------

IP_HEADER = ipv4.IPv4Header(SRC, DST, ipv4.PROTO_UDP, identification=7)
DATAGRAM = ipv4.build(IP_HEADER, b"payload!")


def reheader(data: bytes) -> bytes:
    """Recompute the header checksum so that only the field under test is wrong."""
    out = bytearray(data)
    header_len = (out[0] & ipv4.IHL_MASK) * ipv4.WORD_LEN
    U16.pack_into(out, ipv4.CHECKSUM_OFFSET, 0)
    U16.pack_into(out, ipv4.CHECKSUM_OFFSET, internet_checksum(out[:header_len]))
    return bytes(out)


def test_ipv4_malformed(units) -> None:
    codec = units.ipv4_codec
    assert reason(codec.parse, DATAGRAM[:19]) == "truncated"
    assert reason(codec.parse, reheader(b"\x65" + DATAGRAM[1:])) == "bad_version"
    assert reason(codec.parse, reheader(b"\x44" + DATAGRAM[1:])) == "bad_ihl"
    assert reason(codec.parse, reheader(b"\x4f" + DATAGRAM[1:])) == "truncated"  # 60 > 28
    too_big = reheader(with_u16(DATAGRAM, IPV4_TOTAL_LENGTH_AT, len(DATAGRAM) + 1))
    assert reason(codec.parse, too_big) == "bad_total_length"
    too_small = reheader(with_u16(DATAGRAM, IPV4_TOTAL_LENGTH_AT, ipv4.MIN_HEADER_LEN - 1))
    assert reason(codec.parse, too_small) == "bad_total_length"
    assert reason(codec.parse, with_u16(DATAGRAM, ipv4.CHECKSUM_OFFSET, 0)) == "bad_checksum"


def test_ipv4_shorter_total_length_cuts_payload(units) -> None:
    codec = units.ipv4_codec
    shorter = reheader(with_u16(DATAGRAM, IPV4_TOTAL_LENGTH_AT, len(DATAGRAM) - 3))
    assert bytes(codec.parse(shorter)[1]) == b"paylo"


def test_ipv4_fragment_fields_and_describe(units) -> None:
    codec = units.ipv4_codec
    header = ipv4.IPv4Header(SRC, DST, ipv4.PROTO_ICMP, more_fragments=True, fragment_offset=1480)
    parsed, _ = codec.parse(codec.build(header))
    assert parsed.is_fragment and parsed.fragment_offset == 1480
    assert not IP_HEADER.is_fragment
    assert ipv4.IPv4Header(SRC, DST, 6, fragment_offset=8).is_fragment  # the last fragment
    assert ipv4.describe(parsed) == "IPv4 192.0.2.1 > 192.0.2.2 ICMP ttl 64 id 0 [MF] frag offset 1480"


@pytest.mark.parametrize(
    "changes",
    [{"options": b"\x01\x01\x01"}, {"options": bytes(44)}, {"fragment_offset": 7},
     {"fragment_offset": 65536}, {"ttl": 256}, {"identification": -1}, {"protocol": 300}],
)
def test_ipv4_build_rejects(units, changes: dict) -> None:
    codec = units.ipv4_codec
    fields = {"src": SRC, "dst": DST, "protocol": ipv4.PROTO_TCP, **changes}
    with pytest.raises(ValueError):
        codec.build(ipv4.IPv4Header(**fields))


def test_ipv4_build_rejects_oversized_payload(units) -> None:
    codec = units.ipv4_codec
    with pytest.raises(ValueError):
        codec.build(IP_HEADER, bytes(ipv4.MAX_TOTAL_LEN))


# --- ICMP -----------------------------------------------------------------------------------


def test_icmp_malformed_and_helpers() -> None:
    message = icmp.build(icmp.IcmpHeader.echo_request(0x1234, 7), b"abc")
    assert reason(icmp.parse, message[:7]) == "truncated"
    assert reason(icmp.parse, message[:-1] + b"d") == "bad_checksum"
    assert icmp.describe(icmp.parse(message)[0]) == "ICMP echo request id 4660 seq 7"
    too_big = icmp.IcmpHeader.dest_unreachable(icmp.CODE_FRAGMENTATION_NEEDED, 1400)
    assert too_big.next_hop_mtu == 1400
    assert icmp.describe(too_big) == "ICMP unreachable need to frag mtu 1400"
    assert icmp.is_error(icmp.TYPE_DEST_UNREACHABLE) and icmp.is_error(icmp.TYPE_TIME_EXCEEDED)
    assert not icmp.is_error(icmp.TYPE_ECHO_REQUEST) and not icmp.is_error(icmp.TYPE_ECHO_REPLY)
    with pytest.raises(ValueError):
        icmp.IcmpHeader.echo_request(0x10000, 0)
    with pytest.raises(ValueError):
        icmp.build(icmp.IcmpHeader(256, 0))


# --- UDP ------------------------------------------------------------------------------------


def test_udp_malformed(units) -> None:
    codec = units.udp_codec
    datagram = codec.build(udp.UdpHeader(5000, 53), b"query", SRC, DST)
    assert reason(codec.parse, datagram[:7]) == "truncated"
    assert reason(codec.parse, with_u16(datagram, UDP_LENGTH_AT, 7)) == "bad_length"
    longer = with_u16(datagram, UDP_LENGTH_AT, len(datagram) + 1)
    assert reason(codec.parse, longer) == "bad_length"
    corrupted = datagram[:-1] + b"Y"
    assert reason(codec.parse, corrupted, SRC, DST) == "bad_checksum"
    assert codec.parse(corrupted)[1] == b"querY"  # without addresses nothing is verified
    assert reason(codec.parse, datagram, SRC, IPv4Address("192.0.2.3")) == "bad_checksum"


def test_udp_length_shorter_than_datagram_cuts_padding(units) -> None:
    codec = units.udp_codec
    datagram = codec.build(udp.UdpHeader(5000, 53), b"query", SRC, DST)
    header, payload = codec.parse(datagram + b"\x00\x00\x00", SRC, DST)
    assert (header, bytes(payload)) == (udp.UdpHeader(5000, 53), b"query")


def test_udp_checksum_zero_means_none_and_computed_zero_is_all_ones(units) -> None:
    codec = units.udp_codec
    without = with_u16(codec.build(udp.UdpHeader(1, 2), b"garbage", SRC, DST), udp.CHECKSUM_OFFSET, 0)
    assert codec.parse(without, SRC, DST)[0] == udp.UdpHeader(1, 2)
    assert codec.build(udp.UdpHeader(1, 2), b"x")[udp.CHECKSUM_OFFSET:udp.HEADER_LEN] == b"\0\0"
    # Choose the source port that makes the one's-complement sum 0xFFFF (checksum 0).
    base = codec.build(udp.UdpHeader(0, 2), b"data", SRC, DST)
    folded_sum = ~U16.unpack_from(base, udp.CHECKSUM_OFFSET)[0] & 0xFFFF
    datagram = codec.build(udp.UdpHeader(0xFFFF - folded_sum, 2), b"data", SRC, DST)
    assert U16.unpack_from(datagram, udp.CHECKSUM_OFFSET)[0] == udp.ZERO_CHECKSUM_SENT_AS
    assert codec.parse(datagram, SRC, DST)[1] == b"data"


def test_udp_build_rejects(units) -> None:
    codec = units.udp_codec
    with pytest.raises(ValueError):
        codec.build(udp.UdpHeader(70000, 1))
    with pytest.raises(ValueError):
        codec.build(udp.UdpHeader(-1, 1))
    with pytest.raises(ValueError):
        codec.build(udp.UdpHeader(1, 1), bytes(udp.MAX_LEN))


# --- TCP ------------------------------------------------------------------------------------

TCP_HEADER = tcp.TcpHeader(40000, 80, 1, 2, tcp.FLAG_ACK | tcp.FLAG_PSH, 1000)


def segment_with_options(area: bytes, payload: bytes = b"") -> bytes:
    """A segment whose option area is exactly `area` (a multiple of 4), checksum for SRC/DST."""
    plain = bytearray(tcp.build(TCP_HEADER) + area + payload)
    words = (tcp.MIN_HEADER_LEN + len(area)) // tcp.WORD_LEN
    U16.pack_into(plain, TCP_OFFSET_FLAGS_AT, words << tcp.DATA_OFFSET_SHIFT | TCP_HEADER.flags)
    U16.pack_into(plain, tcp.CHECKSUM_OFFSET, 0)
    pseudo = pseudo_header_sum(SRC.packed, DST.packed, ipv4.PROTO_TCP, len(plain))
    U16.pack_into(plain, tcp.CHECKSUM_OFFSET, internet_checksum(plain, pseudo))
    return bytes(plain)


def test_tcp_malformed(units) -> None:
    codec = units.tcp_codec
    segment = codec.build(TCP_HEADER, b"hello", SRC, DST)
    assert reason(codec.parse, segment[:19]) == "truncated"
    for words in (4, 15):  # below the fixed header; past the 25 bytes we have
        field = words << tcp.DATA_OFFSET_SHIFT | TCP_HEADER.flags
        assert reason(codec.parse, with_u16(segment, TCP_OFFSET_FLAGS_AT, field)) == "bad_data_offset"
    assert reason(codec.parse, segment[:-1] + b"O", SRC, DST) == "bad_checksum"
    assert codec.parse(segment, SRC, DST)[1] == b"hello"


@pytest.mark.parametrize(
    "area",
    [
        bytes([tcp.KIND_MSS, 1, 0, 0]),  # length below 2
        bytes([tcp.KIND_MSS, 0, 0, 0]),  # length 0 would loop forever
        bytes([tcp.KIND_MSS, 3, 5, 0]),  # MSS is always 4 bytes
        bytes([tcp.KIND_MSS, 8, 5, 0xB4]),  # runs past the header
        bytes([tcp.KIND_NOP, tcp.KIND_NOP, tcp.KIND_NOP, tcp.KIND_MSS]),  # no length byte
        bytes([tcp.KIND_WINDOW_SCALE, 4, 7, 0]),
        bytes([tcp.KIND_SACK_PERMITTED, 3, 0, 0]),
        bytes([tcp.KIND_TIMESTAMP, 8, 0, 0, 0, 1, 0, 0]),
        bytes([tcp.KIND_SACK, 2, 0, 0]),  # no blocks
        bytes([tcp.KIND_SACK, 6, 0, 0, 0, 1, 0, 0]),  # not a whole block
        bytes([99, 9, 0, 0, 0, 0, 0, 0]),  # unknown kind, still must fit
    ],
)
def test_tcp_bad_option(units, area: bytes) -> None:
    codec = units.tcp_codec
    assert reason(codec.parse, segment_with_options(area), SRC, DST) == "bad_option"


def test_tcp_unknown_option_kept_and_bytes_after_end_are_padding(units) -> None:
    codec = units.tcp_codec
    area = bytes([99, 4, 0xAB, 0xCD, tcp.KIND_END, 0xEE, 0xEE, 0xEE])
    header, payload = codec.parse(segment_with_options(area, b"data"), SRC, DST)
    assert header.options == (tcp.UnknownOption(99, b"\xab\xcd"), tcp.EndOption())
    assert bytes(payload) == b"data"


def test_tcp_options_padding_and_describe(units) -> None:
    codec = units.tcp_codec
    header = tcp.TcpHeader(40000, 80, 1, 0, tcp.FLAG_SYN, 64240,
                           options=(tcp.MssOption(1460), tcp.WindowScaleOption(7)))
    segment = codec.build(header, b"", SRC, DST)
    assert header.header_len == 28 and len(segment) == 28  # 7 option bytes padded to 8
    parsed, _ = codec.parse(segment, SRC, DST)
    assert parsed.options == (*header.options, tcp.EndOption())  # the zero pad reads as End
    assert tcp.describe(parsed) == (
        "TCP 40000 > 80 [S] seq 1 ack 0 win 64240 options [mss 1460,wscale 7,eol]"
    )
    assert parsed.flag_names == ("SYN",) and parsed.has(tcp.FLAG_SYN)
    assert not parsed.has(tcp.FLAG_SYN | tcp.FLAG_ACK)
    assert tcp.find_option(parsed, tcp.SackOption) is None


def test_tcp_reserved_bits_round_trip(units) -> None:
    codec = units.tcp_codec
    header = tcp.TcpHeader(1, 2, 3, 4, tcp.FLAG_CWR | tcp.FLAG_ECE | tcp.FLAG_SYN, 5, reserved=0b1001)
    assert codec.parse(codec.build(header, b"", SRC, DST), SRC, DST)[0] == header


@pytest.mark.parametrize(
    "changes",
    [
        {"options": (tcp.TimestampOption(1, 2),) * 5},  # 50 bytes
        {"options": (tcp.EndOption(), tcp.MssOption(1460))},  # the MSS would be lost
        {"options": (tcp.UnknownOption(tcp.KIND_MSS, b"\x05\xb4"),)},  # reads back as MSS
        {"options": (tcp.SackOption(()),)},
        {"options": (tcp.MssOption(70000),)},
        {"src_port": 70000},
        {"seq": -1},
        {"flags": 0x100},
        {"reserved": 16},
    ],
)
def test_tcp_build_rejects(units, changes: dict) -> None:
    codec = units.tcp_codec
    fields = {"src_port": 1, "dst_port": 2, "seq": 3, "ack": 4, "flags": 0, "window": 5, **changes}
    with pytest.raises(ValueError):
        codec.build(tcp.TcpHeader(**fields), b"", SRC, DST)
