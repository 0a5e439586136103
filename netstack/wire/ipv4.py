"""IPv4 headers (RFC 791 §3.1), with the header checksum of RFC 1071.

Layout: version+IHL (1) | TOS (1) | total length (2) | identification (2)
        | flags+fragment offset (2) | TTL (1) | protocol (1) | checksum (2) | src (4) | dst (4)
        | options (0..40, IHL*4 - 20).
Options are kept as raw bytes: the stage decides what, if anything, they mean.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

from netstack.checksum import ChecksumFunction, internet_checksum
from netstack.errors import MalformedPacket

VERSION = 4
VERSION_SHIFT = 4
IHL_MASK = 0x0F
WORD_LEN = 4  # IHL counts 32-bit words
MIN_HEADER_LEN = 20
MAX_OPTIONS_LEN = 40  # IHL is 4 bits: at most 15 words
MAX_HEADER_LEN = MIN_HEADER_LEN + MAX_OPTIONS_LEN
MAX_TOTAL_LEN = 0xFFFF
CHECKSUM_OFFSET = 10
TOTAL_LENGTH_OFFSET = 2  # then identification

# The 16-bit flags + fragment offset field (RFC 791 §3.1; the reserved bit is RFC 3514's joke).
FLAG_RESERVED = 0x8000
FLAG_DONT_FRAGMENT = 0x4000
FLAG_MORE_FRAGMENTS = 0x2000
FRAGMENT_OFFSET_MASK = 0x1FFF
FRAGMENT_UNIT = 8  # the offset field counts 8-byte blocks
MAX_FRAGMENT_OFFSET = FRAGMENT_OFFSET_MASK * FRAGMENT_UNIT

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_NAMES = {PROTO_ICMP: "ICMP", PROTO_TCP: "TCP", PROTO_UDP: "UDP"}

_HEADER = struct.Struct("!BBHHHBBH4s4s")
_LENGTH_AND_ID = struct.Struct("!HH")
_U16 = struct.Struct("!H")

# Building an IPv4Address costs more than the rest of the parse; a few peers send most packets,
# so a small bounded cache (safe under a flood of random sources) saves it on the hot path.
ADDRESS_CACHE_SIZE = 1024
_address = functools.lru_cache(maxsize=ADDRESS_CACHE_SIZE)(IPv4Address)


@dataclass(frozen=True, slots=True)
class IPv4Header:
    src: IPv4Address
    dst: IPv4Address
    protocol: int
    ttl: int = 64
    tos: int = 0
    identification: int = 0
    dont_fragment: bool = False
    more_fragments: bool = False
    fragment_offset: int = 0  # in bytes, a multiple of 8
    options: bytes = b""
    reserved_flag: bool = False  # must be zero on the wire; kept so any header round-trips

    @property
    def header_len(self) -> int:
        return MIN_HEADER_LEN + len(self.options)

    @property
    def is_fragment(self) -> bool:
        """True for every piece of a fragmented datagram, the first one included."""
        return self.more_fragments or self.fragment_offset != 0


class Ipv4Codec(Protocol):
    """The IPv4 codec unit: these functions (this module is the reference). Each function
    that sums takes the stack's checksum as the `internet_checksum` keyword, defaulting to
    the reference one (netstack.checksum)."""

    def parse(self, buf: bytes | bytearray | memoryview, *,
              internet_checksum: ChecksumFunction = ...) -> tuple[IPv4Header, memoryview]:
        """(header, payload) of one datagram; payload ends at the total length (padding cut).
        Raises MalformedPacket (truncated, bad_version, bad_ihl, bad_total_length,
        bad_checksum) and nothing else; the header's fields are then safe to read."""
        ...

    def write_header(self, header: IPv4Header, buf: bytearray, offset: int, payload_len: int,
                     *, internet_checksum: ChecksumFunction = ...) -> None:
        """Write `header` (options included) at buf[offset:], with the total length for
        `payload_len` bytes after it and a correct checksum. ValueError for a header that
        cannot be encoded."""
        ...

    def write_plain_header(self, buf: bytearray, offset: int, src: IPv4Address,
                           dst: IPv4Address, protocol: int, ttl: int, identification: int,
                           dont_fragment: bool, payload_len: int, *,
                           internet_checksum: ChecksumFunction = ...) -> None:
        """`write_header` of a 20-byte header with TOS 0, no options, not a fragment."""
        ...

    def copy_plain_header(self, template: bytearray, template_offset: int, buf: bytearray,
                          offset: int, identification: int, payload_len: int, *,
                          internet_checksum: ChecksumFunction = ...) -> None:
        """The plain header at template[template_offset:] written at buf[offset:] with a new
        identification and total length (and so a new checksum)."""
        ...

    def build(self, header: IPv4Header, payload: bytes | bytearray | memoryview = b"", *,
              internet_checksum: ChecksumFunction = ...) -> bytes:
        """The datagram: header (as write_header writes it) then payload."""
        ...


def parse(
    buf: bytes | bytearray | memoryview, *, internet_checksum: ChecksumFunction = internet_checksum
) -> tuple[IPv4Header, memoryview]:
    """Validate and split one datagram; Ethernet padding after total length is cut off."""
    # BEGIN SOLUTION: check length, version, IHL, total length and checksum, in that order
    view = memoryview(buf)
    if len(view) < MIN_HEADER_LEN:
        raise MalformedPacket("truncated")
    (ver_ihl, tos, total_len, ident, flags_frag, ttl, proto, _ck, src, dst) = (
        _HEADER.unpack_from(view)
    )
    if ver_ihl >> VERSION_SHIFT != VERSION:
        raise MalformedPacket("bad_version")
    header_len = (ver_ihl & IHL_MASK) * WORD_LEN
    if header_len < MIN_HEADER_LEN:
        raise MalformedPacket("bad_ihl")
    if header_len > len(view):
        raise MalformedPacket("truncated")
    if not header_len <= total_len <= len(view):
        raise MalformedPacket("bad_total_length")
    # A correct header sums to 0xFFFF, so the checksum computed over it is 0 (RFC 1071 §1).
    if internet_checksum(view[:header_len]) != 0:
        raise MalformedPacket("bad_checksum")
    header = IPv4Header(
        _address(src),
        _address(dst),
        proto,
        ttl,
        tos,
        ident,
        bool(flags_frag & FLAG_DONT_FRAGMENT),
        bool(flags_frag & FLAG_MORE_FRAGMENTS),
        (flags_frag & FRAGMENT_OFFSET_MASK) * FRAGMENT_UNIT,
        # Almost no datagram has options: skip the slice and copy for the common case.
        bytes(view[MIN_HEADER_LEN:header_len]) if header_len > MIN_HEADER_LEN else b"",
        bool(flags_frag & FLAG_RESERVED),
    )
    return header, view[header_len:total_len]
    # END SOLUTION


def write_header(header: IPv4Header, buf: bytearray, offset: int, payload_len: int,
                 *, internet_checksum: ChecksumFunction = internet_checksum) -> None:
    """Write the header at `offset`, with total length and checksum, for `payload_len` bytes."""
    # BEGIN SOLUTION: check options, fragment offset and length; pack flags; write it all
    header_len = header.header_len
    if len(header.options) % WORD_LEN or len(header.options) > MAX_OPTIONS_LEN:
        raise ValueError("IPv4 options must be a multiple of 4 bytes, at most 40")
    if header.fragment_offset % FRAGMENT_UNIT or not (
        0 <= header.fragment_offset <= MAX_FRAGMENT_OFFSET
    ):
        raise ValueError(f"fragment offset {header.fragment_offset} is not a valid multiple of 8")
    total_len = header_len + payload_len
    if total_len > MAX_TOTAL_LEN:
        raise ValueError(f"datagram of {total_len} bytes is too long for IPv4")
    flags_frag = header.fragment_offset // FRAGMENT_UNIT
    if header.dont_fragment:
        flags_frag |= FLAG_DONT_FRAGMENT
    if header.more_fragments:
        flags_frag |= FLAG_MORE_FRAGMENTS
    if header.reserved_flag:
        flags_frag |= FLAG_RESERVED
    _pack(buf, offset, header_len, header.tos, total_len, header.identification, flags_frag,
          header.ttl, header.protocol, header.src, header.dst, header.options, internet_checksum)
    # END SOLUTION


def write_plain_header(buf: bytearray, offset: int, src: IPv4Address, dst: IPv4Address,
                       protocol: int, ttl: int, identification: int, dont_fragment: bool,
                       payload_len: int, *,
                       internet_checksum: ChecksumFunction = internet_checksum) -> None:
    """`write_header` for the header a host sends nearly every time: no options, TOS 0, not
    a fragment. It takes the fields as values, so the per-packet send path need not build
    an IPv4Header (a frozen dataclass costs about a microsecond to make)."""
    # BEGIN SOLUTION: a 20-byte header: TOS 0, no options, DF or not, offset 0
    total_len = MIN_HEADER_LEN + payload_len
    if total_len > MAX_TOTAL_LEN:
        raise ValueError(f"datagram of {total_len} bytes is too long for IPv4")
    flags_frag = FLAG_DONT_FRAGMENT if dont_fragment else 0
    _pack(buf, offset, MIN_HEADER_LEN, 0, total_len, identification, flags_frag, ttl, protocol,
          src, dst, b"", internet_checksum)
    # END SOLUTION


def copy_plain_header(template: bytearray, template_offset: int, buf: bytearray, offset: int,
                      identification: int, payload_len: int, *,
                      internet_checksum: ChecksumFunction = internet_checksum) -> None:
    """`write_plain_header` with every field but the length and identification taken from
    the plain header at `template_offset` (which `write_plain_header` wrote): a sender's
    datagrams to one destination differ only in those, so 20 bytes are copied and patched
    instead of packed from the fields again."""
    # BEGIN SOLUTION: copy 20 bytes, patch length and identification, checksum again
    total_len = MIN_HEADER_LEN + payload_len
    if total_len > MAX_TOTAL_LEN:
        raise ValueError(f"datagram of {total_len} bytes is too long for IPv4")
    end = offset + MIN_HEADER_LEN
    buf[offset:end] = template[template_offset : template_offset + MIN_HEADER_LEN]
    _LENGTH_AND_ID.pack_into(buf, offset + TOTAL_LENGTH_OFFSET, total_len, identification)
    _U16.pack_into(buf, offset + CHECKSUM_OFFSET, 0)
    _U16.pack_into(buf, offset + CHECKSUM_OFFSET, internet_checksum(memoryview(buf)[offset:end]))
    # END SOLUTION


def _pack(buf: bytearray, offset: int, header_len: int, tos: int, total_len: int,
          identification: int, flags_frag: int, ttl: int, protocol: int, src: IPv4Address,
          dst: IPv4Address, options: bytes, internet_checksum: ChecksumFunction) -> None:
    # BEGIN SOLUTION: the fixed part (checksum 0), the options, then the checksum over it all
    try:
        _HEADER.pack_into(
            buf,
            offset,
            (VERSION << VERSION_SHIFT) | (header_len // WORD_LEN),
            tos,
            total_len,
            identification,
            flags_frag,
            ttl,
            protocol,
            0,  # checksum: computed below over the header with this field zero
            src.packed,
            dst.packed,
        )
    except struct.error as exc:
        raise ValueError(f"IPv4 field out of range: {exc}") from exc
    end = offset + header_len
    if options:
        buf[offset + MIN_HEADER_LEN : end] = options
    checksum = internet_checksum(memoryview(buf)[offset:end])
    _U16.pack_into(buf, offset + CHECKSUM_OFFSET, checksum)
    # END SOLUTION


def build(header: IPv4Header, payload: bytes | bytearray | memoryview = b"",
          *, internet_checksum: ChecksumFunction = internet_checksum) -> bytes:
    head = bytearray(header.header_len)
    write_header(header, head, 0, len(payload), internet_checksum=internet_checksum)
    return b"".join((head, payload))


def describe(header: IPv4Header) -> str:
    """e.g. `IPv4 192.0.2.1 > 192.0.2.2 TCP ttl 64 id 7 [DF]`."""
    proto = PROTO_NAMES.get(header.protocol, f"proto {header.protocol}")
    text = f"IPv4 {header.src} > {header.dst} {proto} ttl {header.ttl} id {header.identification}"
    flags = [name for on, name in ((header.reserved_flag, "evil"), (header.dont_fragment, "DF"),
                                   (header.more_fragments, "MF")) if on]
    if flags:
        text += f" [{','.join(flags)}]"
    if header.fragment_offset:
        text += f" frag offset {header.fragment_offset}"
    if header.tos:
        text += f" tos {header.tos:#04x}"
    if header.options:
        text += f" options {len(header.options)}B"
    return text
