"""`netstack run --engine native`: the kernel pings, echoes over UDP and moves TCP bytes.

The same lab bench as the other interop tests (a namespace, the stack on a TAP, the kernel
as 192.0.2.1), with the port I/O done by the native engine's C thread. tshark checks every
frame the stack sent when it stops. And, while nothing happens, the stack must sleep.
"""

import hashlib
import os
import sys
import time

from tests.interop.kernel_peer import STACK_IP, KernelPeer, ping_ok, requires_root

pytestmark = requires_root

UDP_ECHO_CLIENT = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(5)
    s.connect((sys.argv[1], 7))
    for size in (1, 100, 1472, 4000):
        payload = bytes((i * 7 + size) & 0xFF for i in range(size))
        s.send(payload)
        print(size, "SAME" if s.recv(65535) == payload else "DIFFERENT", flush=True)
"""

# Send N bytes to the echo service from one thread while another reads them back.
TCP_ECHO_CLIENT = """
import hashlib, socket, sys, threading
n = int(sys.argv[2])
data = bytes((i * 131) & 0xFF for i in range(n))
with socket.create_connection((sys.argv[1], 7), timeout=20) as s:
    sender = threading.Thread(target=s.sendall, args=(data,))
    sender.start()
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    sender.join()
print("echoed", len(got), hashlib.sha256(got).hexdigest(), flush=True)
"""
TCP_BYTES = 300_000


def test_ping_udp_echo_and_a_tcp_transfer_over_the_native_engine(tmp_path):
    with KernelPeer(tmp_path, "--engine", "native", "--service", "udp-echo:7",
                    "--service", "tcp-echo:7") as bench:
        result = bench.ping("-c", "20", "-i", "0.02")
        assert ping_ok(result, 20), result.stdout + result.stderr
        udp = bench.run(sys.executable, "-c", UDP_ECHO_CLIENT, STACK_IP, timeout=30)
        assert udp.stdout.split() == ["1", "SAME", "100", "SAME", "1472", "SAME",
                                      "4000", "SAME"], udp.stdout + udp.stderr
        tcp = bench.run(sys.executable, "-c", TCP_ECHO_CLIENT, STACK_IP, str(TCP_BYTES),
                        timeout=60)
        expected = hashlib.sha256(bytes((i * 131) & 0xFF for i in range(TCP_BYTES))).hexdigest()
        assert tcp.stdout.split() == ["echoed", str(TCP_BYTES), expected], tcp.stdout + tcp.stderr
        counters = bench.stop()  # tshark checks the capture here
    assert counters.get("icmp.tx.echo_reply", 0) >= 20
    assert counters.get("port.rx", 0) > 0 and counters.get("port.tx", 0) > 0
    assert counters.get("ring.drop.in_full", 0) == 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()  # the name may contain spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_stack_sleeps(tmp_path, engine):
    """A resource bound, not a speed: idle, the loop (and the native engine's C thread)
    block, so CPU use stays under 2% — with services on the loop thread and on threads."""
    services = ("--service", "udp-echo:7", "--service", "tcp-echo:7", "--service", "http:80",
                "--service", "tcp-discard:9")
    with KernelPeer(tmp_path, "--engine", engine, *services) as bench:
        assert ping_ok(bench.ping("-c", "2", "-i", "0.05"), 2)
        time.sleep(0.5)  # let the start-up work (imports, ARP, IPv6 chatter) settle
        pid = bench.stack.proc.pid  # `ip netns exec` execs the stack: the same process
        before, started = cpu_seconds(pid), time.monotonic()
        time.sleep(2.0)
        used = cpu_seconds(pid) - before
        elapsed = time.monotonic() - started
        bench.stop()
    assert used / elapsed < 0.02, f"{used:.3f} s of CPU in {elapsed:.2f} s idle"
