"""A stack socket against the Linux kernel: the kernel runs the servers, netstack the clients.

The stack is an in-process Host whose TAP lives in the test namespace (StackInNamespace);
the kernel's servers are a Python echo server and `nc -u -l`, both in that namespace.
"""

from __future__ import annotations

import errno
import subprocess

import pytest

from netstack.netns import wait_for_line
from tests.interop.kernel_peer import requires_root
from tests.interop.stack_in_namespace import (
    KERNEL_IP,
    REPLY_TIMEOUT,
    STACK_IP,
    KernelUdpEcho,
    StackInNamespace,
)
from tests.netns import wait_until

pytestmark = requires_root
api = pytest.importorskip("netstack.api")

SIZES = [1, 1472, 1473, 4000, 65507]


def stack_socket(bench: StackInNamespace):
    sock = bench.host.socket(api.AF_INET, api.SOCK_DGRAM)
    sock.settimeout(REPLY_TIMEOUT)
    return sock


def test_stack_socket_gets_every_size_back_from_a_kernel_echo_server(tmp_path):
    with StackInNamespace(tmp_path) as bench, KernelUdpEcho(bench.ns, (KERNEL_IP, 7)) as server, \
            stack_socket(bench) as sock:
        for size in SIZES:
            payload = bytes((i * 13 + size) & 0xFF for i in range(size))
            sock.sendto(payload, (KERNEL_IP, 7))
            data, sender = sock.recvfrom(65535)
            assert sender == (KERNEL_IP, 7)
            assert len(data) == size and data == payload, f"size {size}"
        local = sock.getsockname()
    # The kernel saw each datagram whole, from the stack's address and ephemeral port.
    assert [len(d) for d, _ in server.received] == SIZES
    assert {sender for _, sender in server.received} == {(STACK_IP, local[1])}
    assert 49152 <= local[1] <= 65535


def test_a_connected_stack_socket_talks_to_the_kernel(tmp_path):
    with StackInNamespace(tmp_path) as bench, KernelUdpEcho(bench.ns, (KERNEL_IP, 5000)), \
            stack_socket(bench) as sock:
        sock.connect((KERNEL_IP, 5000))
        assert sock.getpeername() == (KERNEL_IP, 5000)
        for n in range(5):
            sock.send(b"datagram %d" % n)
            assert sock.recv(100) == b"datagram %d" % n


def test_netcat_listening_in_the_kernel_talks_with_a_stack_socket(tmp_path):
    with StackInNamespace(tmp_path) as bench, stack_socket(bench) as sock:
        nc = bench.ns.popen(["nc", "-u", "-l", KERNEL_IP, "5001"], stdin=subprocess.PIPE)
        wait_until(lambda: bench.ns.run(["ss", "-Hnul", "sport = :5001"]).stdout.strip(),
                   what="nc to bind UDP port 5001")
        sock.sendto(b"hello from netstack\n", (KERNEL_IP, 5001))
        assert wait_for_line(nc, "hello", timeout=REPLY_TIMEOUT) == "hello from netstack"
        # nc now talks to whoever spoke first: what it reads on stdin comes back to us.
        assert nc.stdin is not None
        nc.stdin.write(b"hello from the kernel\n")
        nc.stdin.flush()
        data, sender = sock.recvfrom(100)
        assert data == b"hello from the kernel\n" and sender == (KERNEL_IP, 5001)


def test_a_stack_socket_connected_to_a_closed_kernel_port_gets_econnrefused(tmp_path):
    with StackInNamespace(tmp_path) as bench, stack_socket(bench) as sock:
        sock.connect((KERNEL_IP, 9))  # nothing listens there: the kernel answers with ICMP
        sock.send(b"anyone?")
        with pytest.raises(ConnectionRefusedError) as caught:
            sock.recv(100)
        assert caught.value.errno == errno.ECONNREFUSED
        assert bench.counters["udp.rx.icmp_error"] >= 1


def test_a_kernel_client_is_refused_by_a_closed_stack_port(tmp_path):
    with StackInNamespace(tmp_path) as bench:
        kernel = bench.kernel_socket()
        kernel.connect((STACK_IP, 9))
        kernel.send(b"anyone?")
        with pytest.raises(ConnectionRefusedError):
            kernel.recv(100)
        assert bench.counters["udp.tx.port_unreachable"] >= 1
