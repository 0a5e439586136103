"""Cross-checks against scapy, in both directions.

scapy -> us: scapy builds a packet from field values, and we parse the same values.
us -> scapy: we build, scapy dissects the same values, and scapy's own checksum code agrees
with the checksums we wrote.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import (
    ICMP,
    IP,
    TCP,
    UDP,
    IPOption_NOP,
    IPOption_Router_Alert,
    IPOption_RR,
    in4_chksum,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import checksum as scapy_checksum

from netstack.wire import arp, ethernet, icmp, ipv4, tcp, udp
from netstack.wire.ethernet import format_mac
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

EXAMPLES = settings(max_examples=150, deadline=None)

# Well-formed IPv4 options scapy can dissect: NOP, Router Alert (RFC 2113) and Record Route.
# At most 5: five 7-byte Record Routes still fit in the 40 bytes of options.
ip_option_lists = st.lists(
    st.sampled_from([IPOption_NOP(), IPOption_Router_Alert(), IPOption_RR(routers=["192.0.2.1"])]),
    max_size=5,
)


def ip_options_bytes(options: list) -> bytes:
    raw = b"".join(bytes(o) for o in options)
    return raw + bytes(-len(raw) % 4)


def zero_field(data: bytes, offset: int) -> bytes:
    """`data` with the 16-bit checksum field at `offset` cleared, as it was when computed."""
    return data[:offset] + b"\x00\x00" + data[offset + 2 :]


def field16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "big")


def ip_flags(header: ipv4.IPv4Header) -> int:
    """scapy's 3-bit flags value: reserved (evil) = 4, DF = 2, MF = 1."""
    return header.reserved_flag << 2 | header.dont_fragment << 1 | header.more_fragments


def scapy_tcp_options(options: tuple[tcp.TcpOption, ...]) -> list:
    converted = []
    for option in options:
        match option:
            case tcp.MssOption(mss):
                converted.append(("MSS", mss))
            case tcp.WindowScaleOption(shift):
                converted.append(("WScale", shift))
            case tcp.SackPermittedOption():
                converted.append(("SAckOK", b""))
            case tcp.SackOption(blocks):
                converted.append(("SAck", tuple(edge for block in blocks for edge in block)))
            case tcp.TimestampOption(tsval, tsecr):
                converted.append(("Timestamp", (tsval, tsecr)))
            case tcp.NopOption():
                converted.append(("NOP", None))
            case tcp.EndOption():
                converted.append(("EOL", None))
            case tcp.UnknownOption(kind, data):
                converted.append((kind, data))
    return converted


# --- Ethernet -------------------------------------------------------------------------------


def scapy_frame(header: ethernet.EthernetHeader, payload: bytes) -> bytes:
    types = [tag.tpid for tag in header.vlans] + [header.ethertype]
    pkt = Ether(dst=format_mac(header.dst), src=format_mac(header.src), type=types[0])
    for tag, next_type in zip(header.vlans, types[1:], strict=True):
        pkt = pkt / Dot1Q(prio=tag.pcp, dei=int(tag.dei), vlan=tag.vid, type=next_type)
    return bytes(pkt / Raw(payload))


@EXAMPLES
@given(ethernet_headers, payloads)
def test_ethernet_from_scapy(units, header: ethernet.EthernetHeader, payload: bytes) -> None:
    codec = units.ethernet_codec
    assert codec.parse(scapy_frame(header, payload)) == (header, payload)


@EXAMPLES
@given(ethernet_headers)
def test_ethernet_to_scapy(units, header: ethernet.EthernetHeader) -> None:
    codec = units.ethernet_codec
    pkt = Ether(codec.build(header))
    assert (pkt.dst, pkt.src) == (format_mac(header.dst), format_mac(header.src))
    layer, next_type = pkt.payload, pkt.type
    for tag in header.vlans:
        assert isinstance(layer, Dot1Q)  # scapy's Dot1AD is a Dot1Q too
        assert next_type == tag.tpid
        assert (layer.vlan, layer.prio, bool(layer.dei)) == (tag.vid, tag.pcp, tag.dei)
        layer, next_type = layer.payload, layer.type
    assert next_type == header.ethertype


# --- ARP ------------------------------------------------------------------------------------


@EXAMPLES
@given(arp_packets)
def test_arp_from_scapy(pkt: arp.ArpPacket) -> None:
    data = bytes(ARP(op=pkt.op, hwsrc=format_mac(pkt.sender_mac), psrc=str(pkt.sender_ip),
                     hwdst=format_mac(pkt.target_mac), pdst=str(pkt.target_ip)))
    assert arp.parse(data) == pkt


@EXAMPLES
@given(arp_packets)
def test_arp_to_scapy(pkt: arp.ArpPacket) -> None:
    dissected = ARP(arp.build(pkt))
    assert (dissected.hwtype, dissected.ptype, dissected.hwlen, dissected.plen) == (1, 0x800, 6, 4)
    assert (dissected.op, dissected.hwsrc, dissected.psrc, dissected.hwdst, dissected.pdst) == (
        pkt.op, format_mac(pkt.sender_mac), str(pkt.sender_ip),
        format_mac(pkt.target_mac), str(pkt.target_ip),
    )


# --- IPv4 -----------------------------------------------------------------------------------


def scapy_ip(header: ipv4.IPv4Header, options: list) -> IP:
    return IP(src=str(header.src), dst=str(header.dst), proto=header.protocol, ttl=header.ttl,
              tos=header.tos, id=header.identification, flags=ip_flags(header),
              frag=header.fragment_offset // ipv4.FRAGMENT_UNIT, options=options)


@EXAMPLES
@given(ipv4_headers(options=st.just(b"")), ip_option_lists, payloads)
def test_ipv4_from_scapy(units, header: ipv4.IPv4Header, options: list, payload: bytes) -> None:
    codec = units.ipv4_codec
    expected = ipv4.IPv4Header(**{**_fields(header), "options": ip_options_bytes(options)})
    assert codec.parse(bytes(scapy_ip(header, options) / Raw(payload))) == (expected, payload)


@EXAMPLES
@given(ipv4_headers(options=ip_option_lists.map(ip_options_bytes)), payloads)
def test_ipv4_to_scapy(units, header: ipv4.IPv4Header, payload: bytes) -> None:
    codec = units.ipv4_codec
    datagram = codec.build(header, payload)
    pkt = IP(datagram)
    assert (pkt.version, pkt.ihl * 4, pkt.len) == (4, header.header_len, len(datagram))
    assert (pkt.src, pkt.dst, pkt.proto, pkt.ttl, pkt.tos, pkt.id) == (
        str(header.src), str(header.dst), header.protocol, header.ttl, header.tos,
        header.identification,
    )
    assert (int(pkt.flags), pkt.frag * ipv4.FRAGMENT_UNIT) == (
        ip_flags(header), header.fragment_offset
    )
    head = datagram[: header.header_len]
    assert bytes(pkt)[: header.header_len] == head  # options dissect and rebuild identically
    assert pkt.chksum == scapy_checksum(zero_field(head, ipv4.CHECKSUM_OFFSET))


def _fields(header: ipv4.IPv4Header) -> dict:
    return {name: getattr(header, name) for name in ipv4.IPv4Header.__dataclass_fields__}


# --- ICMP -----------------------------------------------------------------------------------

scapy_icmp_messages = st.one_of(
    st.builds(lambda t, i, s: (ICMP(type=t, id=i, seq=s), icmp.IcmpHeader(t, 0, i << 16 | s)),
              st.sampled_from([icmp.TYPE_ECHO_REQUEST, icmp.TYPE_ECHO_REPLY]),
              st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    st.builds(lambda mtu: (ICMP(type=3, code=4, nexthopmtu=mtu),
                           icmp.IcmpHeader.dest_unreachable(icmp.CODE_FRAGMENTATION_NEEDED, mtu)),
              st.integers(0, 0xFFFF)),
    st.builds(lambda code: (ICMP(type=11, code=code), icmp.IcmpHeader.time_exceeded(code)),
              st.sampled_from([icmp.CODE_TTL_EXCEEDED, icmp.CODE_REASSEMBLY_TIME_EXCEEDED])),
)


@EXAMPLES
@given(scapy_icmp_messages, payloads)
def test_icmp_from_scapy(message: tuple, payload: bytes) -> None:
    scapy_header, expected = message
    assert icmp.parse(bytes(scapy_header / Raw(payload))) == (expected, payload)


@EXAMPLES
# scapy dissects timestamp and address-mask fields out of the data, so give it at least 12 bytes.
@given(icmp_headers, st.binary(min_size=12, max_size=64))
def test_icmp_to_scapy(header: icmp.IcmpHeader, payload: bytes) -> None:
    data = icmp.build(header, payload)
    pkt = ICMP(data)
    assert (pkt.type, pkt.code) == (header.type, header.code)
    if header.type in (icmp.TYPE_ECHO_REQUEST, icmp.TYPE_ECHO_REPLY):
        assert (pkt.id, pkt.seq) == (header.identifier, header.sequence)
    assert pkt.chksum == scapy_checksum(zero_field(data, icmp.CHECKSUM_OFFSET))


# --- UDP ------------------------------------------------------------------------------------


@EXAMPLES
@given(udp_headers, payloads, addresses, addresses, st.booleans())
def test_udp_from_scapy(units, header, payload, src, dst, without_checksum: bool) -> None:
    codec = units.udp_codec
    segment = UDP(sport=header.src_port, dport=header.dst_port)
    if without_checksum:
        segment.chksum = 0
    datagram = bytes(IP(src=str(src), dst=str(dst)) / segment / Raw(payload))
    _, transport = ipv4.parse(datagram)
    assert codec.parse(transport, src, dst) == (header, payload)


@EXAMPLES
@given(udp_headers, payloads, addresses, addresses)
def test_udp_to_scapy(units, header: udp.UdpHeader, payload: bytes, src, dst) -> None:
    codec = units.udp_codec
    data = codec.build(header, payload, src, dst)
    ip = IP(src=str(src), dst=str(dst), proto=ipv4.PROTO_UDP)
    pkt = UDP(data)
    assert (pkt.sport, pkt.dport, pkt.len) == (header.src_port, header.dst_port, len(data))
    expected = in4_chksum(ipv4.PROTO_UDP, ip, zero_field(data, udp.CHECKSUM_OFFSET))
    assert pkt.chksum == (expected or udp.ZERO_CHECKSUM_SENT_AS)


# --- TCP ------------------------------------------------------------------------------------


def scapy_tcp(header: tcp.TcpHeader) -> TCP:
    # scapy splits our 4 reserved bits as 3 "reserved" bits and the NS flag (its flag bit 8).
    ns = header.reserved & 1
    return TCP(sport=header.src_port, dport=header.dst_port, seq=header.seq, ack=header.ack,
               flags=header.flags | ns << 8, reserved=header.reserved >> 1,
               window=header.window, urgptr=header.urgent,
               options=scapy_tcp_options(header.options))


@EXAMPLES
@given(tcp_headers, payloads, addresses, addresses)
def test_tcp_from_scapy(units, header: tcp.TcpHeader, payload: bytes, src, dst) -> None:
    codec = units.tcp_codec
    datagram = bytes(IP(src=str(src), dst=str(dst)) / scapy_tcp(header) / Raw(payload))
    _, transport = ipv4.parse(datagram)
    assert codec.parse(transport, src, dst) == (header, payload)


@EXAMPLES
@given(tcp_headers, payloads, addresses, addresses)
def test_tcp_to_scapy(units, header: tcp.TcpHeader, payload: bytes, src, dst) -> None:
    codec = units.tcp_codec
    data = codec.build(header, payload, src, dst)
    pkt = TCP(data)
    assert (pkt.sport, pkt.dport, pkt.seq, pkt.ack, pkt.window, pkt.urgptr) == (
        header.src_port, header.dst_port, header.seq, header.ack, header.window, header.urgent
    )
    assert pkt.dataofs * 4 == header.header_len
    assert int(pkt.flags) & tcp.FLAGS_MASK == header.flags
    assert pkt.reserved << 1 | int(pkt.flags) >> 8 == header.reserved
    assert pkt.options == scapy_tcp_options(header.options)
    ip = IP(src=str(src), dst=str(dst), proto=ipv4.PROTO_TCP)
    assert pkt.chksum == in4_chksum(ipv4.PROTO_TCP, ip, zero_field(data, tcp.CHECKSUM_OFFSET))


def test_tcp_linux_style_syn_from_scapy(units) -> None:
    """The option layout Linux puts on a SYN, as a fixed example for the reader."""
    codec = units.tcp_codec
    src, dst = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
    syn = TCP(sport=40000, dport=80, seq=1000, flags="S", window=64240,
              options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
                       ("WScale", 7)])
    _, transport = ipv4.parse(bytes(IP(src=str(src), dst=str(dst)) / syn))
    header, payload = codec.parse(transport, src, dst)
    assert header.has(tcp.FLAG_SYN) and not header.has(tcp.FLAG_ACK)
    assert tcp.find_option(header, tcp.MssOption) == tcp.MssOption(1460)
    assert tcp.find_option(header, tcp.WindowScaleOption) == tcp.WindowScaleOption(7)
    assert tcp.find_option(header, tcp.TimestampOption) == tcp.TimestampOption(1, 0)
    assert tcp.find_option(header, tcp.SackPermittedOption) is not None
    assert bytes(payload) == b""
    assert tcp.describe(header).startswith("TCP 40000 > 80 [S] seq 1000")
