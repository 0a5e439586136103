"""Fragmentation on send: pieces fit the MTU and reassemble to the original."""

from ipaddress import IPv4Address, IPv4Network

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from netstack.testing import icmp_echo_request, ipv4_packet
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire.ipv4 import IPv4Header

from .common import PEER_IP, make_harness

HEADER = IPv4Header(IPv4Address("192.0.2.2"), IPv4Address("192.0.2.1"), 17, identification=99)


@settings(max_examples=150, deadline=None)
@given(payload=st.binary(max_size=5000), mtu=st.integers(68, 9000))
def test_fragments_fit_and_reassemble(units, payload, mtu):
    pieces = units.fragmentation.fragment(HEADER, payload, mtu)
    rebuilt = b""
    for i, (header, data) in enumerate(pieces):
        assert header.header_len + len(data) <= mtu
        assert header.fragment_offset == len(rebuilt)
        assert header.identification == 99
        is_last = i == len(pieces) - 1
        assert header.more_fragments == (not is_last and len(pieces) > 1)
        if not is_last:
            assert len(data) % 8 == 0
        rebuilt += bytes(data)
    assert rebuilt == payload


def test_only_copied_options_go_into_later_fragments(units):
    # Security (130, copied) and Record Route (7, not copied), then padding.
    security = bytes([130, 11]) + bytes(9)
    record_route = bytes([7, 7, 4]) + bytes(4)
    options = security + record_route + bytes(2)
    header = IPv4Header(HEADER.src, HEADER.dst, 17, options=options)
    pieces = units.fragmentation.fragment(header, bytes(200), 100)
    assert pieces[0][0].options == options
    assert all(h.options == security + bytes(1) for h, _ in pieces[1:])


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 6000), route_mtu=st.sampled_from([576, 1000, 1280, 1500]))
def test_stack_fragments_to_the_route_mtu_and_scapy_agrees(size, route_mtu):
    """Every frame leaves within the route MTU; scapy's defragmenter rebuilds the datagram."""
    from scapy.layers.inet import defragment

    h = make_harness(
        peer_known=True,
        routes=((IPv4Network("192.0.2.1/32"), None, route_mtu),),
    )
    payload = bytes(i % 251 for i in range(size))
    h.call(f"send {size} bytes", lambda s, now: s.ipv4.send_payload(PEER_IP, 253, payload, now))
    frames = h.drain()
    assert frames
    packets = [IP(f[14 : 14 + int.from_bytes(f[16:18], "big")]) for f in frames]  # no padding
    for f, p in zip(frames, packets, strict=True):
        assert len(f) - 14 <= route_mtu or len(f) == 60  # 60: a padded minimum-size frame
        assert p.id == packets[0].id
    whole = defragment(packets)
    assert len(whole) == 1 and bytes(whole[0].payload) == payload


def test_stack_fragments_a_big_ping_with_same_id_and_mf_bits():
    """4028 bytes of datagram payload need three 1500-byte pieces. How the bytes are shared
    between them is the sender's choice (RFC 791 §3.2): any contiguous split is accepted."""
    h = make_harness(peer_known=True)
    h.call("ping 4000 bytes", lambda s, now: s.icmp.send_echo(PEER_IP, 3, 1, bytes(4000), now))
    frames = [
        h.expect(ipv4_packet(more_fragments=True, fragment_offset=0)),
        h.expect(ipv4_packet(more_fragments=True)),
        h.expect(ipv4_packet(more_fragments=False)),
    ]
    h.expect_nothing()
    pieces = [wire_ipv4.parse(f[14:]) for f in frames]
    assert len({header.identification for header, _ in pieces}) == 1
    offset = 0
    for header, data in pieces:
        assert header.fragment_offset == offset
        offset += len(data)
    assert offset == 8 + 4000
    assert max(len(f) for f in frames) <= 1514


def test_harness_reassembles_what_the_stack_fragments():
    h = make_harness(peer_known=True)
    h.call("ping 4000 bytes", lambda s, now: s.icmp.send_echo(PEER_IP, 3, 1, b"z" * 4000, now))
    frame = h.expect_reassembled(icmp_echo_request(sequence=1, payload=b"z" * 4000))
    assert Ether(frame)[IP].len == 20 + 8 + 4000
