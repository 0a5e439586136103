"""How a fuzz input becomes frames and pauses, and how those are written back as an input.

An input is a flags byte, then records until the bytes run out:

    gap (1 byte)  length (2 bytes, big-endian)  frame (`length` bytes, or what is left)

The gap is the virtual time before the frame: `gap` x 5 ms below 200, else (gap - 200) s, so
one byte reaches both the delayed-ACK scale and the TIME_WAIT and retransmission scale.
Flags bit 0 asks for every checksum to be made right before delivery: a mutated byte then
reaches the protocol logic instead of stopping at the checksum check (bit clear: checksums
are left as they are, so that check is fuzzed too).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from netstack.checksum import internet_checksum, pseudo_header_sum

MAX_FRAMES = 16
MAX_FRAME_LEN = 1600
FIX_CHECKSUMS = 0x01
_LEN = struct.Struct("!H")
ETH_HEADER_LEN = 14
ETHERTYPE_IPV4 = b"\x08\x00"
# L4 protocol -> offset of its checksum field
L4_CHECKSUM_OFFSET = {1: 2, 6: 16, 17: 6}


@dataclass(frozen=True)
class Record:
    gap: float  # seconds of virtual time before the frame
    frame: bytes


def gap_seconds(gap: int) -> float:
    return gap * 0.005 if gap < 200 else float(gap - 200)


def gap_byte(seconds: float) -> int:
    """The byte `gap_seconds` reads back as (about) `seconds`."""
    if seconds < 1.0:
        return min(round(seconds / 0.005), 199)
    return min(200 + round(seconds), 255)


def split(data: bytes) -> tuple[int, list[Record]]:
    """(flags, records) of an input; never raises, whatever the bytes."""
    if not data:
        return 0, []
    flags, at, records = data[0], 1, []
    while at < len(data) and len(records) < MAX_FRAMES:
        gap = data[at]
        length = _LEN.unpack_from(data, at + 1)[0] if at + 3 <= len(data) else 0
        at += 3
        frame = data[at : at + length % (MAX_FRAME_LEN + 1)]
        at += len(frame)
        records.append(Record(gap_seconds(gap), frame))
    return flags, records


def join(records: list[tuple[float, bytes]], flags: int = 0) -> bytes:
    """The input that `split` reads back as these (gap seconds, frame) pairs."""
    out = bytearray([flags])
    for seconds, frame in records:
        out.append(gap_byte(seconds))
        out += _LEN.pack(len(frame))
        out += frame
    return bytes(out)


def fix_checksums(frame: bytes) -> bytes:
    """The frame with its IPv4 header checksum, and its TCP, UDP or ICMP checksum where the
    datagram is whole, made right. Anything that is not a plausible IPv4 frame comes back
    unchanged (so the stack's own checks still see it)."""
    if len(frame) < ETH_HEADER_LEN + 20 or frame[12:14] != ETHERTYPE_IPV4:
        return frame
    out = bytearray(frame)
    ip = ETH_HEADER_LEN
    header_len = (out[ip] & 0x0F) * 4
    total_len = int.from_bytes(out[ip + 2 : ip + 4], "big")
    if header_len < 20 or ip + header_len > len(out):
        return frame
    out[ip + 10 : ip + 12] = b"\0\0"
    out[ip + 10 : ip + 12] = internet_checksum(out[ip : ip + header_len]).to_bytes(2, "big")
    protocol = out[ip + 9]
    fragment = int.from_bytes(out[ip + 6 : ip + 8], "big") & 0x3FFF  # MF or an offset
    end = ip + total_len
    l4 = ip + header_len
    offset = L4_CHECKSUM_OFFSET.get(protocol)
    if offset is None or fragment or not l4 + offset + 2 <= end <= len(out):
        return bytes(out)
    out[l4 + offset : l4 + offset + 2] = b"\0\0"
    if protocol == 1:
        initial = 0
    else:
        src, dst = bytes(out[ip + 12 : ip + 16]), bytes(out[ip + 16 : ip + 20])
        initial = pseudo_header_sum(src, dst, protocol, end - l4)
    checksum = internet_checksum(out[l4:end], initial)
    if protocol == 17 and checksum == 0:
        checksum = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    out[l4 + offset : l4 + offset + 2] = checksum.to_bytes(2, "big")
    return bytes(out)
