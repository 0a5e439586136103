"""A SYN flood at a listening port of `netstack run`, and Linux's own client still gets in.

The bench: the stack (192.0.2.2, `--service tcp-echo:7`) on a TAP in a namespace whose
kernel is 192.0.2.1, and its default route through the kernel. The flood: 30,000 SYNs
from spoofed sources in 198.51.100.0/24, built with scapy and written as raw frames into
the TAP through an AF_PACKET socket of the namespace. Their SYN-ACKs go to the kernel,
which does not forward and drops them: spoofed sources never answer.

The SYN queue (256) fills with the first spoofed SYNs; every later one is answered with a
SYN cookie and leaves nothing behind. The kernel's client connects (and echoes a line)
while the flood is being sent and again after it; both succeed, through cookies. The
stack process's resident memory (VmRSS) grows by less than 20 MB over the flood.

Figures for the lead's report are printed (pytest -s shows them): SYNs sent, what the
stack counted, the connect times, RSS before and after.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path

from tests.interop.kernel_peer import STACK_IP, KernelPeer, requires_root
from tests.netns import wait_until

pytestmark = requires_root

FLOOD = 30_000
BURST, BURST_GAP = 200, 0.02  # ~10,000 SYNs a second, a pace the stack can take in
ECHO_PORT = 7
RSS_BOUND = 20 * 1024 * 1024
KERNEL_GATEWAY = "192.0.2.1"


def flood_frames(stack_mac: str, src_mac: str) -> list[bytes]:
    """30,000 SYNs, each from its own spoofed (address, port). scapy builds one frame per
    source address; the others differ only in port and sequence number, patched in with
    RFC 1624's incremental checksum update (scapy would take ~15 s to build them all)."""
    from scapy.all import IP, TCP, Ether, raw

    rng = random.Random(4987)
    addresses = [f"198.51.100.{host}" for host in range(1, 255)]
    templates = [raw(Ether(dst=stack_mac, src=src_mac) / IP(src=a, dst=STACK_IP, ttl=64)
                     / TCP(sport=0, dport=ECHO_PORT, flags="S", seq=0, window=64240,
                           options=[("MSS", 1460), ("SAckOK", b""), ("NOP", None),
                                    ("WScale", 7)]))
                 for a in addresses]
    tcp_at = 14 + 20
    frames = []
    for i in range(FLOOD):
        frame = bytearray(templates[i % len(templates)])
        port, seq = 1024 + i // len(templates), rng.getrandbits(32)
        frame[tcp_at : tcp_at + 2] = port.to_bytes(2, "big")
        frame[tcp_at + 4 : tcp_at + 8] = seq.to_bytes(4, "big")
        # The template's fields were 0: the sum grows by the new words (RFC 1624, eq. 3).
        checksum = ~int.from_bytes(frame[tcp_at + 16 : tcp_at + 18], "big") & 0xFFFF
        for word in (port, seq >> 16, seq & 0xFFFF):
            checksum += word
        while checksum > 0xFFFF:
            checksum = (checksum & 0xFFFF) + (checksum >> 16)
        frame[tcp_at + 16 : tcp_at + 18] = (~checksum & 0xFFFF).to_bytes(2, "big")
        frames.append(bytes(frame))
    return frames


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def stack_pid(bench: KernelPeer) -> int:
    """The stack's Python process (`ip netns exec` may have exec'd into it, or forked)."""
    assert bench.stack.proc is not None
    pid = bench.stack.proc.pid
    if b"netstack" in Path(f"/proc/{pid}/cmdline").read_bytes():
        return pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, f"cannot find the stack process under pid {pid}"
    return int(children[0])


def echo_once(bench: KernelPeer, line: bytes) -> float:
    """The kernel's client: connect, echo `line`, close. Returns the connect time."""
    sock = bench.ns.call(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(10)
        started = time.monotonic()
        sock.connect((STACK_IP, ECHO_PORT))
        connected = time.monotonic() - started
        sock.sendall(line)
        got = b""
        while len(got) < len(line):
            chunk = sock.recv(100)
            assert chunk, "the echo connection closed early"
            got += chunk
        assert got == line
    return connected


def test_a_30000_syn_flood_from_spoofed_sources_and_the_kernel_still_connects(tmp_path):
    with KernelPeer(tmp_path, "--service", f"tcp-echo:{ECHO_PORT}",
                    "--gateway", KERNEL_GATEWAY) as bench:
        tap_mac = bench.ns.run(["cat", f"/sys/class/net/{bench.tap}/address"],
                               check=True).stdout.strip()
        frames = flood_frames(bench.mac, tap_mac)
        pid = stack_pid(bench)
        echo_once(bench, b"warm up\n")  # the first connection's imports and buffers
        rss_before = rss_bytes(pid)

        raw_socket = bench.ns.call(socket.socket, socket.AF_PACKET, socket.SOCK_RAW)
        during: dict[str, object] = {}
        halfway = threading.Event()

        def connect_during_the_flood() -> None:
            halfway.wait(30)
            try:
                during["connect"] = echo_once(bench, b"during the flood\n")
            except OSError as exc:
                during["error"] = exc
            during["flood_still_running"] = not flooded.is_set()

        flooded = threading.Event()
        client = threading.Thread(target=connect_during_the_flood, daemon=True)
        client.start()
        with raw_socket:
            raw_socket.bind((bench.tap, 0))
            started = time.monotonic()
            for at in range(0, FLOOD, BURST):
                for frame in frames[at : at + BURST]:
                    raw_socket.send(frame)
                if at >= FLOOD // 3:
                    halfway.set()
                time.sleep(BURST_GAP)
            flood_seconds = time.monotonic() - started
        flooded.set()
        client.join(30)
        assert "error" not in during, f"the client during the flood failed: {during}"
        assert "connect" in during, "the client during the flood did not finish"
        assert during["flood_still_running"], \
            f"the client finished only after the flood ({flood_seconds:.1f} s): not during it"

        after = echo_once(bench, b"after the flood\n")
        rss_after = wait_until(lambda: rss_bytes(pid), what="the stack's RSS")
        counters = bench.stop()

    tcp = {k: v for k, v in counters.items() if k.startswith("tcp.")}
    print(f"\nSYN flood: {FLOOD} SYNs sent in {flood_seconds:.1f} s; "
          f"cookies sent {tcp.get('tcp.syncookies.sent', 0)}, "
          f"validated {tcp.get('tcp.syncookies.validated', 0)}, "
          f"rejected {tcp.get('tcp.syncookies.rejected', 0)}; "
          f"passive opens {tcp.get('tcp.conn.passive_open', 0)}; "
          f"connect during {during['connect']:.3f} s "
          f"(flood still running: {during['flood_still_running']}), after {after:.3f} s; "
          f"RSS {rss_before / 2**20:.1f} MB -> {rss_after / 2**20:.1f} MB "
          f"(+{(rss_after - rss_before) / 2**20:.1f} MB)")
    assert tcp.get("tcp.drop.bad_checksum", 0) == 0, "the patched checksums are wrong"
    # Most SYNs arrived (a TAP queue may drop a few): the queue's 256, and cookies for the rest.
    assert tcp.get("tcp.syncookies.sent", 0) >= FLOOD // 2, tcp
    assert tcp.get("tcp.syncookies.validated", 0) >= 1, "no client came in through a cookie"
    assert tcp.get("tcp.drop.syn_queue_full", 0) == 0, tcp
    assert rss_after - rss_before < RSS_BOUND, \
        f"RSS grew by {(rss_after - rss_before) / 2**20:.1f} MB over the flood"
