"""Re-check lab 9's evidence offline (no root, no network).

From the files alone:
- stack-output.txt (the stack's own output, with `--trace cwnd`): the cwnd events of the
  transfer's connection are read again and must be what cwnd.csv holds (the plot's data);
  they must show the window growing and at least one reduction (a fast retransmit or a
  timeout), as 2% loss on a megabyte makes sure of;
- stack.pcap: the stack's stream on that connection, put together by sequence number, is
  the first megabyte of chargen's pattern (the sha256 the check recorded), and the capture
  holds retransmissions;
- cwnd.png is there (its sha256 is checked with the other files).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from ipaddress import IPv4Address
from typing import NamedTuple

from labs.kit.real import STACK_IP, load_evidence
from netstack.engine.pcapfile import read_pcap
from netstack.testing.tcp import decode_tcp
from netstack.wire.tcp import FLAG_SYN

MOD = 2**32
CWND_LINE = re.compile(r"^(?P<time>\d+\.\d+) tcp \S+:(?P<sport>\d+)>\S+:(?P<dport>\d+) cwnd "
                       r"cwnd=(?P<cwnd>\d+) ssthresh=(?P<ssthresh>\d+) reason=(?P<reason>\w+)$")
REDUCTIONS = ("fast_retransmit", "rto")


class CwndEvent(NamedTuple):
    time: float
    cwnd: int
    ssthresh: int
    reason: str


def cwnd_events(output: str, stack_port: int, client_port: int) -> list[CwndEvent]:
    """The stack's `--trace cwnd` lines for one connection, in order."""
    events = []
    for line in output.splitlines():
        found = CWND_LINE.match(line.strip())
        if found and int(found["sport"]) == stack_port and int(found["dport"]) == client_port:
            events.append(CwndEvent(float(found["time"]), int(found["cwnd"]),
                                    int(found["ssthresh"]), found["reason"]))
    return events


def read_cwnd_csv(path: str) -> list[CwndEvent]:
    with open(path, newline="", encoding="utf-8") as f:
        return [CwndEvent(float(r["time"]), int(r["cwnd"]), int(r["ssthresh"]), r["reason"])
                for r in csv.DictReader(f)]


def write_cwnd_csv(path: str, events: list[CwndEvent]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("time", "cwnd", "ssthresh", "reason"))
        for e in events:
            writer.writerow((f"{e.time:.6f}", e.cwnd, e.ssthresh, e.reason))


class Stream:
    """The stack's side of one connection, rebuilt from the capture. (A plain class: the
    grader loads this file without registering it as a module, which dataclasses need.)"""

    def __init__(self) -> None:
        self.isn: int | None = None
        self.data = bytearray()
        self.copies: dict[int, int] = {}  # offset -> times sent

    @property
    def retransmissions(self) -> int:
        return sum(n - 1 for n in self.copies.values())


def stack_streams(path: str, stack_port: int) -> dict[int, Stream]:
    """Every connection from the stack's `stack_port`, by the kernel's port."""
    found: dict[int, Stream] = {}
    stack = IPv4Address(STACK_IP)
    for _, frame in read_pcap(path):
        seg = decode_tcp(frame)
        if seg is None or seg.src != stack or seg.src_port != stack_port:
            continue
        stream = found.setdefault(seg.dst_port, Stream())
        if seg.flags & FLAG_SYN:
            stream.isn = seg.seq
            continue
        if stream.isn is None or not seg.payload:
            continue
        start = (seg.seq - stream.isn - 1) % MOD
        if start >= 1 << 31:
            continue
        stream.copies[start] = stream.copies.get(start, 0) + 1
        end = start + len(seg.payload)
        if end > len(stream.data):
            stream.data.extend(bytes(end - len(stream.data)))
        stream.data[start:end] = seg.payload
    return found


def check_trace(events: list[CwndEvent]) -> list[str]:
    problems = []
    if len(events) < 10:
        problems.append(f"only {len(events)} cwnd events were traced for the transfer")
    if not any(e.reason in REDUCTIONS for e in events):
        problems.append("no cwnd reduction (fast_retransmit or rto) in the trace")
    if events and max(e.cwnd for e in events) <= events[0].cwnd:
        problems.append("cwnd never grew above its first traced value")
    return problems


def verify(folder: str) -> list[str]:
    record, problems = load_evidence(folder)
    if not record:
        return problems
    for name in ("stack.pcap", "stack-output.txt", "cwnd.csv", "cwnd.png"):
        if not os.path.exists(os.path.join(folder, name)):
            problems.append(f"{name} is missing")
    if problems:
        return problems
    port, client = int(record.get("port", 19)), int(record.get("client_port", -1))
    with open(os.path.join(folder, "stack-output.txt"), encoding="utf-8") as f:
        events = cwnd_events(f.read(), port, client)
    if events != read_cwnd_csv(os.path.join(folder, "cwnd.csv")):
        problems.append("cwnd.csv is not the cwnd trace in stack-output.txt")
    problems += check_trace(events)
    stream = stack_streams(os.path.join(folder, "stack.pcap"), port).get(client)
    size = int(record.get("bytes", 0))
    if stream is None:
        return problems + [f"the connection to the kernel's port {client} is not in the capture"]
    if len(stream.data) < size or size == 0:
        problems.append(f"the capture holds {len(stream.data)} bytes of the stream, not {size}")
    elif hashlib.sha256(stream.data[:size]).hexdigest() != record.get("expected_sha"):
        problems.append("the stream in the capture is not what chargen sends")
    if record.get("received_sha") != record.get("expected_sha"):
        problems.append("the kernel received other bytes than chargen's")
    if stream.retransmissions == 0:
        problems.append("2% loss, yet no retransmission in the capture")
    return problems


if __name__ == "__main__":
    import sys

    problems = verify(sys.argv[1] if len(sys.argv) > 1 else "evidence")
    print("\n".join(problems) or "evidence verified")
    sys.exit(1 if problems else 0)
