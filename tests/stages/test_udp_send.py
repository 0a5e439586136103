"""UDP sending (RFC 768): checksummed datagrams, errors, 65507-byte datagrams through
fragmentation, waiting for ARP, and the ICMP errors that come back about what we sent."""

import errno

import pytest

from netstack.stages.fragmentation import fragment
from netstack.stages.udp import MAX_PAYLOAD, UdpEndpoint
from netstack.testing import arp_frame, arp_request, ipv4_frame
from netstack.wire import arp as wire_arp
from netstack.wire import icmp as wire_icmp
from netstack.wire import udp as wire_udp
from netstack.wire.ipv4 import PROTO_UDP, IPv4Header

from .common import FAR_IP, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, make_harness
from .test_udp import icmp_error_frame, payloads, udp_datagram

# --- sending -------------------------------------------------------------------------------


def test_send_builds_a_checksummed_datagram_from_the_bound_port():
    h = make_harness(peer_known=True)
    ep = h.stack.udp.bind(None, 5353)
    h.call("send", lambda s, now: s.udp.send(ep, b"hi", (PEER_IP, 53), now))
    h.expect(udp_datagram(PEER_IP, 53, b"hi", src_port=5353))
    h.expect_counter("udp.tx.datagrams", 1)


def test_send_binds_an_ephemeral_port_and_connected_sends_need_no_address():
    h = make_harness(peer_known=True)
    ep = UdpEndpoint()
    h.stack.udp.connect(ep, PEER_IP, 53)
    port = ep.local[1]
    assert 49152 <= port <= 65535
    h.call("send", lambda s, now: s.udp.send(ep, b"q", None, now))
    h.expect(udp_datagram(PEER_IP, 53, b"q", src_port=port))


@pytest.mark.parametrize(
    ("payload", "dst", "code"),
    [
        (b"x", None, errno.EDESTADDRREQ),
        (b"x" * (MAX_PAYLOAD + 1), (PEER_IP, 7), errno.EMSGSIZE),
        (b"x", (PEER_IP, 0), errno.EINVAL),
        (b"x", (FAR_IP, 7), errno.ENETUNREACH),  # this stack has no gateway
    ],
)
def test_send_refuses_what_it_cannot_send(payload, dst, code):
    h = make_harness(gateway=None)
    ep = h.stack.udp.bind(None, 0)
    with pytest.raises(OSError) as info:
        h.stack.udp.send(ep, payload, dst, h.now)
    assert info.value.errno == code
    h.expect_nothing()


def test_a_65507_byte_datagram_is_fragmented_on_the_way_out():
    h = make_harness(peer_known=True)
    ep = h.stack.udp.bind(None, 7)
    data = bytes(i % 251 for i in range(MAX_PAYLOAD))
    h.call("send 65507 bytes", lambda s, now: s.udp.send(ep, data, (PEER_IP, 9), now))
    whole = h.expect_reassembled(udp_datagram(PEER_IP, 9, data))
    assert len(whole) == 14 + 20 + 8 + MAX_PAYLOAD
    h.expect_nothing()


def test_a_65507_byte_datagram_is_reassembled_on_the_way_in():
    h = make_harness(peer_known=True)
    ep = h.stack.udp.bind(None, 7)
    data = bytes(i % 253 for i in range(MAX_PAYLOAD))
    datagram = wire_udp.build(wire_udp.UdpHeader(40000, 7), data, PEER_IP, OUR_IP)
    header = IPv4Header(PEER_IP, OUR_IP, PROTO_UDP, identification=77)
    pieces = fragment(header, memoryview(datagram), 1500)
    assert len(pieces) == 45
    for piece_header, piece in reversed(pieces):  # any order will do
        h.receive(ipv4_frame(OUR_MAC, PEER_MAC, piece_header, bytes(piece)))
    assert payloads(ep) == [data]


# --- ARP -----------------------------------------------------------------------------------


def test_a_datagram_waits_for_arp_and_leaves_when_the_reply_comes():
    h = make_harness()
    ep = h.stack.udp.bind(None, 7)
    h.call("send to the unresolved peer", lambda s, now: s.udp.send(ep, b"wait", (PEER_IP, 9), now))
    h.expect(arp_request(target_ip=PEER_IP))
    h.expect_nothing()
    h.receive(arp_frame(wire_arp.OP_REPLY, PEER_MAC, PEER_IP, OUR_IP, OUR_MAC))
    h.expect(udp_datagram(PEER_IP, 9, b"wait"))


def test_big_datagrams_wait_for_arp_whole_or_are_dropped_whole_and_counted():
    h = make_harness(pool_size=512)  # arp_pending_limit 96: two 45-fragment datagrams
    ep = h.stack.udp.bind(None, 7)
    datagrams = [bytes([n]) * MAX_PAYLOAD for n in range(3)]
    for data in datagrams:
        h.call("send 65507 bytes", lambda s, now, d=data: s.udp.send(ep, d, (PEER_IP, 9), now))
    h.expect(arp_request(target_ip=PEER_IP))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.arp_pending_full", 1)  # the third: not a partial datagram
    h.expect_counter("arp.drop.pending_full", 0)
    h.receive(arp_frame(wire_arp.OP_REPLY, PEER_MAC, PEER_IP, OUR_IP, OUR_MAC))
    for data in datagrams[:2]:
        h.expect_reassembled(udp_datagram(PEER_IP, 9, data))
    h.expect_nothing()


def test_arp_giving_up_sets_ehostunreach_on_the_connected_endpoint():
    h = make_harness(arp_retries=1)
    ep = h.stack.udp.bind(None, 7)
    h.stack.udp.connect(ep, PEER_IP, 9)
    h.call("send", lambda s, now: s.udp.send(ep, b"lost", None, now))
    h.expect(arp_request(target_ip=PEER_IP))
    h.advance(1.1)  # the retry interval plus its largest jitter
    assert ep.error == errno.EHOSTUNREACH


# --- ICMP errors about our datagrams --------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (wire_icmp.CODE_PORT_UNREACHABLE, errno.ECONNREFUSED),
        (wire_icmp.CODE_PROTOCOL_UNREACHABLE, errno.ECONNREFUSED),
        (wire_icmp.CODE_HOST_UNREACHABLE, errno.EHOSTUNREACH),
        (wire_icmp.CODE_NET_UNREACHABLE, errno.ENETUNREACH),
    ],
)
def test_icmp_unreachable_sets_a_pending_error_on_the_connected_endpoint(code, expected):
    h = make_harness(peer_known=True)
    connected = h.stack.udp.bind(None, 5000)
    h.stack.udp.connect(connected, PEER_IP, 9)
    unconnected = h.stack.udp.bind(None, 5001)
    events = []
    connected.on_event = lambda: events.append(connected.error)
    h.call("send", lambda s, now: s.udp.send(connected, b"anyone?", None, now))
    ours = h.expect(udp_datagram(PEER_IP, 9))
    h.call("send", lambda s, now: s.udp.send(unconnected, b"anyone?", (PEER_IP, 9), now))
    theirs = h.expect(udp_datagram(PEER_IP, 9))
    h.receive(icmp_error_frame(wire_icmp.TYPE_DEST_UNREACHABLE, code, ours))
    h.receive(icmp_error_frame(wire_icmp.TYPE_DEST_UNREACHABLE, code, theirs))
    assert connected.error == expected and events == [expected]
    assert unconnected.error is None  # Linux tells only connected sockets (no IP_RECVERR)
    h.expect_counter("udp.rx.icmp_error", 1)


def test_time_exceeded_is_a_soft_error_and_sets_nothing():
    h = make_harness(peer_known=True)
    ep = h.stack.udp.bind(None, 5000)
    h.stack.udp.connect(ep, PEER_IP, 9)
    h.call("send", lambda s, now: s.udp.send(ep, b"far", None, now))
    ours = h.expect(udp_datagram(PEER_IP, 9))
    h.receive(icmp_error_frame(wire_icmp.TYPE_TIME_EXCEEDED, 0, ours))
    assert ep.error is None
