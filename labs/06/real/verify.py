"""Re-check lab 6's evidence offline (no root, no network): read stack.pcap again.

From the capture alone: the stream the client sent to the stack's echo port, put together
by sequence number, is 1 MB whose sha256 is the one the client reported sending; segments
arrived past holes (the loss really reached the receiver); and the stream the stack sent
back is the same bytes (the sha256 the client reported receiving).
"""

from __future__ import annotations

import hashlib
import os
from ipaddress import IPv4Address

from labs.kit.real import STACK_IP, load_evidence
from netstack.engine.pcapfile import read_pcap
from netstack.testing.tcp import decode_tcp
from netstack.wire.tcp import FLAG_SYN

MOD = 2**32


class Stream:
    """One direction of a connection, rebuilt from the segments seen (first copy wins)."""

    def __init__(self) -> None:
        self.isn: int | None = None
        self.data = bytearray()
        self.filled = bytearray()  # 1 where a byte was seen
        self.highest = 0  # the end of the highest segment seen so far
        self.past_holes = 0  # segments that arrived beyond a byte not yet seen

    def add(self, seq: int, payload: bytes) -> None:
        if self.isn is None or not payload:
            return
        start = (seq - self.isn - 1) % MOD
        if start >= 1 << 31:
            return
        end = start + len(payload)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
            self.filled.extend(bytes(end - len(self.filled)))
        if start > 0 and 0 in self.filled[:start]:
            self.past_holes += 1
        self.data[start:end] = payload
        self.filled[start:end] = b"\x01" * len(payload)
        self.highest = max(self.highest, end)

    def complete(self) -> bool:
        return 0 not in self.filled


def streams(path: str, port: int) -> tuple[Stream, Stream]:
    """(client to stack, stack to client) for the connection to `port`."""
    inbound, outbound = Stream(), Stream()
    stack = IPv4Address(STACK_IP)
    for _, frame in read_pcap(path):
        segment = decode_tcp(frame)
        if segment is None:
            continue
        if segment.dst == stack and segment.dst_port == port:
            side = inbound
        elif segment.src == stack and segment.src_port == port:
            side = outbound
        else:
            continue
        if segment.flags & FLAG_SYN:
            side.isn = segment.seq
        side.add(segment.seq, segment.payload)
    return inbound, outbound


def verify(folder: str) -> list[str]:
    record, problems = load_evidence(folder)
    if not record:
        return problems
    pcap = os.path.join(folder, "stack.pcap")
    if not os.path.exists(pcap):
        return problems + ["stack.pcap is missing"]
    size = int(record.get("transfer_bytes", 0))
    client = record.get("client", {})
    inbound, outbound = streams(pcap, int(record.get("port", 7)))
    if inbound.isn is None:
        return problems + ["the capture has no SYN from the client to the echo port"]
    if len(inbound.data) != size or not inbound.complete():
        problems.append(f"the client's stream in the capture is {len(inbound.data)} bytes"
                        f"{'' if inbound.complete() else ' with holes'}, not {size}")
    elif hashlib.sha256(inbound.data).hexdigest() != client.get("sent_sha"):
        problems.append("the client's stream in the capture does not have the sha256 the "
                        "client reported sending")
    if inbound.past_holes == 0:
        problems.append("no segment arrived past a hole: the loss never reached the receiver")
    if hashlib.sha256(outbound.data).hexdigest() != client.get("received_sha"):
        problems.append("the echo in the capture does not have the sha256 the client "
                        "reported receiving")
    if client.get("sent_sha") != client.get("received_sha"):
        problems.append("the client's sent and received sha256 differ")
    return problems


if __name__ == "__main__":
    import sys

    found = verify(sys.argv[1] if len(sys.argv) > 1 else "evidence")
    print("\n".join(found) or "evidence verified")
    sys.exit(1 if found else 0)
