"""netstack.netns.Namespace.call: a thread of this process joins the test namespace.

What the in-process UDP interop tests build on: a TAP device or a kernel socket opened inside
`ns.call` lives in the test namespace, works from any thread, and the host's namespace (the
one this process and its other threads are in) never changes.
"""

from __future__ import annotations

import os
import socket

import pytest

from netstack.engine.ports import open_port
from netstack.netns import NamespaceError, in_namespace
from tests.interop.kernel_peer import requires_root
from tests.netns import unique_name

pytestmark = requires_root


def current_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def host_interfaces() -> set[str]:
    return {name for _index, name in socket.if_nameindex()}


def test_call_runs_inside_the_namespace_and_leaves_the_caller_where_it_was(netns):
    before = current_netns()
    inside = netns.call(current_netns)
    assert inside == f"net:[{os.stat(f'/run/netns/{netns.name}').st_ino}]"
    assert inside != before
    assert netns.call(host_interfaces) == {"lo"}  # a fresh namespace has only loopback
    assert current_netns() == before
    assert os.readlink("/proc/self/ns/net") == before  # the main thread, too


def test_an_exception_inside_reaches_the_caller(netns):
    def fail() -> None:
        raise ValueError("raised inside")

    with pytest.raises(ValueError, match="raised inside"):
        netns.call(fail)


def test_a_namespace_that_does_not_exist_is_an_error():
    before = current_netns()
    with pytest.raises((NamespaceError, FileNotFoundError)):
        in_namespace(unique_name("missing"), current_netns)
    assert current_netns() == before


def test_a_tap_opened_inside_lives_in_the_namespace_and_works_from_here(netns):
    tap = unique_name("ut")
    port = netns.call(open_port, f"tap:{tap}")
    try:
        assert netns.has_link(tap)
        assert tap not in host_interfaces()
        # The descriptor works from this (host namespace) thread: the kernel in the test
        # namespace sees a frame we write as received on the TAP.
        netns.link_up(tap)
        before = int(netns.run(["cat", f"/sys/class/net/{tap}/statistics/rx_packets"]).stdout)
        frame = b"\xff" * 6 + bytes.fromhex("020000000001") + b"\x88\xb5" + b"\x00" * 46
        os.write(port.fileno(), frame)
        after = int(netns.run(["cat", f"/sys/class/net/{tap}/statistics/rx_packets"]).stdout)
        assert after == before + 1
    finally:
        port.close()
    assert not netns.has_link(tap)  # ours, not persistent: it went with the descriptor


def test_a_kernel_socket_made_inside_uses_the_namespace_addresses(netns):
    netns.add_address("lo", "198.51.100.7/32")  # an address only the namespace has
    server = netns.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    client = netns.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    with server, client:
        server.bind(("198.51.100.7", 0))  # EADDRNOTAVAIL if it were in the host namespace
        server.settimeout(5)
        client.sendto(b"inside", server.getsockname())
        data, sender = server.recvfrom(100)
    assert data == b"inside" and sender[0] == "198.51.100.7"
