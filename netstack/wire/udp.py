"""UDP headers (RFC 768), checksummed over the IPv4 pseudo-header.

Layout: src port (2) | dst port (2) | length (2, header included) | checksum (2) | data.
A checksum of 0 means the sender did not compute one; a computed 0 is sent as 0xFFFF.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

from netstack.checksum import ChecksumFunction, internet_checksum, pseudo_header_sum_ints
from netstack.errors import MalformedPacket
from netstack.wire.ipv4 import PROTO_UDP

HEADER_LEN = 8
CHECKSUM_OFFSET = 6
MAX_LEN = 0xFFFF
MAX_PORT = 0xFFFF
NO_CHECKSUM = 0
ZERO_CHECKSUM_SENT_AS = 0xFFFF  # RFC 768: "all ones" stands for a computed zero

_HEADER = struct.Struct("!HHHH")
_U16 = struct.Struct("!H")


@dataclass(frozen=True, slots=True)
class UdpHeader:
    src_port: int
    dst_port: int


class UdpCodec(Protocol):
    """The UDP codec unit: these functions (this module is the reference). Each function
    that sums takes the stack's checksum as the `internet_checksum` keyword, defaulting to
    the reference one (netstack.checksum)."""

    def parse(self, buf: bytes | bytearray | memoryview, src: IPv4Address | None = None,
              dst: IPv4Address | None = None, *,
              internet_checksum: ChecksumFunction = ...) -> tuple[UdpHeader, memoryview]:
        """(header, data), data ending where the length field says. The checksum is checked
        only with `src` and `dst` and when it is not 0. Raises MalformedPacket (truncated,
        bad_length, bad_checksum) and nothing else."""
        ...

    def write_header(self, header: UdpHeader, buf: bytearray, offset: int, payload_len: int,
                     src: IPv4Address | None = None, dst: IPv4Address | None = None, *,
                     internet_checksum: ChecksumFunction = ...) -> None:
        """Write the 8-byte header at buf[offset:] for the `payload_len` bytes after it;
        checksummed (a computed 0 sent as 0xFFFF) when `src` and `dst` are given, else 0.
        ValueError for ports or a length that cannot be encoded."""
        ...

    def build(self, header: UdpHeader, payload: bytes | bytearray | memoryview = b"",
              src: IPv4Address | None = None, dst: IPv4Address | None = None, *,
              internet_checksum: ChecksumFunction = ...) -> bytes:
        """The datagram: header (as write_header writes it) then payload."""
        ...


def parse(
    buf: bytes | bytearray | memoryview,
    src: IPv4Address | None = None,
    dst: IPv4Address | None = None,
    *,
    internet_checksum: ChecksumFunction = internet_checksum,
) -> tuple[UdpHeader, memoryview]:
    """Split a datagram; bytes after the length field's end are padding and are cut off.

    The checksum is verified only when `src` and `dst` are given and it is not 0 ("none").
    """
    view = memoryview(buf)
    if len(view) < HEADER_LEN:
        raise MalformedPacket("truncated")
    src_port, dst_port, length, checksum = _HEADER.unpack_from(view)
    if not HEADER_LEN <= length <= len(view):
        raise MalformedPacket("bad_length")
    if checksum != NO_CHECKSUM and src is not None and dst is not None:
        pseudo = pseudo_header_sum_ints(int(src), int(dst), PROTO_UDP, length)
        if internet_checksum(view[:length], pseudo) != 0:
            raise MalformedPacket("bad_checksum")
    return UdpHeader(src_port, dst_port), view[HEADER_LEN:length]


def write_header(
    header: UdpHeader,
    buf: bytearray,
    offset: int,
    payload_len: int,
    src: IPv4Address | None = None,
    dst: IPv4Address | None = None,
    *,
    internet_checksum: ChecksumFunction = internet_checksum,
) -> None:
    """Write the header at `offset`, the payload being the `payload_len` bytes after it.

    Without `src` and `dst` the checksum is left 0 (RFC 768 allows that over IPv4).
    """
    length = HEADER_LEN + payload_len
    if length > MAX_LEN:
        raise ValueError(f"UDP datagram of {length} bytes is too long")
    if offset + length > len(buf):
        raise ValueError("payload_len runs past the end of the buffer")
    if not (0 <= header.src_port <= MAX_PORT and 0 <= header.dst_port <= MAX_PORT):
        raise ValueError("UDP ports are 16-bit values")
    _HEADER.pack_into(buf, offset, header.src_port, header.dst_port, length, NO_CHECKSUM)
    if src is None or dst is None:
        return
    pseudo = pseudo_header_sum_ints(int(src), int(dst), PROTO_UDP, length)
    checksum = internet_checksum(memoryview(buf)[offset : offset + length], pseudo)
    _U16.pack_into(buf, offset + CHECKSUM_OFFSET, checksum or ZERO_CHECKSUM_SENT_AS)


def build(
    header: UdpHeader,
    payload: bytes | bytearray | memoryview = b"",
    src: IPv4Address | None = None,
    dst: IPv4Address | None = None,
    *,
    internet_checksum: ChecksumFunction = internet_checksum,
) -> bytes:
    buf = bytearray(HEADER_LEN + len(payload))
    buf[HEADER_LEN:] = payload
    write_header(header, buf, 0, len(payload), src, dst, internet_checksum=internet_checksum)
    return bytes(buf)


def describe(header: UdpHeader) -> str:
    return f"UDP {header.src_port} > {header.dst_port}"
