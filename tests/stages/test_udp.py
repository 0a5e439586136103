"""UDP (RFC 768, RFC 1122 §4.1): demultiplexing, checksums, queues, broadcasts, port
unreachable, ICMP errors, big datagrams and ARP, as transcripts against one sans-I/O stack."""

import errno
from ipaddress import IPv4Address

import pytest

from netstack.stages.udp import DATAGRAM_OVERHEAD, UdpEndpoint
from netstack.testing import (
    FrameMatcher,
    decode,
    icmp_unreachable,
    ipv4_frame,
)
from netstack.wire import icmp as wire_icmp
from netstack.wire import udp as wire_udp
from netstack.wire.ethernet import BROADCAST
from netstack.wire.ipv4 import PROTO_UDP, IPv4Header

from .common import (
    OTHER_IP,
    OTHER_MAC,
    OUR_IP,
    OUR_MAC,
    PEER_IP,
    PEER_MAC,
    make_harness,
)

SUBNET_BROADCAST = IPv4Address("192.0.2.255")
LIMITED_BROADCAST = IPv4Address("255.255.255.255")


# --- frames in and matchers out ------------------------------------------------------------


def udp_frame(payload: bytes, src_port: int = 40000, dst_port: int = 7, *, src=PEER_IP,
              dst=OUR_IP, src_mac=PEER_MAC, dst_mac=OUR_MAC, checksum: bool = True) -> bytes:
    """A UDP datagram in a frame; `checksum=False` sends 0, "no checksum" (RFC 768)."""
    src, dst = IPv4Address(src), IPv4Address(dst)
    header = wire_udp.UdpHeader(src_port, dst_port)
    datagram = wire_udp.build(header, payload, *((src, dst) if checksum else (None, None)))
    return ipv4_frame(dst_mac, src_mac, IPv4Header(src, dst, PROTO_UDP), datagram)


def udp_datagram(dst=PEER_IP, dst_port: int | None = None, payload: bytes | None = None,
                 src_port: int | None = None, eth_dst: bytes | None = None) -> FrameMatcher:
    """A UDP datagram with a valid checksum (and these ports and data, when given)."""

    def check(fields: dict) -> bool:
        ip = fields["ip.header"]
        try:
            header, data = wire_udp.parse(fields["payload"], ip.src, ip.dst)
        except Exception:  # noqa: BLE001 - any parse failure is a mismatch
            return False
        return (
            (dst_port is None or header.dst_port == dst_port)
            and (src_port is None or header.src_port == src_port)
            and (payload is None or bytes(data) == payload)
        )

    what = f"UDP datagram to {dst}:{dst_port}" + (f" ({len(payload)}B)" if payload else "")
    fields = {"ip.protocol": PROTO_UDP, "ip.dst": IPv4Address(dst), "eth.dst": eth_dst}
    return FrameMatcher(what, fields, check)


def payloads(ep: UdpEndpoint) -> list[bytes]:
    return [data for data, _source in ep.queue]


def icmp_error_frame(icmp_type: int, code: int, about: bytes, reporter=PEER_IP) -> bytes:
    """An ICMP error from `reporter` quoting the IP datagram inside frame `about`."""
    quoted = about[14 : 14 + 20 + 8]
    message = wire_icmp.build(wire_icmp.IcmpHeader(icmp_type, code), quoted)
    header = IPv4Header(IPv4Address(reporter), OUR_IP, 1)
    return ipv4_frame(OUR_MAC, PEER_MAC, header, message)


# --- demultiplexing ------------------------------------------------------------------------


def test_a_datagram_reaches_the_endpoint_bound_to_its_port():
    h = make_harness(peer_known=True)
    ep = h.stack.udp.bind(None, 7)
    h.receive(udp_frame(b"hello", 40000, 7))
    h.expect_nothing()
    assert list(ep.queue) == [(b"hello", ("192.0.2.1", 40000))]
    assert ep.queued_bytes == 5 + DATAGRAM_OVERHEAD
    h.expect_counter("udp.rx.datagrams", 1)


def test_an_exact_bind_wins_over_the_wildcard():
    h = make_harness(peer_known=True)
    wildcard = h.stack.udp.bind("0.0.0.0", 53, reuse_addr=True)
    exact = h.stack.udp.bind(OUR_IP, 53, reuse_addr=True)
    h.receive(udp_frame(b"query", dst_port=53))
    assert payloads(exact) == [b"query"] and payloads(wildcard) == []
    h.stack.udp.close(exact)
    h.receive(udp_frame(b"again", dst_port=53))
    assert payloads(wildcard) == [b"again"]


def test_a_connected_endpoint_takes_only_its_peer_and_wins_over_unconnected_ones():
    h = make_harness(peer_known=True)
    listener = h.stack.udp.bind(None, 5000, reuse_addr=True)
    connected = h.stack.udp.bind(None, 5000, reuse_addr=True)
    h.stack.udp.connect(connected, PEER_IP, 6000)
    assert connected.local == (OUR_IP, 5000)  # connect narrows the wildcard, as on Linux
    h.receive(udp_frame(b"from the peer", 6000, 5000))
    h.receive(udp_frame(b"from another port", 6001, 5000))
    h.receive(udp_frame(b"from another host", 6000, 5000, src=OTHER_IP, src_mac=OTHER_MAC))
    assert payloads(connected) == [b"from the peer"]
    assert payloads(listener) == [b"from another port", b"from another host"]


def test_a_connected_endpoint_alone_refuses_strangers_with_port_unreachable():
    h = make_harness(peer_known=True, static_arp={PEER_IP: PEER_MAC, OTHER_IP: OTHER_MAC})
    ep = h.stack.udp.bind(None, 5000)
    h.stack.udp.connect(ep, PEER_IP, 6000)
    h.receive(udp_frame(b"stranger", 6000, 5000, src=OTHER_IP, src_mac=OTHER_MAC))
    h.expect(icmp_unreachable(wire_icmp.CODE_PORT_UNREACHABLE, dst=OTHER_IP))
    assert not ep.queue


def test_binding_conflicts_follow_linux_so_reuseaddr_rules():
    udp = make_harness().stack.udp
    first = udp.bind(None, 7)
    for address in (None, OUR_IP):
        with pytest.raises(OSError) as info:
            udp.bind(address, 7, reuse_addr=True)  # both must ask for it
        assert info.value.errno == errno.EADDRINUSE
    udp.close(first)
    shared = [udp.bind(None, 7, reuse_addr=True), udp.bind(OUR_IP, 7, reuse_addr=True)]
    assert all(ep.local[1] == 7 for ep in shared)
    with pytest.raises(OSError) as info:
        udp.bind(OTHER_IP, 8)
    assert info.value.errno == errno.EADDRNOTAVAIL
    with pytest.raises(OSError) as info:
        udp.bind(None, 9, endpoint=shared[0])
    assert info.value.errno == errno.EINVAL  # already bound


def test_with_so_reuseaddr_the_latest_bind_gets_unicast_and_all_get_broadcast():
    h = make_harness(peer_known=True)
    older = h.stack.udp.bind(None, 67, reuse_addr=True)
    newer = h.stack.udp.bind(None, 67, reuse_addr=True)
    h.receive(udp_frame(b"unicast", dst_port=67))
    h.receive(udp_frame(b"everyone", dst_port=67, dst=SUBNET_BROADCAST, dst_mac=BROADCAST))
    assert payloads(newer) == [b"unicast", b"everyone"]
    assert payloads(older) == [b"everyone"]


def test_ephemeral_ports_come_from_the_configured_range_and_run_out_with_eagain():
    udp = make_harness(ephemeral_port_first=60000, ephemeral_port_last=60003).stack.udp
    eps = [udp.bind(None, 0) for _ in range(4)]
    assert sorted(ep.local[1] for ep in eps) == [60000, 60001, 60002, 60003]
    with pytest.raises(BlockingIOError):
        udp.bind(None, 0)
    udp.close(eps[2])
    assert udp.bind(None, 0).local[1] == eps[2].local[1]


# --- checksums and malformed datagrams -----------------------------------------------------


def test_a_zero_checksum_means_none_and_is_accepted():
    h = make_harness(peer_known=True)
    ep = h.stack.udp.bind(None, 7)
    h.receive(udp_frame(b"unchecked", checksum=False))
    assert payloads(ep) == [b"unchecked"]


@pytest.mark.parametrize(
    ("damage", "counter"),
    [
        (lambda d: d[:-1] + bytes([d[-1] ^ 0xFF]), "udp.drop.bad_checksum"),
        (lambda d: d[:4] + (len(d) + 1).to_bytes(2, "big") + d[6:], "udp.drop.bad_length"),
        (lambda d: d[:4] + (7).to_bytes(2, "big") + d[6:], "udp.drop.bad_length"),
        (lambda d: d[:7], "udp.drop.truncated"),
    ],
    ids=["bad checksum", "length too long", "length below header", "truncated header"],
)
def test_malformed_datagrams_are_dropped_counted_and_never_answered(damage, counter):
    h = make_harness(peer_known=True)
    ep = h.stack.udp.bind(None, 7)
    good = udp_frame(b"payload")
    datagram = damage(good[34:])
    header = IPv4Header(PEER_IP, OUR_IP, PROTO_UDP)
    h.receive(ipv4_frame(OUR_MAC, PEER_MAC, header, datagram))
    h.expect_nothing()
    h.expect_counter(counter, 1)
    h.expect_counter("udp.rx.datagrams", 0)
    assert not ep.queue


# --- the receive queue ---------------------------------------------------------------------


def test_a_full_receive_queue_drops_and_counts():
    h = make_harness(peer_known=True, udp_rcvbuf=3 * (100 + DATAGRAM_OVERHEAD))
    ep = h.stack.udp.bind(None, 7)
    for n in range(5):
        h.receive(udp_frame(bytes([n]) * 100))
    assert payloads(ep) == [bytes([n]) * 100 for n in range(3)]
    assert ep.drops == 2
    h.expect_counter("udp.drop.rcvbuf_full", 2)
    ep.take()  # the application reads one: room for one more
    h.receive(udp_frame(b"fits again"))
    assert payloads(ep)[-1] == b"fits again"


def test_a_datagram_bigger_than_the_buffer_still_fits_an_empty_queue():
    h = make_harness(peer_known=True, udp_rcvbuf=10)
    ep = h.stack.udp.bind(None, 7)
    h.receive(udp_frame(b"x" * 1000))
    h.receive(udp_frame(b"y"))
    assert payloads(ep) == [b"x" * 1000]
    h.expect_counter("udp.drop.rcvbuf_full", 1)


def test_the_guard_is_held_while_the_queue_changes_and_on_event_runs():
    h = make_harness(peer_known=True)
    ep = h.stack.udp.bind(None, 7)
    log = []

    class Guard:
        held = False

        def __enter__(self):
            self.held = True

        def __exit__(self, *exc):
            self.held = False

    ep.guard = guard = Guard()
    ep.on_event = lambda: log.append((guard.held, len(ep.queue)))
    h.receive(udp_frame(b"one"))
    assert log == [(True, 1)]


# --- port unreachable ----------------------------------------------------------------------


def test_a_closed_port_gets_port_unreachable_quoting_the_datagram():
    h = make_harness(peer_known=True)
    sent = udp_frame(b"anyone?", 40000, 9999)
    h.receive(sent)
    reply = h.expect(icmp_unreachable(wire_icmp.CODE_PORT_UNREACHABLE, dst=PEER_IP))
    assert decode(reply)["payload"] == sent[14 : 14 + 28]  # IP header + 8 bytes (RFC 792)
    h.expect_counter("udp.drop.no_socket", 1)
    h.expect_counter("udp.tx.port_unreachable", 1)


def test_port_unreachable_is_rate_limited_and_the_excess_counted():
    h = make_harness(peer_known=True, icmp_error_burst=3, icmp_error_rate=1.0)
    for _ in range(5):
        h.receive(udp_frame(b"?", dst_port=9999))
    for _ in range(3):
        h.expect(icmp_unreachable(wire_icmp.CODE_PORT_UNREACHABLE))
    h.expect_nothing()
    h.expect_counter("icmp.drop.rate_limited", 2)
    h.expect_counter("udp.drop.no_socket", 5)
    h.expect_counter("udp.tx.port_unreachable", 3)
    h.advance(1.0)  # one token back
    h.receive(udp_frame(b"?", dst_port=9999))
    h.expect(icmp_unreachable(wire_icmp.CODE_PORT_UNREACHABLE))


def test_port_unreachable_can_be_turned_off():
    h = make_harness(peer_known=True, udp_port_unreachable=False)
    h.receive(udp_frame(b"?", dst_port=9999))
    h.expect_nothing()
    h.expect_counter("udp.drop.no_socket", 1)


@pytest.mark.parametrize("dst", [SUBNET_BROADCAST, LIMITED_BROADCAST])
def test_broadcasts_to_closed_ports_are_never_answered(dst):
    h = make_harness(peer_known=True)
    h.receive(udp_frame(b"?", dst_port=9999, dst=dst, dst_mac=BROADCAST))
    h.expect_nothing()
    h.expect_counter("udp.drop.no_socket", 1)


# --- broadcasts ----------------------------------------------------------------------------


@pytest.mark.parametrize("dst", [SUBNET_BROADCAST, LIMITED_BROADCAST])
def test_broadcasts_reach_wildcard_endpoints_on_the_port_only(dst):
    h = make_harness(peer_known=True)
    wildcard = h.stack.udp.bind(None, 520)
    exact = h.stack.udp.bind(OUR_IP, 521)
    other_port = h.stack.udp.bind(None, 522)
    h.receive(udp_frame(b"rip", dst_port=520, dst=dst, dst_mac=BROADCAST))
    h.receive(udp_frame(b"rip", dst_port=521, dst=dst, dst_mac=BROADCAST))
    assert payloads(wildcard) == [b"rip"]
    assert not exact.queue and not other_port.queue


def test_sending_a_broadcast_needs_so_broadcast():
    h = make_harness(peer_known=True)
    ep = h.stack.udp.bind(None, 68)
    with pytest.raises(PermissionError):
        h.stack.udp.send(ep, b"discover", (LIMITED_BROADCAST, 67), h.now)
    h.expect_nothing()
    ep.broadcast = True
    h.call("send a broadcast", lambda s, now: s.udp.send(ep, b"discover", ("255.255.255.255", 67),
                                                          now))
    h.expect(udp_datagram(LIMITED_BROADCAST, 67, b"discover", src_port=68, eth_dst=BROADCAST))


# --- KNI -----------------------------------------------------------------------------------


def test_kni_udp_ports_still_go_to_the_kernel_with_a_udp_stage():
    h = make_harness(peer_known=True, kni=True, kni_udp_ports={5353})
    ep = h.stack.udp.bind(None, 7)
    mdns = udp_frame(b"mdns", dst_port=5353)
    h.receive(mdns)
    h.expect_kni(mdns)
    h.receive(udp_frame(b"echo", dst_port=7))
    h.expect_no_kni()
    assert payloads(ep) == [b"echo"]
