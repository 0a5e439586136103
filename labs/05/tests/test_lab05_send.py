"""Lab 5, part 3: datagrams out (RFC 768: the header and the pseudo-header checksum, which
the codec computes for you), the errors a send can raise, and ICMP errors about what we
sent (RFC 1122 §4.1.3.3: pass them to the application)."""

from __future__ import annotations

import errno

from lab05_bench import LIMITED_BROADCAST, Udp, udp_datagram

from netstack.testing import ipv4_packet
from netstack.wire import icmp as wire_icmp
from netstack.wire.ethernet import BROADCAST


def test_send_builds_a_checksummed_datagram_from_the_bound_port(variant):
    """A bound endpoint sends from its port to the given address, with a valid checksum."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.send(ep, b"hello", (str(variant.peer_ip), u.peer_port))
    u.h.expect(udp_datagram(variant.peer_ip, u.peer_port, b"hello", src_port=u.port,
                            eth_dst=variant.peer_mac))
    u.h.expect_counter("udp.tx.datagrams", 1)


def test_the_source_address_is_ours(variant):
    """Even from a wildcard bind, the datagram leaves from our_ip."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.send(ep, b"who am i", (str(variant.peer_ip), u.peer_port))
    u.h.expect(ipv4_packet("IPv4 from our address", src=variant.our_ip, dst=variant.peer_ip))


def test_an_empty_datagram_is_eight_bytes_of_header(variant):
    """A zero-length payload is a valid datagram (UDP length 8)."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.send(ep, b"", (str(variant.peer_ip), u.peer_port))
    frame = u.h.expect(udp_datagram(variant.peer_ip, u.peer_port, b""))
    u.check("the UDP length field", lambda s: int.from_bytes(frame[38:40], "big"), 8)


def test_send_from_an_unbound_endpoint_binds_an_ephemeral_port(variant):
    """The first send binds the endpoint to a port in the ephemeral range; the datagram
    comes from that port."""
    from netstack.stages.udp import UdpEndpoint

    u = Udp(variant, ephemeral_port_first=55000, ephemeral_port_last=55999)
    ep = UdpEndpoint()
    u.send(ep, b"first", (str(variant.peer_ip), u.peer_port))
    u.check("the port, in 55000..55999", lambda s: ep.local is not None
            and 55000 <= ep.local[1] <= 55999, True)
    u.h.expect(udp_datagram(variant.peer_ip, u.peer_port, b"first",
                            src_port=ep.local[1] if ep.local else None))


def test_a_connected_endpoint_sends_without_an_address(variant):
    """send(ep, data, None) goes to the connected peer."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.connect(ep, str(variant.peer_ip), u.peer_port)
    u.send(ep, b"to my peer")
    u.h.expect(udp_datagram(variant.peer_ip, u.peer_port, b"to my peer", src_port=u.port))


def test_no_destination_is_edestaddrreq(variant):
    """Not connected and no address: EDESTADDRREQ."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.send_fails(ep, b"where?", None, errno.EDESTADDRREQ)
    u.h.expect_nothing()


def test_over_65507_bytes_is_emsgsize(variant):
    """65535 less the IPv4 and UDP headers is the largest payload: one more is EMSGSIZE."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.send_fails(ep, bytes(65508), (str(variant.peer_ip), u.peer_port), errno.EMSGSIZE)
    u.h.expect_nothing()


def test_port_zero_as_a_destination_is_einval(variant):
    """Nobody can listen on port 0: EINVAL."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.send_fails(ep, b"x", (str(variant.peer_ip), 0), errno.EINVAL)


def test_a_broadcast_needs_so_broadcast(variant):
    """Without ep.broadcast: EACCES; with it, the datagram goes to ff:ff:ff:ff:ff:ff."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.send_fails(ep, b"all", (str(LIMITED_BROADCAST), u.peer_port), errno.EACCES)
    u.do("ep.broadcast = True (SO_BROADCAST)", lambda s, now: setattr(ep, "broadcast", True))
    u.send(ep, b"all", (str(LIMITED_BROADCAST), u.peer_port))
    u.h.expect(udp_datagram(LIMITED_BROADCAST, u.peer_port, b"all", eth_dst=BROADCAST))


def test_no_route_is_enetunreach(variant):
    """A stack without a gateway cannot reach an off-link address: ENETUNREACH."""
    u = Udp(variant, gateway=None)
    ep = u.bind(None, u.port)
    u.send_fails(ep, b"far", (str(variant.far_ip), u.peer_port), errno.ENETUNREACH)
    u.h.expect_nothing()


def test_a_closed_endpoint_cannot_send(variant):
    """send on a closed endpoint: EBADF."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.close(ep)
    u.send_fails(ep, b"ghost", (str(variant.peer_ip), u.peer_port), errno.EBADF)


def test_a_datagram_bigger_than_the_mtu_leaves_in_fragments(variant):
    """4000 bytes: IPv4 fragments it; put back together, it is our datagram."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    data = bytes(i % 251 for i in range(4000))
    u.send(ep, data, (str(variant.peer_ip), u.peer_port))
    u.h.expect_reassembled(udp_datagram(variant.peer_ip, u.peer_port, data, src_port=u.port))


def test_port_unreachable_about_our_datagram_is_econnrefused_on_the_connected_endpoint(variant):
    """The peer answers port unreachable: the connected endpoint gets ECONNREFUSED,
    on_event tells the socket, udp.rx.icmp_error counts it."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.connect(ep, str(variant.peer_ip), u.peer_port)
    events = []
    u.do("ep.on_event = a recorder", lambda s, now: setattr(ep, "on_event",
                                                           lambda: events.append(ep.error)))
    u.send(ep, b"anyone?")
    ours = u.h.expect(udp_datagram(variant.peer_ip, u.peer_port))
    u.h.receive(u.icmp_error(wire_icmp.TYPE_DEST_UNREACHABLE, wire_icmp.CODE_PORT_UNREACHABLE,
                             ours))
    u.check("ep.error", lambda s: ep.error, errno.ECONNREFUSED)
    u.check("on_event saw", lambda s: events, [errno.ECONNREFUSED])
    u.h.expect_counter("udp.rx.icmp_error", 1)


def test_host_unreachable_is_ehostunreach(variant):
    """ICMP host unreachable (code 1): EHOSTUNREACH."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.connect(ep, str(variant.peer_ip), u.peer_port)
    u.send(ep, b"hello?")
    ours = u.h.expect(udp_datagram(variant.peer_ip, u.peer_port))
    u.h.receive(u.icmp_error(wire_icmp.TYPE_DEST_UNREACHABLE, wire_icmp.CODE_HOST_UNREACHABLE,
                             ours))
    u.check("ep.error", lambda s: ep.error, errno.EHOSTUNREACH)


def test_an_unconnected_endpoint_is_not_told_of_icmp_errors(variant):
    """Linux (without IP_RECVERR) reports errors to connected sockets only: an unconnected
    sender's ep.error stays None; udp.drop.icmp_error_no_socket counts it."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.send(ep, b"anyone?", (str(variant.peer_ip), u.peer_port))
    ours = u.h.expect(udp_datagram(variant.peer_ip, u.peer_port))
    u.h.receive(u.icmp_error(wire_icmp.TYPE_DEST_UNREACHABLE, wire_icmp.CODE_PORT_UNREACHABLE,
                             ours))
    u.check("ep.error", lambda s: ep.error, None)
    u.h.expect_counter("udp.drop.icmp_error_no_socket", 1)


def test_time_exceeded_is_a_soft_error(variant):
    """ICMP time exceeded sets no error (Linux treats it as soft)."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.connect(ep, str(variant.peer_ip), u.peer_port)
    u.send(ep, b"far")
    ours = u.h.expect(udp_datagram(variant.peer_ip, u.peer_port))
    u.h.receive(u.icmp_error(wire_icmp.TYPE_TIME_EXCEEDED, 0, ours))
    u.check("ep.error", lambda s: ep.error, None)


def test_an_echo_round_trip(variant):
    """What the lab's real step does with nc -u: a datagram in, the same bytes back to
    its sender from the service port."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.h.receive(u.frame(b"echo me", src_port=u.peer_port))
    data, (ip, port) = u.do("ep.take()", lambda s, now: ep.take())
    u.send(ep, data, (ip, port))
    u.h.expect(udp_datagram(variant.peer_ip, u.peer_port, b"echo me", src_port=u.port))
