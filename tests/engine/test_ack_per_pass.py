"""ACKs at the end of the engine pass, end to end: the engine calls Stack.end_pass after
its pass hooks, so the echo service's answer and FIN carry the ACKs a bare ACK would
otherwise have taken (stages/tcp/receiver.py, ack_soon).

Two in-process hosts on a memory cable, the echo service on the server's loop.
"""

from __future__ import annotations

from netstack.services import tcp_echo
from netstack.services.loop_streams import LoopStreams
from tests.api import tcp_fixtures
from tests.api.tcp_fixtures import wait_for
from tests.services.stream_checks import dial

tcp_hosts = tcp_fixtures.tcp_hosts  # the fixture: two hosts on a memory cable


def test_an_echo_cycle_costs_the_server_three_segments(tcp_hosts):
    server = tcp_hosts.server
    with LoopStreams(server, [(tcp_echo.Handler(), 7)]):
        before = server.counters["tcp.tx.segments"]
        sock = dial(tcp_hosts.client)
        try:
            sock.sendall(b"x" * 32)
            assert sock.recv(100) == b"x" * 32
        finally:
            sock.close()
        wait_for(lambda: len(server.sockets()) == 1, "the service to close")
        # SYN-ACK, the echo (carrying the ACK of the data), FIN|ACK (carrying the ACK of
        # the client's FIN): the FIN's bare ACK is gone.
        assert server.counters["tcp.tx.segments"] - before == 3
