"""The virtio-net header codec (engine/vnet.py) and the TAP offload spec, without any device."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest

from netstack.checksum import pseudo_header_sum
from netstack.engine import vnet
from netstack.engine.ports.tap import MAX_DATAGRAM, TapPort, is_offload_spec, parse_tap_argument
from netstack.errors import ConfigError, MalformedPacket
from netstack.mbuf import OFFLOAD_BUFFER_SIZE, OFFLOAD_POOL_COUNT, MbufPool
from netstack.wire import ethernet as wire_eth
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire import tcp as wire_tcp
from netstack.wire import udp as wire_udp

SRC, DST = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
ETH = wire_eth.EthernetHeader(b"\x02\x00\x00\x00\x00\x02", b"\x02\x00\x00\x00\x00\x01",
                              wire_eth.ETHERTYPE_IPV4)
TS_OPTIONS = (wire_tcp.NopOption(), wire_tcp.NopOption(), wire_tcp.TimestampOption(1, 2))


def tcp_frame(payload: bytes, options: tuple = ()) -> bytearray:
    segment = wire_tcp.build(wire_tcp.TcpHeader(40000, 9, 1000, 2000, wire_tcp.FLAG_ACK, 512,
                                                options=options), payload, SRC, DST)
    ip = wire_ipv4.build(wire_ipv4.IPv4Header(SRC, DST, wire_ipv4.PROTO_TCP), segment)
    return bytearray(wire_eth.build(ETH, ip))


def test_a_hand_made_gso_header_parses_field_by_field():
    # flags NEEDS_CSUM, gso TCPV4, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16,
    # num_buffers 0: all little-endian, as virtio 1.0 says.
    raw = bytes([0x01, 0x01, 66, 0, 0xA8, 0x05, 34, 0, 16, 0, 0, 0])
    header = vnet.parse(raw)
    assert header == vnet.VnetHeader(vnet.FLAG_NEEDS_CSUM, vnet.GSO_TCPV4, 66, 1448, 34, 16)
    assert header.needs_csum and header.is_gso
    assert vnet.build(header) == raw


def test_a_plain_header_asks_for_nothing():
    header = vnet.parse(bytes(12))
    assert header == vnet.PLAIN and not header.needs_csum and not header.is_gso
    assert vnet.build(vnet.PLAIN) == vnet.PLAIN_BYTES == bytes(12)


def test_data_valid_and_ecn_bits_are_read():
    header = vnet.parse(bytes([vnet.FLAG_DATA_VALID, vnet.GSO_TCPV4 | vnet.GSO_ECN]) + bytes(10))
    assert not header.needs_csum and header.is_gso
    assert header.flags & vnet.FLAG_DATA_VALID


def test_a_short_header_is_malformed():
    with pytest.raises(MalformedPacket) as exc:
        vnet.parse(bytes(11))
    assert exc.value.reason == "vnet_truncated"


def test_complete_checksum_finishes_a_partial_tcp_checksum():
    frame = tcp_frame(bytes(range(256)) * 100)
    good = bytes(frame)
    tcp_start = 14 + 20
    # What the kernel hands us: the field holds only the pseudo-header sum.
    length = len(frame) - tcp_start
    struct.pack_into("!H", frame, tcp_start + 16, pseudo_header_sum(SRC.packed, DST.packed, 6, length))
    with pytest.raises(MalformedPacket):
        wire_tcp.parse(memoryview(frame)[tcp_start:], SRC, DST)  # not valid as it is
    header = vnet.VnetHeader(vnet.FLAG_NEEDS_CSUM, csum_start=tcp_start, csum_offset=16)
    vnet.complete_checksum(header, frame)
    assert bytes(frame) == good
    wire_tcp.parse(memoryview(frame)[tcp_start:], SRC, DST)


def test_complete_checksum_works_for_udp_too():
    datagram = wire_udp.build(wire_udp.UdpHeader(5000, 7), b"hello, offload", SRC, DST)
    frame = bytearray(wire_eth.build(ETH, wire_ipv4.build(
        wire_ipv4.IPv4Header(SRC, DST, wire_ipv4.PROTO_UDP), datagram)))
    good = bytes(frame)
    struct.pack_into("!H", frame, 34 + 6, pseudo_header_sum(SRC.packed, DST.packed, 17, len(datagram)))
    vnet.complete_checksum(vnet.VnetHeader(vnet.FLAG_NEEDS_CSUM, csum_start=34, csum_offset=6), frame)
    assert bytes(frame) == good


@pytest.mark.parametrize("start, offset", [(500, 16), (60, 1000), (59, 0)])
def test_checksum_offsets_outside_the_frame_are_malformed(start, offset):
    frame = bytearray(60)
    with pytest.raises(MalformedPacket) as exc:
        vnet.complete_checksum(vnet.VnetHeader(vnet.FLAG_NEEDS_CSUM, csum_start=start,
                                               csum_offset=offset), frame)
    assert exc.value.reason == "vnet_bad_csum_offsets"


def test_tso_header_for_a_big_segment_with_timestamps():
    payload = bytes(range(251)) * 200  # 50200 bytes: 35 segments at MTU 1500
    frame = tcp_frame(payload, TS_OPTIONS)
    header = vnet.tso_header(frame, 1500)
    assert header == vnet.VnetHeader(vnet.FLAG_NEEDS_CSUM, vnet.GSO_TCPV4,
                                     hdr_len=14 + 20 + 32, gso_size=1500 - 20 - 32,
                                     csum_start=34, csum_offset=16)
    # The checksum field is now partial: finishing it gives the full checksum back.
    vnet.complete_checksum(header, frame)
    wire_tcp.parse(memoryview(frame)[34:], SRC, DST)


def test_tso_header_refuses_what_is_not_ipv4_tcp():
    udp = wire_udp.build(wire_udp.UdpHeader(5000, 7), bytes(3000), SRC, DST)
    frame = bytearray(wire_eth.build(ETH, wire_ipv4.build(
        wire_ipv4.IPv4Header(SRC, DST, wire_ipv4.PROTO_UDP), udp)))
    assert vnet.tso_header(frame, 1500) is None
    arp_like = bytearray(wire_eth.build(wire_eth.EthernetHeader(ETH.dst, ETH.src, 0x0806), bytes(3000)))
    assert vnet.tso_header(arp_like, 1500) is None
    assert vnet.tso_header(bytearray(40), 1500) is None


def test_tap_argument_and_spec():
    assert parse_tap_argument("ns0", "tap:ns0") == ("ns0", False)
    assert parse_tap_argument("ns0,offload", "tap:ns0,offload") == ("ns0", True)
    with pytest.raises(ConfigError, match="unknown TAP option"):
        parse_tap_argument("ns0,turbo", "tap:ns0,turbo")
    assert is_offload_spec("tap:ns0,offload")
    assert is_offload_spec("tap:ns0,offload?loss=0.1")
    assert not is_offload_spec("tap:ns0")
    assert not is_offload_spec("afpacket:offload")


def test_offload_buffers_hold_a_whole_datagram():
    pool = MbufPool(2, OFFLOAD_BUFFER_SIZE)
    m = pool.alloc()
    m.set_data(bytes(14 + MAX_DATAGRAM + 4))  # a maximal frame with a VLAN tag fits
    assert OFFLOAD_POOL_COUNT * OFFLOAD_BUFFER_SIZE < 100 * 1024 * 1024


def test_configure_stack_opens_the_stack_to_big_frames():
    from netstack.stack import Stack, StackConfig

    stack = Stack(StackConfig(mac=b"\x02\x00\x00\x00\x00\x02", address="192.0.2.2/24"),
                  MbufPool(4, OFFLOAD_BUFFER_SIZE))
    port = TapPort.__new__(TapPort)  # no device: only configure_stack's arithmetic is tested
    port.offload = False
    port.configure_stack(stack)
    assert stack.tcp.tso_max == 0 and stack.ipv4.tso_max == 0
    port.offload = True
    port.configure_stack(stack)
    assert stack.ethernet.max_payload == MAX_DATAGRAM
    assert stack.ipv4.tso_max == MAX_DATAGRAM
    assert 60000 < stack.tcp.tso_max <= MAX_DATAGRAM - 20 - 60


def test_an_offload_tap_refuses_a_pool_of_small_buffers():
    # Checked before any device is opened, so this needs no root.
    with pytest.raises(ConfigError, match="64 KB buffers"):
        TapPort("nsx0", offload=True, pool=MbufPool(4))
