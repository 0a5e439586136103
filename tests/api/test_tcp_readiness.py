"""Readiness of TCP sockets: poll and epoll, non-blocking connect, one thread serving many."""

from __future__ import annotations

import errno

import pytest

from netstack import api
from tests.api.tcp_fixtures import (
    SERVER_IP,
    TIMEOUT,
    run_in_thread,
    wait_for,
)

TIMEOUT_MS = TIMEOUT * 1000


def test_non_blocking_connect_completes_with_pollout(tcp_hosts):
    listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
    listener.bind(("", 7100))
    listener.listen(1)
    client = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    client.setblocking(False)
    try:
        with pytest.raises(BlockingIOError) as caught:
            client.connect((SERVER_IP, 7100))
        assert caught.value.errno == errno.EINPROGRESS
        assert client.connect_ex((SERVER_IP, 7100)) in (errno.EALREADY, errno.EISCONN)
        poller = api.poll()
        poller.register(client, api.POLLOUT)
        assert poller.poll(TIMEOUT_MS) == [(client.fileno(), api.POLLOUT)]
        assert client.getsockopt(api.SOL_SOCKET, api.SO_ERROR) == 0
        assert client.connect_ex((SERVER_IP, 7100)) == errno.EISCONN
        assert client.getpeername() == (SERVER_IP, 7100)
    finally:
        client.close()
        listener.close()


def test_non_blocking_connect_to_a_closed_port_reports_the_error(tcp_hosts):
    with tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM) as client:
        client.setblocking(False)
        assert client.connect_ex((SERVER_IP, 7101)) == errno.EINPROGRESS
        poller = api.epoll()
        poller.register(client, api.EPOLLOUT)
        [(fileno, events)] = poller.poll(TIMEOUT)
        assert fileno == client.fileno()
        assert events & api.EPOLLERR and events & api.EPOLLHUP and events & api.EPOLLOUT
        assert client.getsockopt(api.SOL_SOCKET, api.SO_ERROR) == errno.ECONNREFUSED
        assert client.getsockopt(api.SOL_SOCKET, api.SO_ERROR) == 0  # read once, cleared
        poller.close()


def test_readiness_through_a_connection_s_life(tcp_hosts):
    fresh = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    assert fresh.readiness() == api.POLLOUT | api.POLLHUP  # as Linux reports it
    fresh.close()
    assert fresh.readiness() == api.POLLNVAL

    listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
    listener.bind(("", 7102))
    listener.listen(4)
    assert listener.readiness() == 0
    client = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    client.settimeout(TIMEOUT)
    client.connect((SERVER_IP, 7102))
    wait_for(lambda: listener.readiness() == api.POLLIN, "the listener to have a connection")
    server, _ = listener.accept()
    assert listener.readiness() == 0
    assert server.readiness() == api.POLLOUT
    client.sendall(b"data")
    wait_for(lambda: server.readiness() & api.POLLIN, "the data")
    server.recv(10)
    assert server.readiness() == api.POLLOUT
    client.shutdown(api.SHUT_WR)
    wait_for(lambda: server.readiness() & api.POLLRDHUP, "the FIN")
    assert server.readiness() == api.POLLIN | api.POLLOUT | api.POLLRDHUP
    server.shutdown(api.SHUT_WR)
    assert server.readiness() & api.POLLHUP  # both directions are done
    for sock in (client, server, listener):
        sock.close()


def test_one_epoll_serves_many_connections(tcp_hosts):
    count = 24
    listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
    listener.bind(("", 7103))
    listener.listen(count)
    listener.setblocking(False)

    def echo_server() -> int:
        """One thread, one epoll: accept, echo, and count connections that ended."""
        poller = api.epoll()
        poller.register(listener, api.EPOLLIN)
        sockets = {}
        finished = 0
        while finished < count:
            events = poller.poll(TIMEOUT)
            assert events, "the server waited in vain"
            for fileno, _mask in events:
                if fileno == listener.fileno():
                    while True:
                        try:
                            sock, _ = listener.accept()
                        except BlockingIOError:
                            break
                        sock.setblocking(False)
                        sockets[sock.fileno()] = sock
                        poller.register(sock, api.EPOLLIN | api.EPOLLRDHUP)
                    continue
                sock = sockets[fileno]
                data = sock.recv(65536)
                if data:
                    sock.sendall(data)
                else:
                    sock.close()  # also leaves the epoll set
                    finished += 1
        poller.close()
        return finished

    join = run_in_thread(echo_server)
    clients = [tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM) for _ in range(count)]
    try:
        for n, client in enumerate(clients):
            client.settimeout(TIMEOUT)
            client.connect((SERVER_IP, 7103))
            client.sendall(b"message %d" % n)
        for n, client in enumerate(clients):
            assert client.recv(100) == b"message %d" % n
            client.close()
        assert join() == count
    finally:
        for client in clients:
            client.close()
        listener.close()


def test_edge_triggered_epoll_reports_new_data_once(connection):
    poller = api.epoll()
    poller.register(connection.server, api.EPOLLIN | api.EPOLLET)
    connection.client.sendall(b"one")
    assert poller.poll(TIMEOUT) == [(connection.server.fileno(), api.EPOLLIN)]
    assert poller.poll(0.05) == []  # unread, but no new edge
    connection.client.sendall(b"two")
    assert poller.poll(TIMEOUT) == [(connection.server.fileno(), api.EPOLLIN)]
    poller.close()


def test_pollout_comes_back_when_the_peer_reads(tcp_hosts):
    listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
    listener.setsockopt(api.SOL_SOCKET, api.SO_RCVBUF, 4096)
    listener.bind(("", 7104))
    listener.listen(1)
    client = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    client.setsockopt(api.SOL_SOCKET, api.SO_SNDBUF, 4096)
    client.settimeout(TIMEOUT)
    client.connect((SERVER_IP, 7104))
    server, _ = listener.accept()
    server.settimeout(TIMEOUT)
    client.setblocking(False)
    try:
        def stuffed() -> bool:
            """Both buffers full: the receiver's window is closed, ours has no room."""
            try:
                client.send(b"y" * 4096)
            except BlockingIOError:
                # Once the peer's zero window is known, nothing more gets acknowledged.
                return client._conn.sender.snd_wnd == 0 and client._conn.writable < 1024
            return False

        wait_for(stuffed, "both buffers to fill")
        poller = api.poll()
        poller.register(client, api.POLLOUT)
        assert poller.poll(50) == []
        drain = run_in_thread(lambda: server.recv(65536))
        assert poller.poll(TIMEOUT_MS) == [(client.fileno(), api.POLLOUT)]
        drain()
    finally:
        for sock in (client, server, listener):
            sock.close()
