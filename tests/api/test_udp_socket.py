"""The UDP socket API between two Hosts on a memory cable: data, errors, blocking, options."""

import errno
import threading
import time

import pytest

from netstack import api
from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.stages.udp import DATAGRAM_OVERHEAD
from tests.netns import unique_name

from .conftest import A_IP, B_IP, wait_until

TIMEOUT = 5.0


def udp(host):
    sock = host.socket(api.AF_INET, api.SOCK_DGRAM)
    sock.settimeout(TIMEOUT)
    return sock


# --- data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1472, 1473, 4000, 65507])
def test_datagrams_of_every_size_cross_and_come_back_byte_for_byte(hosts, size):
    with udp(hosts.a) as client, udp(hosts.b) as server:
        server.bind(("0.0.0.0", 7))
        data = bytes(i % 251 for i in range(size))
        assert client.sendto(data, (B_IP, 7)) == size
        got, peer = server.recvfrom(65535)
        assert got == data and peer == (A_IP, client.getsockname()[1])
        server.sendto(got, peer)
        assert client.recvfrom(65535) == (data, (B_IP, 7))


def test_connected_sockets_use_send_and_recv_and_know_both_names(hosts):
    with udp(hosts.a) as client, udp(hosts.b) as server:
        server.bind((B_IP, 5000))
        with pytest.raises(OSError) as info:
            client.getpeername()
        assert info.value.errno == errno.ENOTCONN
        client.connect((B_IP, 5000))
        assert client.getpeername() == (B_IP, 5000)
        local_ip, port = client.getsockname()
        assert local_ip == A_IP and 49152 <= port <= 65535  # connect binds and picks our IP
        client.send(b"over")
        data, peer = server.recvfrom(100)
        server.sendto(data + b" and out", peer)
        assert client.recv(100) == b"over and out"


def test_recv_into_msg_peek_and_truncation(hosts):
    with udp(hosts.a) as client, udp(hosts.b) as server:
        server.bind(("", 9))
        for message in (b"first datagram", b"second"):
            client.sendto(message, (B_IP, 9))
        assert server.recv(100, api.MSG_PEEK) == b"first datagram"  # still queued
        buffer = bytearray(5)
        assert server.recv_into(buffer) == 5 and buffer == b"first"  # the rest is lost
        big = bytearray(100)
        count, peer = server.recvfrom_into(big, 50)
        assert big[:count] == b"second" and peer[0] == A_IP


def test_broadcast_needs_so_broadcast_and_then_reaches_wildcard_sockets(hosts):
    with udp(hosts.a) as sender, udp(hosts.b) as listener:
        listener.bind(("0.0.0.0", 67))
        for address in ("255.255.255.255", "192.0.2.255", "<broadcast>"):
            with pytest.raises(PermissionError):
                sender.sendto(b"hello all", (address, 67))
        assert sender.getsockopt(api.SOL_SOCKET, api.SO_BROADCAST) == 0
        sender.setsockopt(api.SOL_SOCKET, api.SO_BROADCAST, 1)
        assert sender.getsockopt(api.SOL_SOCKET, api.SO_BROADCAST) == 1
        sender.sendto(b"hello all", ("255.255.255.255", 67))
        sender.sendto(b"hello subnet", ("192.0.2.255", 67))
        assert listener.recv(100) == b"hello all"
        assert listener.recv(100) == b"hello subnet"


# --- errors --------------------------------------------------------------------------------


def test_eaddrinuse_and_so_reuseaddr(hosts):
    with udp(hosts.b) as first, udp(hosts.b) as second:
        first.bind(("0.0.0.0", 53))
        with pytest.raises(OSError) as info:
            second.bind(("0.0.0.0", 53))
        assert info.value.errno == errno.EADDRINUSE
    with udp(hosts.b) as first, udp(hosts.b) as second:  # the port is free again after close
        for sock in (first, second):
            sock.setsockopt(api.SOL_SOCKET, api.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", 53))
        assert first.getsockopt(api.SOL_SOCKET, api.SO_REUSEADDR) == 1


def test_einval_emsgsize_edestaddrreq_eaddrnotavail(hosts):
    with udp(hosts.a) as sock:
        with pytest.raises(OSError) as info:
            sock.send(b"where to?")
        assert info.value.errno == errno.EDESTADDRREQ
        with pytest.raises(OSError) as info:
            sock.sendto(b"x" * 65508, (B_IP, 7))
        assert info.value.errno == errno.EMSGSIZE
        with pytest.raises(OSError) as info:
            sock.sendto(b"x", (B_IP, 0))
        assert info.value.errno == errno.EINVAL
        with pytest.raises(OSError) as info:
            sock.bind(("198.51.100.1", 7))
        assert info.value.errno == errno.EADDRNOTAVAIL
        sock.bind(("0.0.0.0", 0))
        with pytest.raises(OSError) as info:
            sock.bind(("0.0.0.0", 0))
        assert info.value.errno == errno.EINVAL  # already bound
        with pytest.raises(OSError) as info:
            sock.setsockopt(api.SOL_SOCKET, api.SO_RCVBUF, 0)
        assert info.value.errno == errno.EINVAL
        with pytest.raises(OverflowError):
            sock.sendto(b"x", (B_IP, 70000))
        with pytest.raises(TypeError):
            sock.sendto(b"x", B_IP)


def test_every_call_on_a_closed_socket_raises_ebadf(hosts):
    sock = udp(hosts.a)
    sock.bind(("0.0.0.0", 0))
    sock.close()
    sock.close()  # twice is fine
    assert sock.fileno() == -1
    calls = [
        lambda: sock.sendto(b"x", (B_IP, 7)),
        lambda: sock.recv(10),
        lambda: sock.recvfrom(10),
        lambda: sock.bind(("0.0.0.0", 0)),
        lambda: sock.connect((B_IP, 7)),
        lambda: sock.getsockname(),
        lambda: sock.getsockopt(api.SOL_SOCKET, api.SO_RCVBUF),
        lambda: sock.setsockopt(api.SOL_SOCKET, api.SO_RCVBUF, 1000),
    ]
    for call in calls:
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EBADF


def test_a_connected_socket_gets_econnrefused_after_port_unreachable(hosts):
    with udp(hosts.a) as sock:
        sock.connect((B_IP, 9999))  # nobody listens there
        sock.send(b"anyone?")
        with pytest.raises(ConnectionRefusedError):
            sock.recv(100)  # woken by the error, reported once
        assert wait_until(lambda: hosts.b.counters["udp.tx.port_unreachable"] == 1)
        sock.send(b"again?")
        assert wait_until(lambda: hosts.b.counters["udp.tx.port_unreachable"] == 2)
        assert wait_until(lambda: sock.readiness() & api.POLLERR)
        assert sock.getsockopt(api.SOL_SOCKET, api.SO_ERROR) == errno.ECONNREFUSED
        assert sock.getsockopt(api.SOL_SOCKET, api.SO_ERROR) == 0  # reading clears it
        sock.send(b"and again?")
        assert wait_until(lambda: hosts.b.counters["udp.tx.port_unreachable"] == 3)
        assert wait_until(lambda: sock.readiness() & api.POLLERR)
        with pytest.raises(ConnectionRefusedError):
            sock.send(b"the next send reports it")


# --- blocking, timeouts, non-blocking -------------------------------------------------------


def test_non_blocking_recv_raises_eagain(hosts):
    with udp(hosts.b) as sock:
        sock.bind(("0.0.0.0", 7))
        with pytest.raises(BlockingIOError) as info:
            sock.recv(10, api.MSG_DONTWAIT)
        assert info.value.errno == errno.EAGAIN
        sock.setblocking(False)
        assert sock.gettimeout() == 0.0 and not sock.getblocking()
        with pytest.raises(BlockingIOError):
            sock.recvfrom(10)


def test_a_timeout_raises_timeouterror_after_about_that_long(hosts):
    with udp(hosts.b) as sock:
        sock.bind(("0.0.0.0", 7))
        sock.settimeout(0.1)
        assert sock.gettimeout() == 0.1
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.recv(10)
        assert 0.09 <= time.monotonic() - started < 2.0


def test_a_blocked_recv_wakes_promptly_when_data_arrives(hosts):
    with udp(hosts.a) as client, udp(hosts.b) as server:
        server.bind(("0.0.0.0", 7))
        server.settimeout(None)
        received = []
        waiting = threading.Thread(target=lambda: received.append(server.recv(100)))
        waiting.start()
        assert wait_until(lambda: server._waiters == 1)  # it really is asleep in recv
        sent_at = time.monotonic()
        client.sendto(b"wake up", (B_IP, 7))
        waiting.join(TIMEOUT)
        assert received == [b"wake up"]
        assert time.monotonic() - sent_at < 1.0


def blocked_recv_errors(sock) -> tuple[threading.Thread, list[int]]:
    """Start a thread blocked in sock.recv(); the errno it ends with lands in the list."""
    errors: list[int] = []

    def blocked_recv():
        try:
            sock.recv(100)
        except OSError as exc:
            errors.append(exc.errno)

    waiting = threading.Thread(target=blocked_recv)
    waiting.start()
    assert wait_until(lambda: sock._waiters == 1)
    return waiting, errors


@pytest.mark.parametrize("stop", ["host.close()", "engine.stop()"])
def test_a_stopping_stack_wakes_blocked_calls_with_enetdown(hosts, stop):
    sock = hosts.b.socket(api.AF_INET, api.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 7))
    waiting, errors = blocked_recv_errors(sock)
    if stop == "host.close()":
        hosts.b.close()
    else:
        hosts.b.engine.stop()  # the loop ends under the host's feet, without close()
    waiting.join(TIMEOUT)
    assert errors == [errno.ENETDOWN]
    assert hosts.b.closed
    with pytest.raises(OSError) as info:
        sock.sendto(b"x", (A_IP, 7))
    assert info.value.errno == errno.ENETDOWN
    with pytest.raises(OSError) as info:
        hosts.b.socket(api.AF_INET, api.SOCK_DGRAM)
    assert info.value.errno == errno.ENETDOWN
    sock.close()


def test_closing_a_socket_wakes_its_blocked_recv_with_ebadf(hosts):
    sock = udp(hosts.b)
    sock.settimeout(None)
    errors = []
    waiting = threading.Thread(target=lambda: errors.append(pytest.raises(OSError, sock.recv, 1)))
    waiting.start()
    assert wait_until(lambda: sock._waiters == 1)
    sock.close()
    waiting.join(TIMEOUT)
    assert errors and errors[0].value.errno == errno.EBADF


# --- options -------------------------------------------------------------------------------


def test_so_rcvbuf_bounds_the_queue_and_drops_are_counted(hosts):
    with udp(hosts.a) as client, udp(hosts.b) as server:
        default = hosts.b.stack.config.udp_rcvbuf
        assert server.getsockopt(api.SOL_SOCKET, api.SO_RCVBUF) == default
        server.setsockopt(api.SOL_SOCKET, api.SO_RCVBUF, 3 * (100 + DATAGRAM_OVERHEAD))
        assert server.getsockopt(api.SOL_SOCKET, api.SO_RCVBUF) == 3 * (100 + DATAGRAM_OVERHEAD)
        server.bind(("0.0.0.0", 7))
        for n in range(10):
            client.sendto(bytes([n]) * 100, (B_IP, 7))
        assert wait_until(lambda: hosts.b.counters["udp.rx.datagrams"] == 10)
        assert hosts.b.counters["udp.drop.rcvbuf_full"] == 7
        assert [server.recv(200)[0] for _ in range(3)] == [0, 1, 2]
        with pytest.raises(BlockingIOError):
            server.recv(200, api.MSG_DONTWAIT)


def test_so_sndbuf_bounds_what_waits_for_the_loop_thread():
    """With the loop held up nothing drains: sends fill SO_SNDBUF, then EAGAIN or a wait
    that ends when the loop runs again."""
    cable = unique_name("sndbuf")
    config = StackConfig(mac=bytes.fromhex("02000000aa01"), address="192.0.2.9/24")
    pool = MbufPool(256)
    engine = Engine(Stack(config, pool), open_port(f"memory:{cable}"), pool)
    engine.start()
    host = api.Host(engine, owns_engine=True)
    try:
        sock = udp(host)
        sock.setsockopt(api.SOL_SOCKET, api.SO_SNDBUF, 1000)
        assert sock.getsockopt(api.SOL_SOCKET, api.SO_SNDBUF) == 1000
        sock.connect(("192.0.2.10", 7))
        # Hold the loop thread inside a control call (stopping it would close the host).
        release = threading.Event()
        held = threading.Event()
        engine.call_soon_threadsafe(lambda stack, now: (held.set(), release.wait(TIMEOUT)))
        assert held.wait(TIMEOUT)
        sent = 0
        with pytest.raises(BlockingIOError):
            while True:
                sock.send(b"x" * 100, api.MSG_DONTWAIT)
                sent += 1
        assert sent == -(-1000 // (100 + DATAGRAM_OVERHEAD))  # up to the first byte past it
        assert not sock.readiness() & api.POLLOUT
        sock.settimeout(0.05)
        with pytest.raises(TimeoutError):
            sock.send(b"x")
        sock.settimeout(TIMEOUT)
        done = threading.Event()
        waiting = threading.Thread(target=lambda: (sock.send(b"waits"), done.set()))
        waiting.start()
        assert wait_until(lambda: sock._waiters == 1)
        release.set()
        assert done.wait(TIMEOUT)
        assert wait_until(lambda: sock.readiness() & api.POLLOUT)
        waiting.join(TIMEOUT)
    finally:
        host.close()


# --- the host ------------------------------------------------------------------------------


def test_host_basics(hosts):
    assert hosts.a.ping(B_IP, count=1, timeout=2.0).received == 1
    with pytest.raises(OSError) as info:
        hosts.a.socket(api.AF_INET, 99)
    assert info.value.errno == errno.EPROTONOSUPPORT
    socks = [hosts.a.socket() for _ in range(3)]
    assert len({s.fileno() for s in socks}) == 3
    assert set(hosts.a.sockets()) == set(socks)
    with socks[0]:
        pass
    assert socks[0].fileno() == -1 and socks[0] not in hosts.a.sockets()
    assert hosts.a.counters is hosts.a.stack.counters
    with api.Host(hosts.a.engine) as wrapper:  # wrapping: close() stops the engine
        assert not wrapper.closed
    assert wrapper.closed
