"""Re-check lab 10's evidence offline (no root, no network): read stack.pcap again.

For each run evidence.json lists, the capture alone must show the megabyte intact:
- "yours -> kernel" (chargen): the stack's stream to the kernel's port, put together by
  sequence number, has the sha256 the check expected (chargen's first megabyte);
- "kernel -> yours -> kernel" (echo): the kernel's stream to the stack, and the stack's
  stream back, both have the sha256 of what the kernel sent.
And the kernel must have received what was expected (the client's own sha256).
"""

from __future__ import annotations

import hashlib
import os
from ipaddress import IPv4Address

from labs.kit.real import KERNEL_IP, STACK_IP, load_evidence
from netstack.engine.pcapfile import read_pcap
from netstack.testing.tcp import decode_tcp
from netstack.wire.tcp import FLAG_SYN

MOD = 2**32


Key = tuple[str, int, int]  # (source address, source port, destination port)


def streams(path: str, resent: dict[Key, int] | None = None) -> dict[Key, bytearray]:
    """Every TCP byte stream in the capture, by (source address, source port, dest port),
    put together by sequence number from the SYN on (retransmissions overwrite in place).
    `resent`, if given, gets the number of segments sent again at an offset seen before."""
    isns: dict[Key, int] = {}
    data: dict[Key, bytearray] = {}
    seen: set[tuple[Key, int]] = set()
    for _, frame in read_pcap(path):
        seg = decode_tcp(frame)
        if seg is None:
            continue
        key = (str(seg.src), seg.src_port, seg.dst_port)
        if seg.flags & FLAG_SYN:
            isns[key] = seg.seq
            data[key] = bytearray()
            continue
        if key not in isns or not seg.payload:
            continue
        start = (seg.seq - isns[key] - 1) % MOD
        if start >= 1 << 31:
            continue
        if resent is not None:
            if (key, start) in seen:
                resent[key] = resent.get(key, 0) + 1
            seen.add((key, start))
        stream = data[key]
        end = start + len(seg.payload)
        if end > len(stream):
            stream.extend(bytes(end - len(stream)))
        stream[start:end] = seg.payload
    return data


def sha_of(stream: bytearray | None, size: int) -> str | None:
    if stream is None or len(stream) < size:
        return None
    return hashlib.sha256(stream[:size]).hexdigest()


def run_problems(run: dict, found: dict[Key, bytearray]) -> list[str]:
    """What the capture says against one run's claims."""
    name, size = run.get("name", "?"), int(run.get("bytes", 0))
    service, client = int(run.get("service_port", -1)), int(run.get("client_port", -1))
    expected = run.get("expected_sha")
    problems = []
    if run.get("received_sha") != expected:
        problems.append(f"{name}: the kernel received other bytes than it should have")
    legs = [("the stack's stream", (str(IPv4Address(STACK_IP)), service, client))]
    if run.get("service") == "echo":
        legs.append(("the kernel's stream", (str(IPv4Address(KERNEL_IP)), client, service)))
    for what, key in legs:
        if sha_of(found.get(key), size) != expected:
            got = len(found.get(key, b""))
            problems.append(f"{name}: {what} in the capture ({got} bytes) is not the "
                            f"{size} bytes expected")
    return problems


def verify(folder: str) -> list[str]:
    record, problems = load_evidence(folder)
    if not record:
        return problems
    pcap = os.path.join(folder, "stack.pcap")
    if not os.path.exists(pcap):
        return problems + ["stack.pcap is missing"]
    runs = record.get("runs", [])
    directions = {run.get("direction") for run in runs}
    if not {"yours -> kernel", "kernel -> yours -> kernel"} <= directions:
        problems.append("evidence.json does not list a run in each direction")
    found = streams(pcap)
    for run in runs:
        problems += run_problems(run, found)
    return problems


if __name__ == "__main__":
    import sys

    problems = verify(sys.argv[1] if len(sys.argv) > 1 else "evidence")
    print("\n".join(problems) or "evidence verified")
    sys.exit(1 if problems else 0)
