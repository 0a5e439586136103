"""The TAP offload mode: `netstack run --port tap:NAME,offload` against the Linux kernel.

A lab manual: the kernel (192.0.2.1) talks to the stack through a TAP opened with a
virtio-net header, so it hands the stack TCP segments of up to 64 KB with checksums left
partial, and cuts the stack's 64 KB segments itself. 20 MB go each way through tcp-echo
(sha256 of every byte checked), bulk runs through discard and chargen, and the counters must
show that large frames really crossed the TAP both ways. Ping and UDP echo still work.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from netstack.bench.tcp_kernel import BULK_SEND_CLIENT, ECHO_CLIENT, RECV_CLIENT
from tests.capture_check import assert_capture_clean, frames_from
from tests.interop.kernel_peer import STACK_IP, KernelPeer, ping_ok, requires_root
from tests.interop.tcp_support import MB, known_bytes, parse_result, sha256_hex

pytestmark = requires_root

ECHO_BYTES = 20 * MB
BULK_BYTES = 20 * MB
UDP_ECHO_PORT = 7
UDP_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for size in (10, 1400, 4000):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    s.sendto(payload, (sys.argv[1], int(sys.argv[2])))
    reply, _ = s.recvfrom(65535)
    assert reply == payload, (size, len(reply))
print("udp ok")
"""


class OffloadPeer(KernelPeer):
    PORT_SPEC = "tap:{tap},offload"


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Iterator[KernelPeer]:
    tmp_path = tmp_path_factory.mktemp("tap-offload")
    with OffloadPeer(tmp_path, "--service", "tcp-echo:7", "--service", "tcp-discard:9",
                     "--service", "tcp-chargen:19", "--service", f"udp-echo:{UDP_ECHO_PORT}") as peer:
        yield peer
        if peer.stack.returncode is None:
            peer.stop()


def test_kernel_sees_offloads_on_the_tap(bench):
    features = bench.run("ethtool", "-k", bench.tap)
    if features.returncode != 0:
        pytest.skip("ethtool is not installed")
    assert "tcp-segmentation-offload: on" in features.stdout, features.stdout


def test_ping_still_works(bench):
    assert ping_ok(bench.ping("-c", "3", "-i", "0.2"), 3)
    # A 4000-byte ping is fragmented by the kernel and reassembled by the stack, as without.
    assert ping_ok(bench.ping("-c", "1", "-s", "4000"), 1)


def test_udp_echo_still_works(bench):
    result = bench.run(sys.executable, "-c", UDP_CLIENT, STACK_IP, str(UDP_ECHO_PORT), timeout=30)
    assert result.returncode == 0 and "udp ok" in result.stdout, result.stderr


def test_twenty_megabytes_each_way_through_tcp_echo_intact(bench):
    result = bench.run(sys.executable, "-c", ECHO_CLIENT, STACK_IP, "7", str(ECHO_BYTES), "9",
                       timeout=150)
    assert result.returncode == 0, f"the echo client failed:\n{result.stderr}"
    echoed = parse_result(result.stdout)
    assert echoed["sent_sha"] == sha256_hex(known_bytes(ECHO_BYTES, 9))
    assert int(echoed["received"]) == ECHO_BYTES, echoed
    assert echoed["received_sha"] == echoed["sent_sha"], "the echo came back with different bytes"


def test_bulk_into_discard_and_out_of_chargen(bench):
    sent = bench.run(sys.executable, "-c", BULK_SEND_CLIENT, STACK_IP, "9", str(BULK_BYTES),
                     timeout=150)
    assert sent.returncode == 0, f"the send client failed:\n{sent.stderr}"
    assert int(parse_result(sent.stdout)["sent"]) == BULK_BYTES
    received = bench.run(sys.executable, "-c", RECV_CLIENT, STACK_IP, "19", str(BULK_BYTES),
                         timeout=150)
    assert received.returncode == 0, f"the receive client failed:\n{received.stderr}"
    assert int(parse_result(received.stdout)["received"]) == BULK_BYTES


def test_stop_shows_large_segments_both_ways_and_a_clean_capture(bench):
    """Runs last: the counters prove that 64 KB frames crossed the TAP in both directions."""
    counters = bench.stop()
    assert counters.get("port.rx.gso_frames", 0) > 100, counters
    assert counters.get("port.rx.csum_completed", 0) > 100, counters
    assert counters.get("port.tx.tso_frames", 0) > 100, counters
    assert counters.get("eth.drop.oversized", 0) == 0, counters
    # TSO frames are never fragmented (the 4000-byte ping and UDP replies are, as before).
    assert frames_from(bench.capture, bench.mac, "tcp and ip.flags.mf == 1") == 0
    assert not any(k.startswith("port.drop.") for k in counters), counters
    # Frames far larger than the 1500-byte MTU are in the capture, in both directions.
    assert frames_from(bench.capture, bench.mac, "frame.len > 9000") > 100
    # 40 MB left the stack in frames of at most 64 KB: at least 640 of them. How many pure
    # ACKs go with them depends on how the kernel happened to aggregate what it sent.
    assert_capture_clean(bench.capture, bench.mac, min_frames=(ECHO_BYTES + BULK_BYTES) // 65536)
