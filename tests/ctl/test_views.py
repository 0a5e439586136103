"""What the tools show, from live stacks: ss's rows and ip -j's keys."""

import os
from ipaddress import IPv4Address

from netstack.ctl.views import ip_addr, ip_neigh, ip_route, sockets
from netstack.testing import icmp_echo_frame
from tests.stages.common import OUR_MAC, PEER_MAC, make_harness
from tests.stages.tcp.support import B_IP, Link, two_stacks


def test_ss_rows_for_a_listener_a_connection_with_unread_data_and_a_udp_socket():
    a, b = two_stacks()
    link = Link(a, b)
    listener = b.tcp.listen(None, 80, backlog=8)
    client = a.tcp.connect(None, 40000, B_IP, 80, link.now)
    link.run(0.1)
    client.write_app(b"x" * 1000)
    client.app_did_write(link.now)
    link.run(0.1)
    b.udp.bind(None, 5353)
    rows = {(r["netid"], r["state"]): r for r in sockets(b, link.now, info=True)}
    assert rows["udp", "UNCONN"]["local"] == "0.0.0.0:5353"
    assert rows["tcp", "LISTEN"]["recv_q"] == 1, "one connection waits in accept()"
    assert rows["tcp", "LISTEN"]["send_q"] == 8 and rows["tcp", "LISTEN"]["local"] == "0.0.0.0:80"
    server = rows["tcp", "ESTAB"]
    assert server["recv_q"] == 1000, "the 1000 bytes the application has not read"
    assert server["peer"].endswith(":40000") and server["local"] == f"{B_IP}:80"
    assert server["tcp_info"]["tcpi_bytes_received"] == 1000
    assert listener.accept_queue
    client_row = sockets(a, link.now, udp=False)[0]
    assert client_row["send_q"] == 0, "everything sent was acknowledged"


def test_ip_addr_route_and_neigh_use_ip_json_keys():
    h = make_harness(gateway=IPv4Address("192.0.2.1"))
    addr = ip_addr(h.stack, "tap0")[0]
    assert addr["ifname"] == "tap0" and addr["mtu"] == 1500
    assert addr["addr_info"][0] == {"family": "inet", "local": "192.0.2.2", "prefixlen": 24,
                                    "broadcast": "192.0.2.255", "scope": "global",
                                    "label": "tap0"}
    routes = ip_route(h.stack, "tap0")
    assert {"dst": "default", "gateway": "192.0.2.1", "dev": "tap0"} in routes
    assert any(r["dst"] == "192.0.2.0/24" and r["scope"] == "link" for r in routes)
    # a ping from the peer teaches the stack nothing, but its reply needs ARP: INCOMPLETE
    h.receive(icmp_echo_frame(OUR_MAC, PEER_MAC, "192.0.2.1", "192.0.2.2", 1, 1, b"x"))
    assert ip_neigh(h.stack, "tap0", h.now) == [
        {"dst": "192.0.2.1", "dev": "tap0", "state": ["INCOMPLETE"]}]
    h.stack.arp.add_static(IPv4Address("192.0.2.1"), PEER_MAC)
    assert ip_neigh(h.stack, "tap0", h.now) == [
        {"dst": "192.0.2.1", "dev": "tap0", "lladdr": "02:00:00:00:00:01",
         "state": ["PERMANENT"]}]


def test_ss_memory_shows_the_bytes_each_side_holds_and_its_limits():
    a, b = two_stacks()
    link = Link(a, b)
    b.tcp.listen(None, 80, backlog=8)
    client = a.tcp.connect(None, 40000, B_IP, 80, link.now)
    link.run(0.1)
    client.write_app(b"x" * 3000)
    client.app_did_write(link.now)
    unacked = sockets(a, link.now, udp=False, memory=True)[0]
    assert unacked["skmem"]["t"] == 3000, "written, not yet acknowledged: held to send"
    assert unacked["skmem"]["tb"] == client.options.sndbuf
    link.run(0.1)
    acked = sockets(a, link.now, udp=False, memory=True)[0]
    assert acked["skmem"]["t"] == 0, "acknowledged bytes are let go"
    server = next(r for r in sockets(b, link.now, udp=False, memory=True) if r["state"] == "ESTAB")
    assert server["skmem"]["r"] == 3000 and server["mbufs"] == 0


def test_ss_owners_name_the_thread_or_service_that_opened_each_socket():
    import threading

    from netstack import api
    from netstack.api.host import Host
    from netstack.services.listeners import open_listener

    with Host.open("memory:owners", "192.0.2.2/24") as host:
        opened = {}

        def worker() -> None:
            sock = host.socket(api.AF_INET, api.SOCK_DGRAM)
            sock.bind(("0.0.0.0", 5353))
            opened["udp"] = sock

        thread = threading.Thread(target=worker, name="resolver")
        thread.start()
        thread.join(5)
        service = open_listener(host, 7, 8, owner="tcp-echo")
        try:
            rows = host.engine.call(lambda stack, now: sockets(stack, now, owners=True))
            users = {r["netid"]: r["users"][0] for r in rows}
            assert users["udp"] == {"name": "resolver", "pid": os.getpid(),
                                    "fd": opened["udp"].fileno()}
            assert users["tcp"]["name"] == "tcp-echo"
        finally:
            service.close()
            opened["udp"].close()
