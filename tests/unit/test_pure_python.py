"""The stack without its C: with NETSTACK_PURE_PYTHON=1 (as on a checkout where nothing is
built) netstack.native gives pure-Python stand-ins, and the whole stack still runs: the pure-Python path
still works when the native engine is not built."""

import os
import subprocess
import sys
import threading

import pytest

from netstack.native import pure

# A TCP transfer and a UDP echo between two stacks on the memory link, in a fresh interpreter
# whose netstack.native is the pure-Python one.
PURE_RUN = r"""
import hashlib, random, threading
import netstack.native as native
assert not native.BUILT and native.lib is None, native.BUILT
from netstack.api import AF_INET, SOCK_DGRAM, SOCK_STREAM, Host
from netstack.engine.native_pool import AVAILABLE
assert not AVAILABLE
data = random.Random(5).randbytes(300_000)
a = Host.open("memory:pure", "192.0.2.1/24")
b = Host.open("memory:pure", "192.0.2.2/24")
try:
    listener = b.socket(AF_INET, SOCK_STREAM)
    listener.bind(("192.0.2.2", 7)); listener.listen(1)
    got = bytearray()
    def serve():
        conn, _ = listener.accept()
        with conn:
            while chunk := conn.recv(65536):
                got.extend(chunk)
    server = threading.Thread(target=serve); server.start()
    with a.socket(AF_INET, SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(("192.0.2.2", 7)); s.sendall(data)
    server.join(10)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), len(got)
    with b.socket(AF_INET, SOCK_DGRAM) as u, a.socket(AF_INET, SOCK_DGRAM) as c:
        u.bind(("192.0.2.2", 9)); c.settimeout(5)
        c.sendto(b"x" * 3000, ("192.0.2.2", 9))
        payload, peer = u.recvfrom(65535)
        assert payload == b"x" * 3000
    print("ok", len(got))
finally:
    a.close(); b.close()
"""


def run_pure(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NETSTACK_PURE_PYTHON="1")
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_two_stacks_carry_tcp_and_udp_with_no_native_code():
    result = run_pure("-c", PURE_RUN)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok 300000"


def test_the_memory_demo_runs_with_no_native_code():
    result = run_pure("-m", "netstack", "demo", "--memory")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "5 sent, 5 received, 0% loss" in result.stdout


def test_asking_for_the_native_engine_without_it_is_a_clear_error():
    result = run_pure("-m", "netstack", "run", "--port", "memory:x", "--ip", "192.0.2.2/24",
                      "--engine", "native")
    assert result.returncode == 2
    assert "native engine is not built" in result.stderr


def test_pure_ring_bursts_take_what_fits_in_order():
    ring = pure.Ring(4)
    assert ring.enqueue_burst([1, 2, 3, 4, 5, 6]) == 4
    assert not ring.enqueue_bulk([7])
    assert ring.dequeue_burst(3) == [1, 2, 3]
    assert ring.enqueue_bulk([7, 8, 9])
    assert ring.dequeue_bulk(5) is None  # all or nothing
    assert ring.dequeue_bulk(4) == [4, 7, 8, 9]
    assert ring.dequeue() is None and ring.count() == 0 and ring.free_count() == 4
    with pytest.raises(ValueError):
        pure.Ring(6)


def test_pure_ring_loses_and_repeats_nothing_across_threads():
    ring, n = pure.Ring(64), 20_000
    received: list[int] = []

    def consume() -> None:
        while len(received) < n:
            received.extend(ring.dequeue_burst(16))

    consumer = threading.Thread(target=consume)
    consumer.start()
    sent = 0
    while sent < n:
        sent += ring.enqueue_burst(range(sent, min(sent + 16, n)))
    consumer.join(30)
    assert received == list(range(n))


def test_pure_spinlock_behaves_like_the_native_one():
    lock = pure.Spinlock()
    assert lock.try_acquire() and lock.locked() and not lock.try_acquire()
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    with lock:
        assert lock.locked()
    assert not lock.locked()
