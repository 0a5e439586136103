"""The TCP services over a memory cable: echo, discard, chargen, daytime, and the runner."""

from __future__ import annotations

import errno
import hashlib

import pytest

from netstack import api
from netstack.config import build_run_options
from netstack.errors import ConfigError
from netstack.services import (
    SERVICES,
    ServiceRunner,
    make_handlers,
    tcp_chargen,
    tcp_discard,
    tcp_echo,
    udp_echo,
)
from tests.api.tcp_fixtures import (
    SERVER_IP,
    TIMEOUT,
    recv_all,
    run_in_thread,
    wait_for,
)
from tests.services.stream_checks import (
    check_daytime_sends_one_line_and_closes,
    check_stop_ends_connections_and_frees_the_port,
    dial,
)


def only_the_listener_left(host) -> bool:
    """The service closed its side of every connection (its listener stays open)."""
    return len(host.sockets()) == 1


def test_echo_returns_a_megabyte_intact(tcp_hosts):
    data = bytes((i * 13) & 0xFF for i in range(1024 * 1024))
    handler = tcp_echo.Handler()
    with ServiceRunner(tcp_hosts.server, [(handler, 7)]), dial(tcp_hosts.client, 7) as sock:
        sending = run_in_thread(lambda: (sock.sendall(data), sock.shutdown(api.SHUT_WR)))
        echoed = recv_all(sock)
        sending()
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
    assert handler.bytes == len(data) and handler.connections == 1


def test_echo_serves_clients_concurrently(tcp_hosts):
    with ServiceRunner(tcp_hosts.server, [(tcp_echo.Handler(), 7)]):
        clients = [dial(tcp_hosts.client, 7) for _ in range(10)]
        try:
            # Every connection is open at once; each gets its own answer.
            for n, sock in enumerate(clients):
                sock.sendall(b"client %d" % n)
            assert [sock.recv(100) for sock in clients] == [b"client %d" % n
                                                            for n in range(10)]
        finally:
            for sock in clients:
                sock.close()
        wait_for(lambda: only_the_listener_left(tcp_hosts.server), "the service to close")


def test_discard_reads_everything_and_answers_nothing(tcp_hosts):
    handler = tcp_discard.Handler()
    with ServiceRunner(tcp_hosts.server, [(handler, 9)]), dial(tcp_hosts.client, 9) as sock:
        sock.sendall(b"z" * 300_000)
        sock.shutdown(api.SHUT_WR)
        assert sock.recv(10) == b""  # the service closed after our FIN, having sent nothing
    assert handler.bytes == 300_000


def test_chargen_sends_the_rfc_864_pattern_until_we_close(tcp_hosts):
    handler = tcp_chargen.Handler()
    with ServiceRunner(tcp_hosts.server, [(handler, 19)]):
        with dial(tcp_hosts.client, 19) as sock:
            received = b""
            while len(received) < 200_000:
                received += sock.recv(65536)
        wait_for(lambda: only_the_listener_left(tcp_hosts.server), "chargen to stop")
    assert received == tcp_chargen.chargen_bytes(len(received))
    first, second = received.split(b"\r\n")[:2]
    assert first == bytes(range(32, 104)) and second == bytes(range(33, 105))
    assert handler.connections == 1


def test_chargen_stops_at_the_client_s_fin(tcp_hosts):
    with ServiceRunner(tcp_hosts.server, [(tcp_chargen.Handler(), 19)]):
        with dial(tcp_hosts.client, 19) as sock:
            sock.recv(1000)
            sock.shutdown(api.SHUT_WR)
            tail = recv_all(sock)  # what was in flight, then the service's own FIN
            assert len(tail) < 10_000_000


def test_daytime_over_tcp_sends_one_line_and_closes(tcp_hosts):
    check_daytime_sends_one_line_and_closes(tcp_hosts, ServiceRunner)


def test_daytime_by_name_serves_udp_and_tcp_on_one_port(tcp_hosts):
    with ServiceRunner.from_names(tcp_hosts.server, [("daytime", 13)]):
        with dial(tcp_hosts.client, 13) as sock:
            assert recv_all(sock).endswith(b"-UTC\r\n")
        with tcp_hosts.client.socket(api.AF_INET, api.SOCK_DGRAM) as udp:
            udp.settimeout(TIMEOUT)
            udp.sendto(b"", (SERVER_IP, 13))
            assert udp.recv(100).endswith(b"-UTC\r\n")


def test_udp_and_tcp_echo_share_port_7(tcp_hosts):
    bindings = [(udp_echo.Handler(), 7), (tcp_echo.Handler(), 7)]
    with ServiceRunner(tcp_hosts.server, bindings):
        with dial(tcp_hosts.client, 7) as sock:
            sock.sendall(b"over tcp")
            assert sock.recv(100) == b"over tcp"
        with tcp_hosts.client.socket(api.AF_INET, api.SOCK_DGRAM) as udp:
            udp.settimeout(TIMEOUT)
            udp.sendto(b"over udp", (SERVER_IP, 7))
            assert udp.recv(100) == b"over udp"


def test_stopping_the_runner_ends_open_connections_and_frees_the_port(tcp_hosts):
    runner = ServiceRunner(tcp_hosts.server, [(tcp_echo.Handler(), 7)])
    check_stop_ends_connections_and_frees_the_port(tcp_hosts, runner)


def test_a_port_in_use_stops_the_runner_from_starting(tcp_hosts):
    with tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM) as squatter:
        squatter.bind(("", 80))
        runner = ServiceRunner.from_names(tcp_hosts.server, [("http", 80)])
        with pytest.raises(OSError) as caught:
            runner.start()
        assert caught.value.errno == errno.EADDRINUSE


def test_the_registry_and_the_config_know_the_tcp_services():
    for name in ("tcp-echo", "tcp-discard", "tcp-chargen", "http", "daytime"):
        assert SERVICES[name].tcp_module is not None
        assert any(callable(getattr(h, "serve_connection", None)) for h in make_handlers(name))
    base = {"port": "memory:x", "ip": "192.0.2.2/24"}
    options = build_run_options({**base, "services": ["udp-echo:7", "tcp-echo:7", "http"]})
    assert options.services == (("udp-echo", 7), ("tcp-echo", 7), ("http", 80))
    with pytest.raises(ConfigError):
        build_run_options({**base, "services": ["tcp-echo:7", "http:7"]})
    with pytest.raises(ConfigError):
        build_run_options({**base, "services": ["daytime:13", "tcp-discard:13"]})
