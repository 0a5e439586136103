"""Hypothesis strategies for every wire header, shared by the wire tests.

Each strategy generates exactly the values that `build` accepts and `parse` gives back
unchanged, so `parse(build(x)) == x` can be stated for all of them.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import strategies as st

from netstack.wire import arp, ethernet, icmp, ipv4, tcp, udp
from netstack.wire.tcp_options import encode_options

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
macs = st.binary(min_size=6, max_size=6)
addresses = u32.map(IPv4Address)
payloads = st.binary(max_size=64)

vlan_tags = st.builds(
    ethernet.VlanTag,
    vid=st.integers(0, ethernet.TCI_VID_MASK),
    pcp=st.integers(0, ethernet.MAX_PCP),
    dei=st.booleans(),
    tpid=st.sampled_from(sorted(ethernet.TAG_TPIDS)),
)
ethertypes = st.integers(ethernet.MIN_ETHERTYPE, ethernet.MAX_ETHERTYPE).filter(
    lambda t: t not in ethernet.TAG_TPIDS
)
ethernet_headers = st.builds(
    ethernet.EthernetHeader,
    dst=macs,
    src=macs,
    ethertype=ethertypes,
    vlans=st.lists(vlan_tags, max_size=3).map(tuple),
)

arp_packets = st.builds(
    arp.ArpPacket,
    op=u16,
    sender_mac=macs,
    sender_ip=addresses,
    target_mac=macs,
    target_ip=addresses,
)


def ipv4_headers(options: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy:
    """IPv4 headers; by default the options are any bytes of a length multiple of 4."""
    if options is None:
        options = st.integers(0, ipv4.MAX_OPTIONS_LEN // 4).flatmap(
            lambda words: st.binary(min_size=4 * words, max_size=4 * words)
        )
    return st.builds(
        ipv4.IPv4Header,
        src=addresses,
        dst=addresses,
        protocol=u8,
        ttl=u8,
        tos=u8,
        identification=u16,
        dont_fragment=st.booleans(),
        more_fragments=st.booleans(),
        fragment_offset=st.integers(0, ipv4.FRAGMENT_OFFSET_MASK).map(
            lambda blocks: blocks * ipv4.FRAGMENT_UNIT
        ),
        options=options,
        reserved_flag=st.booleans(),
    )


icmp_headers = st.builds(icmp.IcmpHeader, type=u8, code=u8, rest=u32)
udp_headers = st.builds(udp.UdpHeader, src_port=u16, dst_port=u16)

# Kinds that neither we nor scapy decode, so both keep them as (kind, raw data).
SCAPY_KNOWN_KINDS = {14, 15, 19, 25, 28, 29, 34}
unknown_kinds = st.integers(0, 0xFF).filter(
    lambda k: k not in (tcp.KIND_END, tcp.KIND_NOP, tcp.KIND_MSS, tcp.KIND_WINDOW_SCALE,
                        tcp.KIND_SACK_PERMITTED, tcp.KIND_SACK, tcp.KIND_TIMESTAMP)
    and k not in SCAPY_KNOWN_KINDS
)
sack_blocks = st.lists(st.tuples(u32, u32), min_size=1, max_size=4).map(tuple)
single_options = st.one_of(
    st.builds(tcp.MssOption, u16),
    st.builds(tcp.WindowScaleOption, u8),
    st.just(tcp.SackPermittedOption()),
    st.builds(tcp.SackOption, sack_blocks),
    st.builds(tcp.TimestampOption, u32, u32),
    st.just(tcp.NopOption()),
    st.builds(tcp.UnknownOption, unknown_kinds, st.binary(max_size=12)),
)


@st.composite
def tcp_option_lists(draw: st.DrawFn) -> tuple[tcp.TcpOption, ...]:
    """The round-trip domain: End only last, and either a multiple of 4 bytes or ending in End.

    Options are drawn while they fit in 40 bytes; then the list either gets an End, or NOPs
    up to the next multiple of 4 (a list already aligned gets none, so every member of the
    domain can come out).
    """
    options: list[tcp.TcpOption] = []
    used = 0
    for _ in range(draw(st.integers(0, 6))):
        option = draw(single_options)
        size = len(option.encode())
        if used + size > tcp.MAX_OPTIONS_LEN - 1:  # keep a byte for a closing End
            break
        options.append(option)
        used += size
    if draw(st.booleans()):
        options.append(tcp.EndOption())
    else:
        options.extend([tcp.NopOption()] * (-used % 4))
    assert len(encode_options(options)) <= tcp.MAX_OPTIONS_LEN
    return tuple(options)


tcp_headers = st.builds(
    tcp.TcpHeader,
    src_port=u16,
    dst_port=u16,
    seq=u32,
    ack=u32,
    flags=u8,
    window=u16,
    urgent=u16,
    options=tcp_option_lists(),
    reserved=st.integers(0, tcp.RESERVED_MASK),
)
