"""ICMP for IPv4 (RFC 792), with the next-hop MTU of RFC 1191 §4.

Layout: type (1) | code (1) | checksum (2) | rest of header (4) | data.
The checksum covers the whole ICMP message. The 4-byte "rest of header" means different things
per type (identifier + sequence for echo, next-hop MTU for "fragmentation needed", a pointer
for "parameter problem"); it is kept as one 32-bit number with properties to read it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from netstack.checksum import ChecksumFunction, internet_checksum
from netstack.errors import MalformedPacket

HEADER_LEN = 8
CHECKSUM_OFFSET = 2
MAX_REST = 0xFFFFFFFF

TYPE_ECHO_REPLY = 0
TYPE_DEST_UNREACHABLE = 3
TYPE_SOURCE_QUENCH = 4
TYPE_REDIRECT = 5
TYPE_ECHO_REQUEST = 8
TYPE_TIME_EXCEEDED = 11
TYPE_PARAMETER_PROBLEM = 12
TYPE_TIMESTAMP = 13
TYPE_TIMESTAMP_REPLY = 14

# Codes for TYPE_DEST_UNREACHABLE (RFC 792; RFC 1191 for fragmentation needed)
CODE_NET_UNREACHABLE = 0
CODE_HOST_UNREACHABLE = 1
CODE_PROTOCOL_UNREACHABLE = 2
CODE_PORT_UNREACHABLE = 3
CODE_FRAGMENTATION_NEEDED = 4
CODE_SOURCE_ROUTE_FAILED = 5
# Codes for TYPE_TIME_EXCEEDED
CODE_TTL_EXCEEDED = 0
CODE_REASSEMBLY_TIME_EXCEEDED = 1

# Errors quote the offending datagram; a host never answers an error with an error (RFC 1122
# §3.2.2). Echo, timestamp and the like are queries.
ERROR_TYPES = frozenset(
    {TYPE_DEST_UNREACHABLE, TYPE_SOURCE_QUENCH, TYPE_REDIRECT, TYPE_TIME_EXCEEDED,
     TYPE_PARAMETER_PROBLEM}
)

# Splitting "rest of header"
HIGH_HALF_SHIFT = 16
LOW_HALF_MASK = 0xFFFF
POINTER_SHIFT = 24

TYPE_NAMES = {
    TYPE_ECHO_REPLY: "echo reply",
    TYPE_DEST_UNREACHABLE: "unreachable",
    TYPE_SOURCE_QUENCH: "source quench",
    TYPE_REDIRECT: "redirect",
    TYPE_ECHO_REQUEST: "echo request",
    TYPE_TIME_EXCEEDED: "time exceeded",
    TYPE_PARAMETER_PROBLEM: "parameter problem",
    TYPE_TIMESTAMP: "timestamp request",
    TYPE_TIMESTAMP_REPLY: "timestamp reply",
}
UNREACHABLE_NAMES = {
    CODE_NET_UNREACHABLE: "net",
    CODE_HOST_UNREACHABLE: "host",
    CODE_PROTOCOL_UNREACHABLE: "protocol",
    CODE_PORT_UNREACHABLE: "port",
    CODE_FRAGMENTATION_NEEDED: "need to frag",
    CODE_SOURCE_ROUTE_FAILED: "source route failed",
}
TIME_EXCEEDED_NAMES = {
    CODE_TTL_EXCEEDED: "ttl exceeded in transit",
    CODE_REASSEMBLY_TIME_EXCEEDED: "reassembly time exceeded",
}

_HEADER = struct.Struct("!BBHI")
_U16 = struct.Struct("!H")


def is_error(icmp_type: int) -> bool:
    """True for error messages (which quote a datagram), False for queries such as echo."""
    return icmp_type in ERROR_TYPES


@dataclass(frozen=True, slots=True)
class IcmpHeader:
    type: int
    code: int
    rest: int = 0  # the 32-bit "rest of header", meaning depends on type

    @classmethod
    def echo_request(cls, identifier: int, sequence: int) -> IcmpHeader:
        return cls(TYPE_ECHO_REQUEST, 0, _halves(identifier, sequence))

    @classmethod
    def echo_reply(cls, identifier: int, sequence: int) -> IcmpHeader:
        return cls(TYPE_ECHO_REPLY, 0, _halves(identifier, sequence))

    @classmethod
    def dest_unreachable(cls, code: int, next_hop_mtu: int = 0) -> IcmpHeader:
        """RFC 1191 §4: the MTU goes in the low 16 bits, only for fragmentation needed."""
        return cls(TYPE_DEST_UNREACHABLE, code, _halves(0, next_hop_mtu))

    @classmethod
    def time_exceeded(cls, code: int) -> IcmpHeader:
        return cls(TYPE_TIME_EXCEEDED, code, 0)

    @property
    def identifier(self) -> int:
        return self.rest >> HIGH_HALF_SHIFT

    @property
    def sequence(self) -> int:
        return self.rest & LOW_HALF_MASK

    @property
    def next_hop_mtu(self) -> int:
        return self.rest & LOW_HALF_MASK

    @property
    def pointer(self) -> int:
        """For parameter problem: the offset of the offending octet."""
        return self.rest >> POINTER_SHIFT


def _halves(high: int, low: int) -> int:
    if not (0 <= high <= LOW_HALF_MASK and 0 <= low <= LOW_HALF_MASK):
        raise ValueError("identifier, sequence and MTU are 16-bit values")
    return (high << HIGH_HALF_SHIFT) | low


def parse(
    buf: bytes | bytearray | memoryview, *, internet_checksum: ChecksumFunction = internet_checksum
) -> tuple[IcmpHeader, memoryview]:
    """`buf` is the whole ICMP message (the IPv4 payload); the checksum covers all of it."""
    view = memoryview(buf)
    if len(view) < HEADER_LEN:
        raise MalformedPacket("truncated")
    if internet_checksum(view) != 0:
        raise MalformedPacket("bad_checksum")
    icmp_type, code, _ck, rest = _HEADER.unpack_from(view)
    return IcmpHeader(icmp_type, code, rest), view[HEADER_LEN:]


def write_header(header: IcmpHeader, buf: bytearray, offset: int, payload_len: int, *,
                 internet_checksum: ChecksumFunction = internet_checksum) -> None:
    """Write the header at `offset`; the checksum covers the `payload_len` bytes after it."""
    try:
        _HEADER.pack_into(buf, offset, header.type, header.code, 0, header.rest)
    except struct.error as exc:
        raise ValueError(f"ICMP field out of range: {exc}") from exc
    end = offset + HEADER_LEN + payload_len
    if end > len(buf):
        raise ValueError("payload_len runs past the end of the buffer")
    checksum = internet_checksum(memoryview(buf)[offset:end])
    _U16.pack_into(buf, offset + CHECKSUM_OFFSET, checksum)


def build(header: IcmpHeader, payload: bytes | bytearray | memoryview = b"", *,
          internet_checksum: ChecksumFunction = internet_checksum) -> bytes:
    buf = bytearray(HEADER_LEN + len(payload))
    buf[HEADER_LEN:] = payload
    write_header(header, buf, 0, len(payload), internet_checksum=internet_checksum)
    return bytes(buf)


def describe(header: IcmpHeader) -> str:
    """e.g. `ICMP echo request id 1 seq 2`, `ICMP unreachable port`."""
    name = TYPE_NAMES.get(header.type, f"type {header.type}")
    if header.type in (TYPE_ECHO_REQUEST, TYPE_ECHO_REPLY):
        return f"ICMP {name} id {header.identifier} seq {header.sequence}"
    if header.type == TYPE_DEST_UNREACHABLE:
        text = f"ICMP {name} {UNREACHABLE_NAMES.get(header.code, f'code {header.code}')}"
        if header.code == CODE_FRAGMENTATION_NEEDED:
            text += f" mtu {header.next_hop_mtu}"
        return text
    if header.type == TYPE_TIME_EXCEEDED:
        return f"ICMP {name} {TIME_EXCEEDED_NAMES.get(header.code, f'code {header.code}')}"
    return f"ICMP {name} code {header.code}"
