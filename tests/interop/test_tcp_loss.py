"""20 MB each way between the stack and the Linux kernel, with 5% of TCP segments dropped.

nftables, in the kernel's namespace, drops 5% of the segments going to the stack and 5% of
those coming from it, at random (tests/interop/tcp_support.py: drop_tcp). The kernel is told
to send one segment per packet, so "5%" means 5% of segments, as on a lossy wire. Each
transfer must arrive whole (sha256) within a deadline; a stall fails with what was delivered
so far instead of hanging. The stack is an in-process Host (TcpStackInNamespace) so the
stack-side ends are plain sockets in the test.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from netstack.bench.tcp_kernel import SEND_CLIENT, SINK_SERVER, one_segment_per_packet
from tests.interop.kernel_peer import requires_root
from tests.interop.tcp_support import (
    KERNEL_IP,
    MB,
    KernelProgram,
    TcpStackInNamespace,
    drop_tcp,
    dropped_segments,
    known_bytes,
    parse_result,
    sha256_hex,
)

pytestmark = requires_root
api = pytest.importorskip("netstack.api")

TRANSFER = 20 * MB
LOSS_PERCENT = 5
DEADLINE = 120.0  # seconds per transfer; a passing run takes far less
STACK_PORT = 5001
KERNEL_PORT = 5002


def lossy_bench(tmp_path, engine: str) -> TcpStackInNamespace:
    return TcpStackInNamespace(tmp_path, prefix="nsl", engine=engine)


def start_loss(bench: TcpStackInNamespace) -> None:
    one_segment_per_packet(bench.ns, bench.tap)
    drop_tcp(bench.ns, LOSS_PERCENT)


def read_to_eof(sock, deadline: float) -> tuple[int, str]:
    """Read until EOF, failing (not hanging) when the deadline passes; (bytes, sha256)."""
    digest, total = hashlib.sha256(), 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"only {total:,} of {TRANSFER:,} bytes arrived in {DEADLINE:g} s")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            raise AssertionError(
                f"only {total:,} of {TRANSFER:,} bytes arrived in {DEADLINE:g} s") from None
        if not chunk:
            return total, digest.hexdigest()
        digest.update(chunk)
        total += len(chunk)


def test_kernel_to_stack_twenty_megabytes_survive_five_percent_loss(tmp_path, record_property, engine):
    with lossy_bench(tmp_path, engine) as bench, bench.host.socket(api.AF_INET, api.SOCK_STREAM) as listener:
        listener.bind(("0.0.0.0", STACK_PORT))
        listener.listen(1)
        start_loss(bench)
        started = time.monotonic()
        deadline = started + DEADLINE
        with KernelProgram(bench.ns, SEND_CLIENT, "192.0.2.2", str(STACK_PORT), str(TRANSFER), "21") as sender:
            listener.settimeout(30)  # the SYN itself may be dropped: Linux retries after 1 s
            conn, peer = listener.accept()
            with conn:
                total, digest = read_to_eof(conn, deadline)
            sent = parse_result(sender.wait(max(1.0, deadline - time.monotonic()), "the kernel sender"))
        elapsed = time.monotonic() - started
        dropped = dropped_segments(bench.ns)
    record_property("kernel_to_stack_seconds", round(elapsed, 2))
    print(f"\nkernel -> stack, {TRANSFER:,} bytes, {LOSS_PERCENT}% loss: {elapsed:.1f} s, dropped {dropped}")
    assert peer[0] == KERNEL_IP
    assert total == TRANSFER
    assert digest == sent["sent_sha"] == sha256_hex(known_bytes(TRANSFER, 21)), "bytes changed in transit"
    assert dropped["to_far"] > 0 and dropped["from_far"] > 0, f"the loss rules dropped nothing: {dropped}"


def test_stack_to_kernel_twenty_megabytes_survive_five_percent_loss(tmp_path, record_property, engine):
    data = known_bytes(TRANSFER, 22)
    with lossy_bench(tmp_path, engine) as bench, KernelProgram(bench.ns, SINK_SERVER, KERNEL_IP, str(KERNEL_PORT)) as sink:
        sink.wait_for_line("listening")
        start_loss(bench)
        started = time.monotonic()
        with bench.host.socket(api.AF_INET, api.SOCK_STREAM) as sock:
            sock.settimeout(DEADLINE)
            sock.connect((KERNEL_IP, KERNEL_PORT))
            sock.sendall(data)
            sock.shutdown(api.SHUT_WR)
            # The sink closes once it has read our FIN: EOF here means every byte arrived.
            sock.settimeout(max(1.0, started + DEADLINE - time.monotonic()))
            assert sock.recv(1) == b"", "the sink sent data back"
        received = parse_result(sink.wait(max(1.0, started + DEADLINE - time.monotonic()), "the kernel sink"))
        elapsed = time.monotonic() - started
        dropped = dropped_segments(bench.ns)
    record_property("stack_to_kernel_seconds", round(elapsed, 2))
    print(f"\nstack -> kernel, {TRANSFER:,} bytes, {LOSS_PERCENT}% loss: {elapsed:.1f} s, dropped {dropped}")
    assert int(received["received"]) == TRANSFER, received
    assert received["received_sha"] == sha256_hex(data), "bytes changed in transit"
    assert dropped["to_far"] > 0 and dropped["from_far"] > 0, f"the loss rules dropped nothing: {dropped}"
