"""Stream services served by the engine's own loop thread (services/loop_streams.py).

Two in-process hosts on a memory cable: the server runs the service in its loop's passes,
the client talks to it through ordinary blocking sockets. No root, no kernel.
"""

from __future__ import annotations

import hashlib
import struct
import threading

import pytest

from netstack import api
from netstack.services import http, loop_streams, tcp_echo
from netstack.services.loop_streams import CHUNK, LoopStreams
from netstack.services.stream_runner import ServiceRunner
from tests.api import tcp_fixtures
from tests.api.tcp_fixtures import TIMEOUT, recv_all, run_in_thread, wait_for
from tests.services.stream_checks import (
    check_daytime_sends_one_line_and_closes,
    check_stop_ends_connections_and_frees_the_port,
    dial,
)

tcp_hosts = tcp_fixtures.tcp_hosts  # the fixture: two hosts on a memory cable


def only_the_listener_left(host) -> bool:
    return len(host.sockets()) == 1


class ThreadRecordingEcho(tcp_echo.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def data_received(self, conn, data) -> None:
        self.threads.add(threading.get_ident())
        super().data_received(conn, data)


def test_echo_runs_on_the_loop_thread_and_answers_each_client(tcp_hosts):
    handler = ThreadRecordingEcho()
    with LoopStreams(tcp_hosts.server, [(handler, 7)]):
        clients = [dial(tcp_hosts.client) for _ in range(5)]
        try:
            for n, sock in enumerate(clients):  # all open at once
                sock.sendall(b"client %d" % n)
            assert [sock.recv(100) for sock in clients] == [b"client %d" % n for n in range(5)]
        finally:
            for sock in clients:
                sock.close()
        wait_for(lambda: only_the_listener_left(tcp_hosts.server), "the service to close")
    loop_thread = tcp_hosts.server.call(lambda stack, now: threading.get_ident())
    assert handler.threads == {loop_thread}, "the handler ran off the loop thread"
    assert handler.connections == 5


def test_echo_returns_a_megabyte_intact_through_a_full_send_buffer(tcp_hosts):
    data = bytes((i * 7) & 0xFF for i in range(1024 * 1024))
    handler = tcp_echo.Handler()
    with LoopStreams(tcp_hosts.server, [(handler, 7)]), dial(tcp_hosts.client) as sock:
        sending = run_in_thread(lambda: (sock.sendall(data), sock.shutdown(api.SHUT_WR)))
        echoed = recv_all(sock)  # ends with the service's FIN, after the last byte
        sending()
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
    assert handler.bytes == len(data)


def test_a_client_that_never_reads_cannot_make_the_service_buffer_without_limit(tcp_hosts):
    streams = LoopStreams(tcp_hosts.server, [(tcp_echo.Handler(), 7)])
    with streams, dial(tcp_hosts.client) as sock:
        sock.settimeout(2.0)
        sent = 0
        try:
            while sent < 20_000_000:  # until both directions' buffers are full
                sent += sock.send(b"x" * 65536)
        except TimeoutError:
            pass
        conns = tcp_hosts.server.call(lambda stack, now: list(streams._connections.values()))
        assert len(conns) == 1
        assert sent < 20_000_000, "the service kept reading what it could not send"
        # It stopped reading: what it holds beyond the send buffer is at most one read.
        assert len(conns[0].pending) <= CHUNK


def test_daytime_on_the_loop_sends_one_line_and_closes(tcp_hosts):
    check_daytime_sends_one_line_and_closes(tcp_hosts, LoopStreams)


def test_the_echo_carries_the_opened_window_so_no_pure_window_update_is_sent(tcp_hosts):
    counters = tcp_hosts.server.counters
    with LoopStreams(tcp_hosts.server, [(tcp_echo.Handler(), 7)]):
        for n in range(3):
            with dial(tcp_hosts.client) as sock:
                sock.sendall(b"%032d" % n)
                assert sock.recv(100) == b"%032d" % n
    assert counters["tcp.tx.window_update"] == 0


def test_a_reset_connection_is_closed_and_the_service_goes_on(tcp_hosts):
    with LoopStreams(tcp_hosts.server, [(tcp_echo.Handler(), 7)]):
        rude = dial(tcp_hosts.client)
        rude.sendall(b"hello")
        assert rude.recv(10) == b"hello"
        rude.setsockopt(api.SOL_SOCKET, api.SO_LINGER, struct.pack("ii", 1, 0))  # close: RST
        rude.close()
        wait_for(lambda: only_the_listener_left(tcp_hosts.server), "the reset socket's close")
        with dial(tcp_hosts.client) as polite:
            polite.sendall(b"still here")
            assert polite.recv(100) == b"still here"


class BrokenHandler(tcp_echo.Handler):
    def data_received(self, conn, data) -> None:
        if data == b"boom":
            raise RuntimeError("a bug in one connection")
        super().data_received(conn, data)


def test_a_handler_that_raises_loses_its_connection_not_the_service(tcp_hosts):
    with LoopStreams(tcp_hosts.server, [(BrokenHandler(), 7)]) as streams:
        with dial(tcp_hosts.client) as doomed:
            doomed.sendall(b"boom")
            assert recv_all(doomed) == b""  # closed by the service
        with dial(tcp_hosts.client) as fine:
            fine.sendall(b"fine")
            assert fine.recv(10) == b"fine"
        assert streams.running and streams.error is None


def test_beyond_max_connections_clients_wait_in_the_backlog(tcp_hosts):
    with LoopStreams(tcp_hosts.server, [(tcp_echo.Handler(), 7)], max_connections=2):
        first, second = dial(tcp_hosts.client), dial(tcp_hosts.client)
        third = dial(tcp_hosts.client)  # the handshake completes; nobody accepts it yet
        try:
            for sock in (first, second, third):
                sock.sendall(b"hi")
            assert first.recv(10) == b"hi" and second.recv(10) == b"hi"
            third.settimeout(0.3)
            with pytest.raises(TimeoutError):
                third.recv(10)
            first.close()  # a slot frees: the third is accepted and answered
            third.settimeout(TIMEOUT)
            assert third.recv(10) == b"hi"
        finally:
            for sock in (first, second, third):
                sock.close()


def test_stop_unhooks_closes_every_connection_and_frees_the_port(tcp_hosts):
    streams = LoopStreams(tcp_hosts.server, [(tcp_echo.Handler(), 7)])
    check_stop_ends_connections_and_frees_the_port(tcp_hosts, streams)
    assert streams._serve not in tcp_hosts.server.engine._pass_hooks


def test_a_port_in_use_is_raised_by_start_and_nothing_stays_hooked(tcp_hosts):
    with tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM) as squatter:
        squatter.bind(("", 7))
        streams = LoopStreams(tcp_hosts.server, [(tcp_echo.Handler(), 9),
                                                 (tcp_echo.Handler(), 7)])
        with pytest.raises(OSError):
            streams.start()
    assert not streams.running
    assert streams._serve not in tcp_hosts.server.engine._pass_hooks
    assert tcp_hosts.server.sockets() == []


def test_the_runner_puts_loop_capable_services_on_the_loop_and_http_on_threads(tcp_hosts):
    echo, web = tcp_echo.Handler(), http.Handler()
    runner = ServiceRunner(tcp_hosts.server, [(echo, 7), (web, 80)])
    assert loop_streams.is_loop_stream_handler(echo)
    assert not loop_streams.is_loop_stream_handler(web)
    assert runner._loop_streams.bindings == [(echo, 7)]
    threaded = ServiceRunner(tcp_hosts.server, [(echo, 7)], on_loop=False)
    assert threaded._loop_streams is None and threaded._streams is not None
    with threaded, dial(tcp_hosts.client) as sock:  # the thread-per-connection echo still works
        sock.sendall(b"threads")
        assert sock.recv(100) == b"threads"
