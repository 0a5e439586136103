"""The Linux kernel's clients against `netstack run --service udp-echo:7 --service daytime:13`.

Like a lab manual: start the stack with its services in a namespace, then run Python socket
clients and `nc -u` in that namespace (they are the kernel's sockets, 192.0.2.1) and check
what they print. Every frame the stack sent is checked by tshark when it stops.
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Iterator

import pytest

from tests.capture_check import assert_capture_clean, frames_from
from tests.interop.kernel_peer import STACK_IP, KernelPeer, requires_root
from tests.netns import NetstackProcess, unique_name

pytestmark = requires_root

SIZES = [1, 1472, 1473, 4000, 65507]  # 1472 fills one 1500-byte frame; 1473 needs two

# Run by the namespace's Python: one connected socket (so only the service's replies count)
# sends each size and prints "SIZE LENGTH-OF-REPLY SAME|DIFFERENT".
ECHO_CLIENT = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(5)
    s.connect((host, port))
    for size in map(int, sys.argv[3:]):
        payload = bytes((i * 7 + size) & 0xFF for i in range(size))
        s.send(payload)
        reply = s.recv(65535)
        print(size, len(reply), "SAME" if reply == payload else "DIFFERENT", flush=True)
"""

DAYTIME_CLIENT = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(5)
    s.sendto(b"", (sys.argv[1], 13))
    data, sender = s.recvfrom(1000)
    print(repr(data.decode("ascii")), sender)
"""

# A connected socket learns of the ICMP port unreachable on its next call, as ECONNREFUSED.
REFUSED_CLIENT = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(5)
    s.connect((sys.argv[1], int(sys.argv[2])))
    s.send(b"anyone?")
    try:
        s.recv(100)
    except ConnectionRefusedError:
        print("refused")
    except TimeoutError:
        print("timeout")
    else:
        print("answered")
"""


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Iterator[KernelPeer]:
    """One stack for the module: udp-echo on 7 and 7007, daytime on 13, nothing on 9."""
    tmp_path = tmp_path_factory.mktemp("udp-echo")
    with KernelPeer(tmp_path, "--service", "udp-echo:7", "--service", "udp-echo:7007",
                    "--service", "daytime:13") as peer:
        yield peer
        if peer.stack.returncode is None:  # not stopped by the last test
            peer.stop()  # SIGINT; exit status 0 and tshark's verdict are checked


def python_in_namespace(bench: KernelPeer, script: str, *args: str) -> str:
    result = bench.run(sys.executable, "-c", script, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("port", ["7", "7007"])
def test_kernel_client_gets_every_size_back_byte_for_byte(bench, port):
    out = python_in_namespace(bench, ECHO_CLIENT, STACK_IP, port, *map(str, SIZES))
    assert out.splitlines() == [f"{size} {size} SAME" for size in SIZES]


def test_netcat_talks_to_the_echo_service(bench):
    # -w1: wait one second for replies after stdin ends. (Not -q: Debian's netcat-openbsd
    # stops reading the network at stdin's end with -q, whoever the peer is.)
    result = bench.run("sh", "-c", f"printf 'hello, netstack\\n' | nc -u -w1 {STACK_IP} 7")
    assert result.stdout == "hello, netstack\n", result.stderr


def test_daytime_answers_the_kernel(bench):
    out = python_in_namespace(bench, DAYTIME_CLIENT, STACK_IP)
    assert out.rstrip().endswith(f"-UTC\\r\\n' ('{STACK_IP}', 13)"), out


def test_a_connected_kernel_socket_is_refused_by_a_closed_stack_port(bench):
    assert python_in_namespace(bench, REFUSED_CLIENT, STACK_IP, "9").strip() == "refused"


def test_stop_reports_clean_counters_and_a_clean_capture(bench):
    """Runs last in this module: one more large echo, then stop the stack and read its
    counters and capture."""
    out = python_in_namespace(bench, ECHO_CLIENT, STACK_IP, "7", "65507")
    assert out.split() == ["65507", "65507", "SAME"]
    counters = bench.stop()
    assert counters.get("udp.rx.datagrams", 0) >= 1
    # Datagrams to closed ports (no_socket) are this module's doing; ICMP errors about our
    # replies (icmp_error_*) come from clients that left. Neither is a lost datagram.
    drops = {k: v for k, v in counters.items() if k.startswith("udp.drop.") and v
             and k != "udp.drop.no_socket" and not k.startswith("udp.drop.icmp_error")}
    assert not drops, counters
    # 65507 bytes of UDP leave as 45 IP fragments, 44 of them with more-fragments set.
    assert frames_from(bench.capture, bench.mac, "ip.flags.mf == 1 and ip.proto == 17") >= 44
    assert_capture_clean(bench.capture, bench.mac, min_frames=45)


def test_sigterm_stops_the_services_and_the_stack_cleanly(netns):
    """`netstack run` with services is stopped by SIGTERM as well as Ctrl-C, exit status 0."""
    tap = unique_name("ut")
    with NetstackProcess(netns, "--port", f"tap:{tap}", "--ip", "192.0.2.2/24",
                         "--service", "udp-discard:9", "--service", "udp-echo") as stack:
        netns.add_address(tap, "192.0.2.1/24")
        netns.link_up(tap)
        kernel = netns.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        with kernel:
            kernel.settimeout(5)
            kernel.sendto(b"to the default port", (STACK_IP, 7))  # udp-echo's default: 7
            assert kernel.recvfrom(100) == (b"to the default port", (STACK_IP, 7))
        counters = stack.stop(sig=signal.SIGTERM)  # asserts exit status 0, checks the capture
    assert counters["udp.tx.datagrams"] == 1
    assert "counters:" in stack.output
