"""The routing table: connected, default and static routes, longest-prefix match."""

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from netstack.stages.routing import RoutingTable

from .common import make_harness

A = IPv4Address


def table():
    return RoutingTable.for_interface(
        IPv4Interface("192.0.2.2/24"),
        gateway=A("192.0.2.1"),
        routes=[
            (IPv4Network("198.51.100.0/24"), A("192.0.2.254")),
            (IPv4Network("198.51.100.128/25"), A("192.0.2.253"), 1280),
            (IPv4Network("203.0.113.0/24"), None),  # another subnet on the same link
        ],
    )


def test_connected_route_needs_no_gateway():
    route = table().lookup(A("192.0.2.77"))
    assert route.origin == "connected" and route.next_hop is None
    assert route.next_hop_for(A("192.0.2.77")) == A("192.0.2.77")


def test_default_route_catches_everything_else():
    route = table().lookup(A("8.8.8.8"))
    assert route.network == IPv4Network("0.0.0.0/0") and route.next_hop == A("192.0.2.1")


def test_longest_prefix_wins():
    t = table()
    assert t.lookup(A("198.51.100.7")).next_hop == A("192.0.2.254")
    most_specific = t.lookup(A("198.51.100.200"))
    assert most_specific.next_hop == A("192.0.2.253") and most_specific.mtu == 1280
    assert t.lookup(A("203.0.113.5")).next_hop_for(A("203.0.113.5")) == A("203.0.113.5")


def test_no_default_route_means_no_route():
    t = RoutingTable.for_interface(IPv4Interface("192.0.2.2/24"))
    assert t.lookup(A("8.8.8.8")) is None


def test_add_remove_and_listing():
    t = table()
    assert len(t) == 5
    assert [r.network.prefixlen for r in t.routes()] == [25, 24, 24, 24, 0]
    assert t.remove(IPv4Network("198.51.100.128/25"))
    assert not t.remove(IPv4Network("198.51.100.128/25"))
    assert t.lookup(A("198.51.100.200")).next_hop == A("192.0.2.254")


def test_stack_sends_via_the_chosen_next_hop():
    from netstack.testing import arp_request

    h = make_harness(routes=((IPv4Network("198.51.100.0/24"), A("192.0.2.254")),))
    h.call("ping 198.51.100.9", lambda s, now: s.icmp.send_echo(A("198.51.100.9"), 1, 1, b"", now))
    h.expect(arp_request(target_ip="192.0.2.254"))
    h.call("ping 8.8.8.8", lambda s, now: s.icmp.send_echo(A("8.8.8.8"), 1, 2, b"", now))
    h.expect(arp_request(target_ip="192.0.2.1"))


def test_no_route_is_counted():
    h = make_harness(gateway=None)
    h.call("ping 8.8.8.8", lambda s, now: s.icmp.send_echo(A("8.8.8.8"), 1, 1, b"", now))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.no_route", 1)
    assert h.stack.pool.available == len(h.stack.pool)
