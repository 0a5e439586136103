"""SOCK_STREAM sockets between two hosts on a memory cable: the calls a TCP program makes.

Each test reads like a session: listen, connect, accept, move bytes, close; then it checks
what each side saw.
"""

from __future__ import annotations

import errno
import hashlib

import pytest

from netstack import api
from tests.api.tcp_fixtures import (
    CLIENT_IP,
    SERVER_IP,
    TIMEOUT,
    connect_pair,
    recv_all,
    run_in_thread,
    wait_for,
)


def pattern(size: int, seed: int = 0) -> bytes:
    """Bytes that differ from their neighbours, so a shifted or damaged stream cannot pass."""
    block = bytes((i * 7 + seed) & 0xFF for i in range(65536))
    return (block * (size // len(block) + 1))[:size]


def test_connect_accept_and_echo(tcp_hosts):
    conn = connect_pair(tcp_hosts)
    try:
        assert conn.client.getpeername() == (SERVER_IP, 7000)
        assert conn.server.getsockname() == (SERVER_IP, 7000)
        assert conn.server.getpeername() == conn.client.getsockname()
        assert conn.client.getsockname()[0] == CLIENT_IP
        conn.client.sendall(b"hello, stack")
        assert conn.server.recv(100) == b"hello, stack"
        conn.server.sendall(b"hello, client")
        assert conn.client.recv(100) == b"hello, client"
        assert conn.listener.getsockname() == ("0.0.0.0", 7000)
        assert conn.client.getsockopt(api.SOL_SOCKET, api.SO_TYPE) == api.SOCK_STREAM
    finally:
        conn.close()


@pytest.mark.parametrize("direction", ["client_to_server", "server_to_client"])
def test_two_megabytes_arrive_intact(connection, direction):
    sender, receiver = (connection.client, connection.server)
    if direction == "server_to_client":
        sender, receiver = receiver, sender
    data = pattern(2 * 1024 * 1024, seed=3)

    def send() -> None:
        sender.sendall(data)
        sender.shutdown(api.SHUT_WR)

    join = run_in_thread(send)
    received = recv_all(receiver)
    join()
    assert len(received) == len(data)
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()


def test_both_directions_at_once(connection):
    up, down = pattern(1024 * 1024, seed=1), pattern(1024 * 1024, seed=2)

    def server_side() -> bytes:
        join = run_in_thread(lambda: connection.server.sendall(down))
        got = b"".join(iter(lambda: connection.server.recv(65536), b""))
        join()
        return got

    join_server = run_in_thread(server_side)
    join_client_send = run_in_thread(lambda: (connection.client.sendall(up),
                                              connection.client.shutdown(api.SHUT_WR)))
    received_down = b""
    while len(received_down) < len(down):
        chunk = connection.client.recv(65536)
        assert chunk, "EOF before the server's data was all here"
        received_down += chunk
    join_client_send()
    connection.server.shutdown(api.SHUT_WR)
    assert join_server() == up
    assert received_down == down
    assert connection.client.recv(10) == b""


def test_recv_takes_everything_that_is_there(connection):
    data = pattern(20000)
    connection.client.sendall(data)
    # Wait until the whole write is queued at the receiver, then one recv takes it all.
    poller = api.poll()
    poller.register(connection.server, api.POLLIN)
    assert poller.poll(TIMEOUT * 1000)
    wait_for(lambda: connection.server._conn.readable == len(data), "all 20000 bytes")
    assert connection.server.recv(65536) == data


def test_recv_into_and_a_zero_byte_recv(connection):
    connection.client.sendall(b"abcdef")
    buffer = bytearray(4)
    assert connection.server.recv(0) == b""
    assert connection.server.recv_into(buffer) == 4
    assert buffer == b"abcd"
    assert connection.server.recv_into(buffer, 2) == 2
    assert buffer[:2] == b"ef"
    with pytest.raises(ValueError):
        connection.server.recv_into(buffer, 5)


def test_end_of_file_is_an_empty_read_every_time(connection):
    connection.client.sendall(b"last words")
    connection.client.close()
    assert recv_all(connection.server) == b"last words"
    assert connection.server.recv(10) == b""
    assert connection.server.recv(10) == b""


def test_half_close_lets_the_other_side_answer(connection):
    connection.client.sendall(b"question")
    connection.client.shutdown(api.SHUT_WR)
    assert recv_all(connection.server) == b"question"
    connection.server.sendall(b"answer after your FIN")
    connection.server.close()
    assert recv_all(connection.client) == b"answer after your FIN"
    with pytest.raises(BrokenPipeError):
        connection.client.send(b"too late")


def test_shutdown_read_makes_recv_return_eof(connection):
    blocked = run_in_thread(lambda: connection.server.recv(10))
    connection.server.shutdown(api.SHUT_RD)
    assert blocked() == b""
    connection.server.sendall(b"writing still works")
    assert connection.client.recv(100) == b"writing still works"


def test_a_blocking_send_waits_for_room(tcp_hosts):
    listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
    listener.setsockopt(api.SOL_SOCKET, api.SO_RCVBUF, 8192)  # inherited by the accepted one
    listener.bind(("", 7001))
    listener.listen(1)
    client = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    client.setsockopt(api.SOL_SOCKET, api.SO_SNDBUF, 8192)
    client.settimeout(TIMEOUT)
    try:
        client.connect((SERVER_IP, 7001))
        server, _ = listener.accept()
        data = pattern(200_000)
        sending = run_in_thread(lambda: client.sendall(data))
        # The receiver does not read: the sender must be stuck well short of the end.
        wait_for(lambda: client._conn.writable == 0, "the send buffer to fill")
        assert not client.readiness() & api.POLLOUT
        server.settimeout(TIMEOUT)
        received = b""
        while len(received) < len(data):
            received += server.recv(65536)
        sending()
        assert received == data
        server.close()
    finally:
        client.close()
        listener.close()


def test_timeouts_raise_timeout_error(connection):
    connection.server.settimeout(0.05)
    with pytest.raises(TimeoutError):
        connection.server.recv(10)
    connection.listener.settimeout(0.05)
    with pytest.raises(TimeoutError):
        connection.listener.accept()


def test_non_blocking_calls_raise_eagain(connection):
    connection.server.setblocking(False)
    with pytest.raises(BlockingIOError):
        connection.server.recv(10)
    connection.listener.setblocking(False)
    with pytest.raises(BlockingIOError):
        connection.listener.accept()
    connection.client.settimeout(TIMEOUT)
    with pytest.raises(BlockingIOError):
        connection.server.recv(10, api.MSG_DONTWAIT)


def test_a_non_blocking_send_takes_what_fits_then_eagain(connection):
    connection.client.setblocking(False)
    sent = 0
    with pytest.raises(BlockingIOError):
        for _ in range(10_000):
            sent += connection.client.send(b"x" * 65536)
    assert sent > 0
    received = 0
    while received < sent:
        received += len(connection.server.recv(65536))
    assert received == sent


def test_many_connections_to_one_listener(tcp_hosts):
    listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
    listener.bind(("", 7002))
    listener.listen(32)
    clients = [tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM) for _ in range(20)]
    accepted = []
    try:
        for n, client in enumerate(clients):
            client.settimeout(TIMEOUT)
            client.connect((SERVER_IP, 7002))
            client.sendall(b"client %d" % n)
        for _ in clients:
            sock, peer = listener.accept()
            accepted.append(sock)
            sock.settimeout(TIMEOUT)
        got = {sock.getpeername(): sock.recv(100) for sock in accepted}
        assert got == {c.getsockname(): b"client %d" % n for n, c in enumerate(clients)}
    finally:
        for sock in [*clients, *accepted, listener]:
            sock.close()


def test_makefile_reads_lines_and_writes(connection):
    reader = connection.server.makefile("rb")
    writer = connection.client.makefile("w", encoding="ascii", newline="\r\n")
    writer.write("first line\nsecond line\n")
    writer.flush()
    assert reader.readline() == b"first line\r\n"
    assert reader.readline() == b"second line\r\n"
    writer.close()
    reader.close()
    connection.client.sendall(b"the socket still works")
    assert connection.server.recv(100) == b"the socket still works"


def test_a_closed_socket_wakes_its_blocked_reader_with_ebadf(connection):
    blocked = run_in_thread(lambda: connection.server.recv(10))
    wait_for(lambda: connection.server._waiters == 1, "the reader to block")
    connection.server.close()
    with pytest.raises(OSError) as caught:
        blocked()
    assert caught.value.errno == errno.EBADF


def test_closing_the_host_fails_blocked_calls_with_enetdown(tcp_hosts):
    conn = connect_pair(tcp_hosts)
    blocked = run_in_thread(lambda: conn.client.recv(10))
    wait_for(lambda: conn.client._waiters == 1, "the reader to block")
    tcp_hosts.client.close()
    with pytest.raises(OSError) as caught:
        blocked()
    assert caught.value.errno == errno.ENETDOWN
