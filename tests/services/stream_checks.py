"""Checks every stream service runner must pass, shared by the tests of each runner
(tests/services/test_tcp_services.py: stream_runner.ServiceRunner; tests/engine/
test_loop_streams.py: loop_streams.LoopStreams)."""

from __future__ import annotations

from typing import Any

from netstack import api
from netstack.services import tcp_daytime
from tests.api.tcp_fixtures import SERVER_IP, TIMEOUT, TcpPair, recv_all


def dial(host: Any, port: int = 7) -> Any:
    """A blocking client socket connected to the server's `port`."""
    sock = host.socket(api.AF_INET, api.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.connect((SERVER_IP, port))
    return sock


def check_stop_ends_connections_and_frees_the_port(pair: TcpPair, runner: Any,
                                                   port: int = 7) -> None:
    """`runner` (not started) echoes on `port`: once stopped, an open connection is closed
    from the server's side and the port can be bound again."""
    runner.start()
    sock = dial(pair.client, port)
    sock.sendall(b"hi")
    assert sock.recv(10) == b"hi"
    runner.stop()
    assert not runner.running
    assert pair.server.sockets() == []
    assert recv_all(sock) == b""  # the service's close reached us
    sock.close()
    with pair.server.socket(api.AF_INET, api.SOCK_STREAM) as again:
        again.bind(("", port))


def check_daytime_sends_one_line_and_closes(pair: TcpPair, runner_class: Any) -> None:
    """`runner_class(host, bindings)` serves daytime (RFC 867): one line, then its close."""
    handler = tcp_daytime.Handler(clock=lambda: 0.0)
    with runner_class(pair.server, [(handler, 13)]), dial(pair.client, 13) as sock:
        assert recv_all(sock) == b"Thursday, January 01, 1970 00:00:00-UTC\r\n"
    assert handler.answered == 1
