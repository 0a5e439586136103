"""Lab 1's offline re-check of the real step's evidence (no root, no network).

It re-reads stack.pcap and sums every checksum again with its own arithmetic (nothing of
the student's, nothing of netstack's checksum): every IPv4 frame the stack sent has a
header that sums to 0xffff, and every ICMP message too; there are at least 8 echo replies,
each answering an echo request of the kernel's in the capture (same identifier, sequence
and data); and the frames with a wrong header checksum that the check wrote onto the TAP
are in the capture, with no reply to them.
"""

from __future__ import annotations

import os

from labs.kit.real import STACK_MAC, load_evidence
from netstack.engine.pcapfile import read_pcap
from netstack.errors import ConfigError

ECHO_REPLY, ECHO_REQUEST = 0, 8
MIN_REPLIES = 8
BAD_FRAMES = 3


def sum16(data: bytes) -> int:
    """The one's-complement sum, as arithmetic modulo 0xffff (0xffff for a nonzero -0)."""
    data = bytes(data) + b"\x00" * (len(data) % 2)
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    return 0 if total == 0 else (total - 1) % 0xFFFF + 1


def ipv4_of(frame: bytes) -> tuple[bytes, bytes] | None:
    """(IPv4 header, payload up to the total length) of an untagged IPv4 frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[14] >> 4 != 4:
        return None
    header_len = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    return frame[14:14 + header_len], frame[14 + header_len:14 + total]


def verify(folder: str) -> list[str]:
    record, problems = load_evidence(folder)
    if not record:
        return problems
    pcap = os.path.join(folder, "stack.pcap")
    try:
        frames = [bytes(f) for _, f in read_pcap(pcap)]
    except ConfigError as exc:
        return [*problems, str(exc)]
    ours = bytes(int(x, 16) for x in STACK_MAC.split(":"))
    requests: dict[tuple[int, int, bytes], int] = {}
    replies: list[tuple[int, int, bytes]] = []
    bad_in = 0
    for number, frame in enumerate(frames, 1):
        parts = ipv4_of(frame)
        if parts is None:
            continue
        header, payload = parts
        if header[9] != 1 or len(payload) < 8:
            continue
        key = (int.from_bytes(payload[4:6], "big"), int.from_bytes(payload[6:8], "big"),
               payload[8:])
        if frame[6:12] == ours:
            if sum16(header) != 0xFFFF:
                problems.append(f"frame {number}: the stack's IPv4 header checksum is wrong")
            if sum16(payload) != 0xFFFF:
                problems.append(f"frame {number}: the stack's ICMP checksum is wrong")
            if payload[0] == ECHO_REPLY:
                replies.append(key)
        elif payload[0] == ECHO_REQUEST:
            if sum16(header) != 0xFFFF:
                bad_in += 1  # one the check wrote with a wrong checksum on purpose
            else:
                requests[key] = number
    if len(replies) < MIN_REPLIES:
        problems.append(f"the capture has {len(replies)} echo replies from the stack, "
                        f"expected at least {MIN_REPLIES}")
    unanswered = [k for k in replies if k not in requests]
    if unanswered:
        problems.append(f"{len(unanswered)} echo replies answer no good echo request "
                        "in the capture (identifier, sequence or data differ)")
    if bad_in != BAD_FRAMES:
        problems.append(f"expected {BAD_FRAMES} requests with a wrong IPv4 checksum in the "
                        f"capture, found {bad_in}")
    counters = record.get("counters", {})
    if counters.get("ipv4.drop.bad_checksum") != BAD_FRAMES:
        problems.append("the recorded counters do not show the wrong checksums dropped")
    return problems


if __name__ == "__main__":
    import sys

    found = verify(sys.argv[1] if len(sys.argv) > 1 else "evidence")
    print("\n".join(found) or "evidence verified")
    sys.exit(1 if found else 0)
