"""Every way a TCP call fails, with the errno Linux gives for it."""

from __future__ import annotations

import errno
import struct

import pytest

from netstack import api
from tests.api.tcp_fixtures import (
    SERVER_IP,
    TIMEOUT,
    connect_pair,
    wait_for,
)

ABORTIVE = struct.pack("ii", 1, 0)  # struct linger {l_onoff = 1, l_linger = 0}


def stream(host, timeout=TIMEOUT):
    sock = host.socket(api.AF_INET, api.SOCK_STREAM)
    sock.settimeout(timeout)
    return sock


def test_connecting_to_a_closed_port_is_refused(tcp_hosts):
    with stream(tcp_hosts.client) as sock:
        with pytest.raises(ConnectionRefusedError):
            sock.connect((SERVER_IP, 7999))
        assert tcp_hosts.server.counters.snapshot().get("tcp.drop.no_socket", 0) >= 1
    with stream(tcp_hosts.client) as sock:
        assert sock.connect_ex((SERVER_IP, 7999)) == errno.ECONNREFUSED


def test_linger_zero_resets_and_the_peer_sees_econnreset(connection):
    connection.client.setsockopt(api.SOL_SOCKET, api.SO_LINGER, ABORTIVE)
    connection.client.close()
    with pytest.raises(ConnectionResetError):
        connection.server.recv(10)
    # Reported once; then the stream is over, and writing to it is a broken pipe.
    assert connection.server.recv(10) == b""
    with pytest.raises(BrokenPipeError):
        connection.server.send(b"anyone there?")


def test_a_send_after_the_reset_is_reported_before_epipe(connection):
    connection.client.setsockopt(api.SOL_SOCKET, api.SO_LINGER, ABORTIVE)
    connection.client.close()
    wait_for(lambda: connection.server.readiness() & api.POLLERR, "the RST to arrive")
    with pytest.raises(ConnectionResetError):
        connection.server.send(b"x")
    with pytest.raises(BrokenPipeError):
        connection.server.send(b"x")


def test_closing_with_unread_data_resets_the_peer(connection):
    connection.client.sendall(b"never read")
    wait_for(lambda: connection.server.readiness() & api.POLLIN, "the data to arrive")
    connection.server.close()  # RFC 2525 §2.17: unread data makes close() abortive
    with pytest.raises(ConnectionResetError):
        connection.client.recv(10)


def test_send_after_shutdown_write_is_a_broken_pipe(connection):
    connection.client.shutdown(api.SHUT_WR)
    with pytest.raises(BrokenPipeError):
        connection.client.send(b"x")
    with pytest.raises(BrokenPipeError):
        connection.client.sendall(b"x")


def test_unconnected_sockets(tcp_hosts):
    with stream(tcp_hosts.client) as sock:
        for call in (lambda: sock.recv(1), sock.getpeername, lambda: sock.shutdown(api.SHUT_WR)):
            with pytest.raises(OSError) as caught:
                call()
            assert caught.value.errno == errno.ENOTCONN
        with pytest.raises(BrokenPipeError):  # Linux's answer to send() here
            sock.send(b"x")
        with pytest.raises(OSError) as caught:
            sock.accept()
        assert caught.value.errno == errno.EINVAL


def test_connected_sockets_refuse_to_connect_or_listen_again(connection):
    with pytest.raises(OSError) as caught:
        connection.client.connect((SERVER_IP, 7000))
    assert caught.value.errno == errno.EISCONN
    assert connection.client.connect_ex((SERVER_IP, 7000)) == errno.EISCONN
    with pytest.raises(OSError) as caught:
        connection.client.listen(1)
    assert caught.value.errno == errno.EINVAL
    with pytest.raises(OSError) as caught:
        connection.client.bind(("", 0))
    assert caught.value.errno == errno.EINVAL
    with pytest.raises(OSError) as caught:
        connection.listener.connect((SERVER_IP, 7000))
    assert caught.value.errno == errno.EISCONN


def test_a_port_in_use(tcp_hosts):
    with stream(tcp_hosts.server) as first, stream(tcp_hosts.server) as second:
        first.bind(("", 8000))
        first.listen(1)
        with pytest.raises(OSError) as caught:
            second.bind(("0.0.0.0", 8000))
        assert caught.value.errno == errno.EADDRINUSE
        second.bind(("", 8001))  # the failed bind left the socket usable
    with stream(tcp_hosts.server) as third:
        third.bind(("", 8000))  # closing the listener freed its port


def test_bind_reserves_the_port_before_listen(tcp_hosts):
    with stream(tcp_hosts.server) as first, stream(tcp_hosts.server) as second:
        first.bind(("", 0))
        port = first.getsockname()[1]
        assert port >= 49152
        with pytest.raises(OSError) as caught:
            second.bind(("", port))
        assert caught.value.errno == errno.EADDRINUSE


def test_bind_to_an_address_we_do_not_have(tcp_hosts):
    with stream(tcp_hosts.server) as sock, pytest.raises(OSError) as caught:
        sock.bind(("198.51.100.7", 80))
    assert caught.value.errno == errno.EADDRNOTAVAIL


def test_calls_on_a_closed_socket_are_ebadf(connection):
    connection.client.close()
    calls = [lambda: connection.client.send(b"x"), lambda: connection.client.recv(1),
             connection.client.getsockname, lambda: connection.client.listen(1),
             lambda: connection.client.shutdown(api.SHUT_RDWR),
             lambda: connection.client.getsockopt(api.SOL_SOCKET, api.SO_ERROR)]
    for call in calls:
        with pytest.raises(OSError) as caught:
            call()
        assert caught.value.errno == errno.EBADF
    assert connection.client.fileno() == -1
    connection.client.close()  # idempotent


def test_retransmissions_give_up_with_etimedout(tcp_hosts):
    conn = connect_pair(tcp_hosts)
    tcp_hosts.server.close()  # the peer vanishes: nothing answers our data any more
    conn.client.settimeout(TIMEOUT)
    conn.client.send(b"hello?")
    with pytest.raises(TimeoutError) as caught:
        conn.client.recv(10)  # blocks until the retries (max_retries=3) run out
    assert caught.value.errno == errno.ETIMEDOUT
    with pytest.raises(BrokenPipeError):
        conn.client.send(b"x")


def test_connect_times_out_when_nobody_answers_the_syn(tcp_hosts):
    tcp_hosts.server.close()
    with stream(tcp_hosts.client) as sock:
        assert sock.connect_ex((SERVER_IP, 7000)) == errno.ETIMEDOUT


def test_bad_arguments(tcp_hosts):
    with stream(tcp_hosts.client) as sock:
        with pytest.raises(OSError) as caught:
            sock.shutdown(7)
        assert caught.value.errno == errno.EINVAL
        with pytest.raises(TypeError):
            sock.connect("192.0.2.2:80")
        with pytest.raises(OverflowError):
            sock.connect((SERVER_IP, 70000))
        with pytest.raises(ValueError):
            sock.recv(-1)
        with pytest.raises(OSError) as caught:
            sock.setsockopt(api.SOL_SOCKET, api.SO_RCVBUF, 0)
        assert caught.value.errno == errno.EINVAL
        with pytest.raises(OSError) as caught:
            sock.getsockopt(api.IPPROTO_TCP, 9999)
        assert caught.value.errno == errno.ENOPROTOOPT


def test_so_reuseaddr_does_not_let_two_sockets_listen_on_one_port(tcp_hosts):
    first = stream(tcp_hosts.server)
    second = stream(tcp_hosts.server)
    try:
        for s in (first, second):
            s.setsockopt(api.SOL_SOCKET, api.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", 7070))
        first.listen(4)
        with pytest.raises(OSError) as caught:
            second.listen(4)
        assert caught.value.errno == errno.EADDRINUSE
    finally:
        first.close()
        second.close()
