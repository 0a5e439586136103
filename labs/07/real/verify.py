"""Re-check lab 7's evidence offline (no root, no network): read stack.pcap again.

From the capture alone: each transfer's stream from the stack's chargen port, put together
by sequence number, is the size and sha256 the check recorded (and what chargen sends);
the lossy transfers contain retransmissions; and one segment of the blackout transfer was
sent at least three times at growing intervals: the RTO backing off (RFC 6298 §5.5).
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from ipaddress import IPv4Address

from labs.kit.real import STACK_IP, load_evidence
from netstack.engine.pcapfile import read_pcap
from netstack.testing.tcp import decode_tcp
from netstack.wire.tcp import FLAG_SYN

MOD = 2**32


class Transfer:
    """The stack's side of one connection (the kernel's port tells them apart)."""

    def __init__(self) -> None:
        self.isn: int | None = None
        self.data = bytearray()
        self.copies: dict[int, list[float]] = defaultdict(list)  # offset -> send times

    def add(self, at: float, seq: int, payload: bytes, fin: bool) -> None:
        if self.isn is None:
            return
        start = (seq - self.isn - 1) % MOD
        if start >= 1 << 31:
            return
        if payload or fin:
            self.copies[start].append(at)
        end = start + len(payload)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[start:end] = payload

    @property
    def retransmissions(self) -> int:
        return sum(len(times) - 1 for times in self.copies.values())

    def backoff(self) -> tuple[int, list[float]] | None:
        """A segment sent 3+ times, each gap at least 1.5 times the previous: (offset, gaps)."""
        best = None
        for offset, times in sorted(self.copies.items()):
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            if len(gaps) >= 2 and all(g2 >= 1.5 * g1 > 0 for g1, g2 in
                                      zip(gaps, gaps[1:], strict=False)):
                if best is None or len(gaps) > len(best[1]):
                    best = (offset, gaps)
        return best


def transfers(path: str, port: int) -> dict[int, Transfer]:
    """The stack's stream on each connection from `port`, by the kernel's port."""
    found: dict[int, Transfer] = defaultdict(Transfer)
    stack = IPv4Address(STACK_IP)
    for at, frame in read_pcap(path):
        segment = decode_tcp(frame)
        if segment is None or segment.src != stack or segment.src_port != port:
            continue
        transfer = found[segment.dst_port]
        if segment.flags & FLAG_SYN:
            transfer.isn = segment.seq
            continue
        transfer.add(at, segment.seq, segment.payload, bool(segment.flags & 1))
    return dict(found)


def verify(folder: str) -> list[str]:
    record, problems = load_evidence(folder)
    if not record:
        return problems
    pcap = os.path.join(folder, "stack.pcap")
    if not os.path.exists(pcap):
        return problems + ["stack.pcap is missing"]
    found = transfers(pcap, int(record.get("port", 19)))
    runs = record.get("runs", [])
    if not runs:
        problems.append("evidence.json lists no transfers")
    for run in runs:
        transfer = found.get(int(run.get("client_port", -1)))
        name = run.get("name", "?")
        if transfer is None:
            problems.append(f"{name}: its connection is not in the capture")
            continue
        size = int(run["bytes"])
        if len(transfer.data) < size:
            problems.append(f"{name}: the capture holds {len(transfer.data)} bytes, "
                            f"not {size}")
            continue
        if hashlib.sha256(transfer.data[:size]).hexdigest() != run.get("expected_sha"):
            problems.append(f"{name}: the stream in the capture is not what chargen sends")
        if run.get("received_sha") != run.get("expected_sha"):
            problems.append(f"{name}: the kernel received other bytes")
        if int(run.get("loss_percent", 0)) >= 2 and transfer.retransmissions == 0:
            problems.append(f"{name}: loss, yet no retransmission in the capture")
        if run.get("blackout") and transfer.backoff() is None:
            problems.append(f"{name}: no segment was retransmitted at growing intervals "
                            "(the RTO backoff)")
    return problems


if __name__ == "__main__":
    import sys

    problems = verify(sys.argv[1] if len(sys.argv) > 1 else "evidence")
    print("\n".join(problems) or "evidence verified")
    sys.exit(1 if problems else 0)
