"""Datagram services served by the engine's own loop thread (services/runner.py LoopServices).

Two in-process hosts on a memory cable: the server runs the service in its loop's passes,
the client talks to it through ordinary sockets. No root, no kernel.
"""

from __future__ import annotations

import threading

import pytest

from netstack.services.runner import LoopServices, ServiceRunner, datagram_services
from netstack.services.udp_echo import Handler as EchoHandler
from tests.netns import unique_name

api = pytest.importorskip("netstack.api")
SERVER_IP, CLIENT_IP = "192.0.2.2", "192.0.2.1"


@pytest.fixture
def hosts():
    cable = unique_name("lps")
    server = api.Host.open(f"memory:{cable}", f"{SERVER_IP}/24")
    client = api.Host.open(f"memory:{cable}", f"{CLIENT_IP}/24")
    try:
        yield server, client
    finally:
        client.close()
        server.close()


class ThreadRecordingEcho(EchoHandler):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def handle(self, sock, data, sender) -> None:
        self.threads.add(threading.get_ident())
        super().handle(sock, data, sender)


def test_echo_on_the_loop_thread_answers_every_datagram_in_order(hosts):
    server, client = hosts
    handler = ThreadRecordingEcho()
    with LoopServices(server, [(handler, 7)]), client.socket(api.AF_INET, api.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.connect((SERVER_IP, 7))
        for i in range(50):  # a burst: several datagrams queued per pass
            s.send(b"n%03d" % i)
        answers = [s.recv(100) for _ in range(50)]
    assert answers == [b"n%03d" % i for i in range(50)]
    assert handler.echoed == 50
    loop_thread = server.call(lambda stack, now: threading.get_ident())
    assert handler.threads == {loop_thread}, "the handler ran off the loop thread"


def test_stop_unhooks_and_frees_the_port(hosts):
    server, _client = hosts
    runner = LoopServices(server, [(EchoHandler(), 7)])
    runner.start()
    assert runner.running
    assert runner._serve in server.engine._pass_hooks
    runner.stop()
    assert not runner.running
    assert runner._serve not in server.engine._pass_hooks
    with server.socket(api.AF_INET, api.SOCK_DGRAM) as again:
        again.bind(("0.0.0.0", 7))  # the service's socket is closed: the port is free


def test_a_port_in_use_is_raised_by_start_and_nothing_stays_hooked(hosts):
    server, _client = hosts
    with server.socket(api.AF_INET, api.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", 7))
        runner = LoopServices(server, [(EchoHandler(), 9), (EchoHandler(), 7)])
        with pytest.raises(OSError):
            runner.start()
    assert not runner.running
    assert runner._serve not in server.engine._pass_hooks


def test_netstack_run_picks_the_loop_when_the_engine_allows_it(hosts):
    server, _client = hosts
    assert isinstance(datagram_services(server, [(EchoHandler(), 7)]), LoopServices)
    assert isinstance(datagram_services(server, [(EchoHandler(), 7)], on_loop=False),
                      ServiceRunner)
