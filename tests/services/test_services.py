"""The UDP services over a memory cable: echo, discard and daytime, one epoll loop for all.

Each test reads like a session with the service: start it, send it datagrams from the other
host, check what came back (or that nothing did).
"""

from __future__ import annotations

import calendar
import errno
import threading
import time

import pytest

from netstack.services import SERVICES, ServiceRunner, daytime, make_handler, udp_discard, udp_echo
from tests.netns import wait_until
from tests.services.conftest import SERVER_IP

api = pytest.importorskip("netstack.api")
REPLY_TIMEOUT = 5.0


def client_socket(host):
    sock = host.socket(api.AF_INET, api.SOCK_DGRAM)
    sock.settimeout(REPLY_TIMEOUT)
    return sock


def pattern(size: int, seed: int = 0) -> bytes:
    """Bytes that differ at every position, so a shifted or damaged echo cannot pass."""
    return bytes((i * 7 + seed) & 0xFF for i in range(size))


@pytest.mark.parametrize("size", [1, 1472, 1473, 4000, 65507])
def test_echo_returns_each_datagram_byte_for_byte(hosts, size):
    with ServiceRunner(hosts.server, [(udp_echo.Handler(), 7)]), client_socket(hosts.client) as sock:
        payload = pattern(size, seed=size)
        sock.sendto(payload, (SERVER_IP, 7))
        data, sender = sock.recvfrom(65535)
    assert sender == (SERVER_IP, 7)
    assert len(data) == size and data == payload


def test_echo_answers_each_client_on_its_own_port(hosts):
    handler = udp_echo.Handler()
    with ServiceRunner(hosts.server, [(handler, 7)]):
        sockets = [client_socket(hosts.client) for _ in range(3)]
        try:
            for n, sock in enumerate(sockets):
                sock.sendto(b"client %d" % n, (SERVER_IP, 7))
            replies = [sock.recv(100) for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
    assert replies == [b"client 0", b"client 1", b"client 2"]
    assert handler.echoed == 3


def test_an_empty_datagram_is_echoed_as_an_empty_datagram(hosts):
    with ServiceRunner(hosts.server, [(udp_echo.Handler(), 7)]), client_socket(hosts.client) as sock:
        sock.sendto(b"", (SERVER_IP, 7))
        assert sock.recvfrom(100) == (b"", (SERVER_IP, 7))


def test_discard_reads_everything_and_answers_nothing(hosts):
    handler = udp_discard.Handler()
    with ServiceRunner(hosts.server, [(handler, 9), (udp_echo.Handler(), 7)]), \
            client_socket(hosts.client) as sock:
        for n in range(20):
            sock.sendto(pattern(100, n), (SERVER_IP, 9))
        wait_until(lambda: handler.datagrams == 20, what="discard to read 20 datagrams")
        # The same socket then talks to echo: the first datagram it gets back is echo's,
        # so discard sent nothing in between.
        sock.sendto(b"after", (SERVER_IP, 7))
        assert sock.recvfrom(100) == (b"after", (SERVER_IP, 7))
    assert handler.bytes == 20 * 100


def test_daytime_answers_any_datagram_with_the_current_utc_time(hosts):
    with ServiceRunner(hosts.server, [(daytime.Handler(), 13)]), client_socket(hosts.client) as sock:
        before = time.time()
        sock.sendto(b"what time is it?", (SERVER_IP, 13))
        data, sender = sock.recvfrom(1000)
        after = time.time()
    assert sender == (SERVER_IP, 13)
    text = data.decode("ascii")
    line, crlf, rest = text.partition("\r\n")
    assert crlf and not rest and line.isprintable()  # one line of printable ASCII
    when = calendar.timegm(time.strptime(line, daytime.FORMAT))
    assert int(before) <= when <= after + 1


def test_daytime_text_follows_the_rfc_867_example():
    # RFC 867's example moment, "Tuesday, February 22, 1982 17:37:43-PST", here in UTC. (That
    # day was a Monday: the RFC's example has the weekday wrong.)
    moment = calendar.timegm((1982, 2, 22, 17, 37, 43, 0, 0, 0))
    assert daytime.format_daytime(moment) == "Monday, February 22, 1982 17:37:43-UTC\r\n"


def test_daytime_uses_its_clock_and_ignores_what_it_was_sent(hosts):
    handler = daytime.Handler(clock=lambda: 0.0)
    with ServiceRunner(hosts.server, [(handler, 13)]), client_socket(hosts.client) as sock:
        for message in (b"", b"x" * 1000):
            sock.sendto(message, (SERVER_IP, 13))
            assert sock.recv(1000) == b"Thursday, January 01, 1970 00:00:00-UTC\r\n"
    assert handler.answered == 2


def test_one_loop_serves_every_service_at_once(hosts):
    services = [("udp-echo", 7), ("udp-discard", 9), ("daytime", 13)]
    runner = ServiceRunner.from_names(hosts.server, services)
    with runner, client_socket(hosts.client) as sock:
        sock.sendto(b"ping", (SERVER_IP, 7))
        sock.sendto(b"drop me", (SERVER_IP, 9))
        sock.sendto(b"", (SERVER_IP, 13))
        replies = {sock.recvfrom(1000)[1][1] for _ in range(2)}
        assert replies == {7, 13}
        discard = runner.bindings[1][0]
        wait_until(lambda: discard.datagrams == 1, what="discard to read its datagram")
    assert len({t.name for t in threading.enumerate() if t.name == "services"}) == 0


def test_serve_runs_until_its_stop_event_is_set(hosts):
    stop = threading.Event()
    done = threading.Event()

    def run():
        udp_echo.serve(hosts.server, 7, stop)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    with client_socket(hosts.client) as sock:
        # The service binds on its own thread: the first datagram may beat it, so ask again
        # until it answers (each try waits for a reply with a deadline).
        sock.settimeout(0.2)

        def answered() -> bool:
            sock.sendto(b"are you there?", (SERVER_IP, 7))
            try:
                return sock.recv(100) == b"are you there?"
            except (TimeoutError, ConnectionRefusedError):
                return False

        wait_until(answered, what="the echo service to answer")
    stop.set()
    assert done.wait(REPLY_TIMEOUT), "serve() did not return after stop was set"


def test_serve_returns_when_the_host_closes(hosts):
    done = threading.Event()
    ready = threading.Event()

    def run():
        from netstack.services.runner import serve_datagrams

        serve_datagrams(hosts.server, [(udp_echo.Handler(), 7)], threading.Event(), on_ready=ready.set)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert ready.wait(REPLY_TIMEOUT)
    hosts.server.close()
    assert done.wait(REPLY_TIMEOUT), "serve() kept running after its host closed"


def test_a_port_already_in_use_is_reported_by_start(hosts):
    with hosts.server.socket(api.AF_INET, api.SOCK_DGRAM) as squatter:
        squatter.bind(("0.0.0.0", 7))
        runner = ServiceRunner(hosts.server, [(udp_echo.Handler(), 7)])
        with pytest.raises(OSError) as caught:
            runner.start()
        assert caught.value.errno == errno.EADDRINUSE
        assert not runner.running


def test_stop_is_prompt_and_frees_the_ports(hosts):
    runner = ServiceRunner(hosts.server, [(udp_echo.Handler(), 7)])
    runner.start()
    started = time.monotonic()
    runner.stop()
    assert time.monotonic() - started < 1.0
    with hosts.server.socket(api.AF_INET, api.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 7))  # would raise EADDRINUSE if the service still held it


def test_the_registry_names_real_services():
    udp = {name for name, info in SERVICES.items() if info.module is not None}
    assert udp == {"udp-echo", "udp-discard", "daytime"}  # the TCP ones: test_tcp_services.py
    for name in udp:
        handler = make_handler(name)
        assert callable(handler.handle), name
        assert 0 < SERVICES[name].default_port < 65536
    assert [SERVICES[n].default_port for n in ("udp-echo", "udp-discard", "daytime")] == [7, 9, 13]
