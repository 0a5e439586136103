"""Lab 1 solved a second way: the Ethernet II codec, by slicing and int.from_bytes.

Headers are NamedTuples; tags are read in a loop over offsets. Written independently of
netstack/wire/ethernet.py.
"""

from __future__ import annotations

from typing import NamedTuple

from netstack.errors import MalformedPacket

TAG_TYPES = (0x8100, 0x88A8)
SMALLEST_TYPE = 0x0600


class Tag(NamedTuple):
    vid: int
    pcp: int = 0
    dei: bool = False
    tpid: int = 0x8100


class Header(NamedTuple):
    dst: bytes
    src: bytes
    ethertype: int
    vlans: tuple[Tag, ...] = ()

    @property
    def header_len(self) -> int:
        return 14 + 4 * len(self.vlans)


def _u16(data, at: int) -> int:
    return int.from_bytes(data[at:at + 2], "big")


def parse(buf: bytes | bytearray | memoryview) -> tuple[Header, memoryview]:
    frame = memoryview(buf)
    at = 12
    found: list[Tag] = []
    while True:
        if len(frame) < at + 2:
            raise MalformedPacket("truncated")
        kind = _u16(frame, at)
        if kind not in TAG_TYPES:
            break
        if len(frame) < at + 6:  # the TCI and the next type field
            raise MalformedPacket("truncated")
        tci = _u16(frame, at + 2)
        found.append(Tag(vid=tci & 0xFFF, pcp=tci >> 13, dei=bool(tci >> 12 & 1), tpid=kind))
        at += 4
    if kind < SMALLEST_TYPE:
        raise MalformedPacket("not_ethernet_ii")
    return Header(bytes(frame[0:6]), bytes(frame[6:12]), kind, tuple(found)), frame[at + 2:]


def _encode(header) -> bytes:
    dst, src = bytes(header.dst), bytes(header.src)
    if len(dst) != 6 or len(src) != 6:
        raise ValueError("a MAC address has 6 bytes")
    if header.ethertype in TAG_TYPES or not SMALLEST_TYPE <= header.ethertype <= 0xFFFF:
        raise ValueError(f"ethertype {header.ethertype:#x} is not an Ethernet II type")
    out = bytearray(dst + src)
    for tag in header.vlans:
        if tag.tpid not in TAG_TYPES:
            raise ValueError(f"{tag.tpid:#x} is not a tag TPID")
        if not (0 <= tag.vid < 4096 and 0 <= tag.pcp < 8):
            raise ValueError("VID or PCP out of range")
        tci = tag.pcp << 13 | (1 << 12 if tag.dei else 0) | tag.vid
        out += tag.tpid.to_bytes(2, "big") + tci.to_bytes(2, "big")
    out += header.ethertype.to_bytes(2, "big")
    return bytes(out)


def write_header(header, buf: bytearray, offset: int) -> None:
    encoded = _encode(header)
    buf[offset:offset + len(encoded)] = encoded


def build(header, payload: bytes | bytearray | memoryview = b"") -> bytes:
    return _encode(header) + bytes(payload)
