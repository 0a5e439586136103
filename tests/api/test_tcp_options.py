"""setsockopt/getsockopt on TCP sockets, and what they change in the connection."""

from __future__ import annotations

import errno
import struct

from netstack import api
from tests.api.tcp_fixtures import (
    SERVER_IP,
    TIMEOUT,
)


def test_options_read_back_what_was_set(tcp_hosts):
    with tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM) as sock:
        settings = [(api.SOL_SOCKET, api.SO_RCVBUF, 65536), (api.SOL_SOCKET, api.SO_SNDBUF, 32768),
                    (api.SOL_SOCKET, api.SO_REUSEADDR, 1), (api.SOL_SOCKET, api.SO_KEEPALIVE, 1),
                    (api.IPPROTO_TCP, api.TCP_NODELAY, 1), (api.IPPROTO_TCP, api.TCP_KEEPIDLE, 30),
                    (api.IPPROTO_TCP, api.TCP_KEEPINTVL, 5), (api.IPPROTO_TCP, api.TCP_KEEPCNT, 4)]
        for level, option, value in settings:
            assert sock.getsockopt(level, option) != value
            sock.setsockopt(level, option, value)
            assert sock.getsockopt(level, option) == value
        assert sock.getsockopt(api.SOL_SOCKET, api.SO_LINGER) == 0
        sock.setsockopt(api.SOL_SOCKET, api.SO_LINGER, struct.pack("ii", 1, 0))
        assert sock.getsockopt(api.SOL_SOCKET, api.SO_LINGER, 8) == struct.pack("ii", 1, 0)


def test_options_reach_the_connection_and_accepted_sockets_inherit_them(tcp_hosts):
    listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
    listener.setsockopt(api.SOL_SOCKET, api.SO_RCVBUF, 50000)
    listener.setsockopt(api.IPPROTO_TCP, api.TCP_NODELAY, 1)
    listener.bind(("", 7200))
    listener.listen(1)
    client = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    client.settimeout(TIMEOUT)
    client.setsockopt(api.SOL_SOCKET, api.SO_SNDBUF, 12345)
    try:
        client.connect((SERVER_IP, 7200))
        server, _ = listener.accept()
        assert server.getsockopt(api.SOL_SOCKET, api.SO_RCVBUF) == 50000
        assert server.getsockopt(api.IPPROTO_TCP, api.TCP_NODELAY) == 1
        assert server._conn.options.rcvbuf == 50000 and server._conn.options.nodelay
        assert client._conn.options.sndbuf == 12345
        # Changed on an open connection: applied to it on the loop thread.
        client.setsockopt(api.SOL_SOCKET, api.SO_KEEPALIVE, 1)
        client.setsockopt(api.IPPROTO_TCP, api.TCP_KEEPIDLE, 60)
        assert client._conn.options.keepalive and client._conn.options.keepalive_idle == 60.0
        server.close()
    finally:
        client.close()
        listener.close()


def test_keepalive_probes_a_silent_peer_until_etimedout(tcp_hosts):
    listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
    listener.bind(("", 7201))
    listener.listen(1)
    client = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    client.settimeout(TIMEOUT)
    try:
        client.connect((SERVER_IP, 7201))
        for option, value in ((api.TCP_KEEPIDLE, 1), (api.TCP_KEEPINTVL, 1),
                              (api.TCP_KEEPCNT, 2)):
            client.setsockopt(api.IPPROTO_TCP, option, value)
        client.setsockopt(api.SOL_SOCKET, api.SO_KEEPALIVE, 1)
        tcp_hosts.server.close()  # the peer goes silent
        poller = api.poll()
        poller.register(client, api.POLLIN)
        [(_fd, events)] = poller.poll(TIMEOUT * 1000)
        assert events & api.POLLERR
        assert client.getsockopt(api.SOL_SOCKET, api.SO_ERROR) == errno.ETIMEDOUT
        assert tcp_hosts.client.counters.snapshot()["tcp.tx.keepalive"] == 2
    finally:
        client.close()
        listener.close()


def test_reuseaddr_lets_a_server_restart_while_time_wait_lingers(tcp_hosts):
    for _round in range(2):
        listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
        listener.setsockopt(api.SOL_SOCKET, api.SO_REUSEADDR, 1)
        listener.bind(("", 7202))
        listener.listen(1)
        client = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
        client.settimeout(TIMEOUT)
        client.connect((SERVER_IP, 7202))
        server, _ = listener.accept()
        server.close()  # the server closes first, so its side goes to TIME-WAIT
        assert client.recv(10) == b""
        client.close()
        listener.close()
