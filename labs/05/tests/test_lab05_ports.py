"""Lab 5, part 1: the port table seen through bind, connect and close (RFC 768; RFC 6335
§6 and RFC 6056 §3.3.1 for ephemeral ports; Linux's SO_REUSEADDR rules for UDP)."""

from __future__ import annotations

import errno

from lab05_bench import Udp

WILDCARD = "0.0.0.0"


def local(ep):
    return None if ep.local is None else (str(ep.local[0]), ep.local[1])


def test_bind_to_the_wildcard_records_the_binding(variant):
    """bind(None, port) binds 0.0.0.0:port; ep.local says so."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.check("ep.local", lambda s: local(ep), (WILDCARD, u.port))
    u.check("ep.closed", lambda s: ep.closed, False)


def test_bind_to_our_own_address(variant):
    """bind(our_ip, port) binds that address exactly."""
    u = Udp(variant)
    ep = u.bind(str(variant.our_ip), u.port)
    u.check("ep.local", lambda s: local(ep), (str(variant.our_ip), u.port))


def test_bind_to_an_address_that_is_not_ours_is_eaddrnotavail(variant):
    """Another host's address cannot be a local binding."""
    u = Udp(variant)
    u.bind_fails(str(variant.other_ip), u.port, errno.EADDRNOTAVAIL)


def test_a_port_taken_is_eaddrinuse(variant):
    """Two wildcard binds on one port: the second fails."""
    u = Udp(variant)
    u.bind(None, u.port)
    u.bind_fails(None, u.port, errno.EADDRINUSE)


def test_the_wildcard_overlaps_every_address(variant):
    """A wildcard bind conflicts with an exact one on the same port, in either order."""
    u = Udp(variant)
    u.bind(None, u.port)
    u.bind_fails(str(variant.our_ip), u.port, errno.EADDRINUSE)
    u.bind(str(variant.our_ip), u.port + 1)
    u.bind_fails(None, u.port + 1, errno.EADDRINUSE)


def test_so_reuseaddr_shares_a_port_only_when_everyone_asked(variant):
    """Linux's rule: every binding on the port must have SO_REUSEADDR."""
    u = Udp(variant)
    u.bind(None, u.port)
    u.bind_fails(None, u.port, errno.EADDRINUSE, reuse=True)
    first = u.bind(None, u.port + 1, reuse=True)
    second = u.bind(str(variant.our_ip), u.port + 1, reuse=True)
    u.check("both ports", lambda s: (local(first)[1], local(second)[1]),
            (u.port + 1, u.port + 1))
    u.bind_fails(None, u.port + 1, errno.EADDRINUSE)  # a newcomer without it


def test_port_zero_picks_an_ephemeral_port_in_the_configured_range(variant):
    """bind(None, 0) picks a port in [ephemeral_port_first, ephemeral_port_last]."""
    u = Udp(variant, ephemeral_port_first=50000, ephemeral_port_last=50099)
    ep = u.bind(None, 0)
    u.check("50000 <= ep's port <= 50099", lambda s: 50000 <= local(ep)[1] <= 50099, True)


def test_ephemeral_ports_are_never_handed_out_twice(variant):
    """Ten binds to port 0 in a range of ten: ten different ports, then EAGAIN."""
    u = Udp(variant, ephemeral_port_first=60000, ephemeral_port_last=60009)
    eps = [u.bind(None, 0) for _ in range(10)]
    u.check("the ports", lambda s: sorted(local(ep)[1] for ep in eps), list(range(60000, 60010)))
    u.bind_fails(None, 0, errno.EAGAIN)


def test_a_closed_ephemeral_port_can_be_handed_out_again(variant):
    """Close one of a full range: the next port-0 bind gets exactly that port."""
    u = Udp(variant, ephemeral_port_first=61000, ephemeral_port_last=61002)
    eps = [u.bind(None, 0) for _ in range(3)]
    u.close(eps[1])
    again = u.bind(None, 0)
    u.check("the port handed out again", lambda s: local(again)[1], local(eps[1])[1])


def test_an_ephemeral_port_skips_ports_bound_explicitly(variant):
    """A range of two with one taken by an explicit bind: port 0 gets the other."""
    u = Udp(variant, ephemeral_port_first=62000, ephemeral_port_last=62001)
    u.bind(None, 62000)
    ep = u.bind(None, 0)
    u.check("the ephemeral port", lambda s: local(ep)[1], 62001)


def test_ports_out_of_range_are_einval(variant):
    """Ports are 16 bits: 65536 and -1 are EINVAL."""
    u = Udp(variant)
    u.bind_fails(None, 65536, errno.EINVAL)
    u.bind_fails(None, -1, errno.EINVAL)


def test_an_endpoint_bound_already_cannot_bind_again(variant):
    """bind(..., endpoint=ep) on a bound ep is EINVAL."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.bind_fails(None, u.port + 1, errno.EINVAL, endpoint=ep)


def test_close_frees_the_port_and_marks_the_endpoint(variant):
    """After close, the port is free again and ep.closed is True."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.close(ep)
    u.check("ep.closed", lambda s: ep.closed, True)
    u.bind(None, u.port)


def test_endpoints_lists_the_bound_endpoints(variant):
    """endpoints() has every bound endpoint, and not the closed ones."""
    u = Udp(variant)
    a = u.bind(None, u.port)
    b = u.bind(None, u.port + 1)
    u.close(a)
    u.check("endpoints()", lambda s: [local(e) for e in s.udp.endpoints()],
            [local(b)])


def test_connect_narrows_a_wildcard_bind_and_disconnect_restores_it(variant):
    """Linux: connect() fixes the source address; disconnect (AF_UNSPEC) undoes it."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.connect(ep, str(variant.peer_ip), u.peer_port)
    u.check("ep.local", lambda s: local(ep), (str(variant.our_ip), u.port))
    u.check("ep.remote", lambda s: (str(ep.remote[0]), ep.remote[1]),
            (str(variant.peer_ip), u.peer_port))
    u.do("udp.disconnect(ep)", lambda s, now: s.udp.disconnect(ep))
    u.check("ep.local", lambda s: local(ep), (WILDCARD, u.port))
    u.check("ep.remote", lambda s: ep.remote, None)


def test_connect_binds_an_unbound_endpoint_to_an_ephemeral_port(variant):
    """An endpoint never bound gets an ephemeral port (and our address) from connect."""
    u = Udp(variant, ephemeral_port_first=63000, ephemeral_port_last=63999)
    from netstack.stages.udp import UdpEndpoint

    ep = UdpEndpoint()
    u.connect(ep, str(variant.peer_ip), u.peer_port)
    u.check("our address, a port in 63000..63999",
            lambda s: (str(ep.local[0]), 63000 <= ep.local[1] <= 63999) if ep.local else None,
            (str(variant.our_ip), True))


def test_connect_to_a_broadcast_address_needs_so_broadcast(variant):
    """Without ep.broadcast: EACCES."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.fails(f"udp.connect(ep, '{u.subnet_broadcast}', {u.peer_port})",
            lambda s, now: s.udp.connect(ep, u.subnet_broadcast, u.peer_port), errno.EACCES)
