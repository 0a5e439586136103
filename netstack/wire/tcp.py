"""TCP headers (RFC 9293 §3.1), checksummed over the IPv4 pseudo-header.

Layout: src port (2) | dst port (2) | seq (4) | ack (4)
        | data offset (4 bits) | reserved (4 bits) | flags (8 bits) | window (2)
        | checksum (2) | urgent pointer (2) | options (0..40, data offset*4 - 20) | data.

The 4 reserved bits include the old NS bit (RFC 3540, now historic); they are kept in
`reserved` so any header round-trips. Options live in `netstack.wire.tcp_options`.

Round-trip: `build` pads the options with zero bytes to a multiple of 4, and a zero byte reads
back as End. So `parse(build(h, p)) == (h, p)` holds exactly when End, if present, is the last
option, and either the options encode to a multiple of 4 bytes or the last one is End.
`build` refuses options after End (they would be lost).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

from netstack.checksum import ChecksumFunction, internet_checksum, pseudo_header_sum_ints
from netstack.errors import MalformedPacket
from netstack.wire.ipv4 import PROTO_TCP
from netstack.wire.tcp_options import (  # noqa: F401  (re-exported: import options from here)
    END,
    KIND_END,
    KIND_MSS,
    KIND_NOP,
    KIND_SACK,
    KIND_SACK_PERMITTED,
    KIND_TIMESTAMP,
    KIND_WINDOW_SCALE,
    NOP,
    SACK_PERMITTED,
    EndOption,
    MssOption,
    NopOption,
    SackOption,
    SackPermittedOption,
    TcpOption,
    TimestampOption,
    UnknownOption,
    WindowScaleOption,
    describe_option,
    encode_options,
    parse_options,
)

MIN_HEADER_LEN = 20
MAX_OPTIONS_LEN = 40  # the data offset is 4 bits: at most 15 words
WORD_LEN = 4  # the data offset counts 32-bit words
CHECKSUM_OFFSET = 16
MAX_SEGMENT_LEN = 0xFFFF  # the pseudo-header length field is 16 bits
MAX_PORT = 0xFFFF
MAX_U16 = 0xFFFF
MAX_U32 = 0xFFFFFFFF

# The 16 bits after ack: data offset | reserved | flags
DATA_OFFSET_SHIFT = 12
RESERVED_SHIFT = 8
RESERVED_MASK = 0x0F
FLAGS_MASK = 0xFF

FLAG_FIN = 0x01
FLAG_SYN = 0x02
FLAG_RST = 0x04
FLAG_PSH = 0x08
FLAG_ACK = 0x10
FLAG_URG = 0x20
FLAG_ECE = 0x40  # RFC 3168 §6.1
FLAG_CWR = 0x80
FLAG_NAMES = {
    FLAG_FIN: "FIN",
    FLAG_SYN: "SYN",
    FLAG_RST: "RST",
    FLAG_PSH: "PSH",
    FLAG_ACK: "ACK",
    FLAG_URG: "URG",
    FLAG_ECE: "ECE",
    FLAG_CWR: "CWR",
}
# tcpdump's one-letter flags, in tcpdump's order; ACK is "."
_FLAG_LETTERS = (
    (FLAG_SYN, "S"),
    (FLAG_FIN, "F"),
    (FLAG_PSH, "P"),
    (FLAG_RST, "R"),
    (FLAG_URG, "U"),
    (FLAG_ECE, "E"),
    (FLAG_CWR, "W"),
    (FLAG_ACK, "."),
)

_HEADER = struct.Struct("!HHIIHHHH")
_NOP_NOP_TS = struct.Struct("!BBBBII")
TIMESTAMP_LEN = 10  # kind, length, TSval, TSecr
_U16 = struct.Struct("!H")
UNSPECIFIED = IPv4Address(0)


@dataclass(frozen=True, slots=True)
class TcpHeader:
    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    urgent: int = 0
    options: tuple[TcpOption, ...] = ()
    reserved: int = 0  # the 4 bits between data offset and flags; zero from a correct sender

    @property
    def header_len(self) -> int:
        """Bytes `write_header` writes: 20 plus the options padded to 4. For a parsed segment
        this is less than the data offset when the sender padded on after an End option."""
        return MIN_HEADER_LEN + len(_padded_options(self.options))

    def has(self, flag: int) -> bool:
        """True if every bit of `flag` is set, e.g. `h.has(FLAG_SYN | FLAG_ACK)`."""
        return self.flags & flag == flag

    @property
    def flag_names(self) -> tuple[str, ...]:
        return tuple(name for bit, name in FLAG_NAMES.items() if self.flags & bit)


class TcpCodec(Protocol):
    """The TCP codec unit: these functions (this module is the reference). Each function
    that sums takes the stack's checksum as the `internet_checksum` keyword, defaulting to
    the reference one (netstack.checksum)."""

    def parse(self, buf: bytes | bytearray | memoryview, src: IPv4Address | None = None,
              dst: IPv4Address | None = None, *,
              internet_checksum: ChecksumFunction = ...) -> tuple[TcpHeader, memoryview]:
        """(header, data) of one segment (the whole IPv4 payload), the checksum checked when
        `src` and `dst` are given. Raises MalformedPacket (truncated, bad_data_offset,
        bad_checksum, bad option reasons) and nothing else."""
        ...

    def write_header(self, header: TcpHeader, buf: bytearray, offset: int, payload_len: int,
                     src: IPv4Address, dst: IPv4Address, *,
                     internet_checksum: ChecksumFunction = ...) -> None:
        """Write `header.header_len` bytes at buf[offset:], checksummed over them, the
        `payload_len` bytes after them and the pseudo-header. ValueError if unencodable."""
        ...

    def write_header_fields(self, buf: bytearray, offset: int, src_port: int, dst_port: int,
                            seq: int, ack: int, flags: int, window: int, options: bytes,
                            payload_len: int, pseudo_base: int, urgent: int = 0, *,
                            internet_checksum: ChecksumFunction = ...) -> None:
        """`write_header` from plain values (options already padded, `pseudo_base` from
        `pseudo_header_base`): the per-segment send path."""
        ...

    def pseudo_header_base(self, src: IPv4Address, dst: IPv4Address) -> int:
        """The folded pseudo-header sum for src > dst, without the length word."""
        ...

    def build(self, header: TcpHeader, payload: bytes | bytearray | memoryview = b"",
              src: IPv4Address | None = None, dst: IPv4Address | None = None, *,
              internet_checksum: ChecksumFunction = ...) -> bytes:
        """The segment: header (as write_header writes it) then payload."""
        ...


def find_option(header: TcpHeader, cls: type[TcpOption]) -> TcpOption | None:
    """The first option of class `cls`, or None: `find_option(h, MssOption)`."""
    for option in header.options:
        if isinstance(option, cls):
            return option
    return None


def parse(
    buf: bytes | bytearray | memoryview,
    src: IPv4Address | None = None,
    dst: IPv4Address | None = None,
    *,
    internet_checksum: ChecksumFunction = internet_checksum,
) -> tuple[TcpHeader, memoryview]:
    """Split one segment (the whole IPv4 payload). The checksum is verified when src and dst
    are given (RFC 9293 §3.1: the pseudo-header length is the segment length)."""
    view = memoryview(buf)
    if len(view) < MIN_HEADER_LEN:
        raise MalformedPacket("truncated")
    src_port, dst_port, seq, ack, offset_flags, window, _ck, urgent = _HEADER.unpack_from(view)
    header_len = (offset_flags >> DATA_OFFSET_SHIFT) * WORD_LEN
    if not MIN_HEADER_LEN <= header_len <= len(view):
        raise MalformedPacket("bad_data_offset")
    if src is not None and dst is not None:
        pseudo = pseudo_header_sum_ints(int(src), int(dst), PROTO_TCP, len(view))
        if internet_checksum(view, pseudo) != 0:
            raise MalformedPacket("bad_checksum")
    options = _parse_options_cached(view[MIN_HEADER_LEN:header_len]) if (
        header_len > MIN_HEADER_LEN) else ()
    header = TcpHeader(
        src_port,
        dst_port,
        seq,
        ack,
        offset_flags & FLAGS_MASK,
        window,
        urgent,
        options,
        (offset_flags >> RESERVED_SHIFT) & RESERVED_MASK,
    )
    return header, view[header_len:]


# The last option bytes parsed, with their options. A bulk sender's segments carry the same
# options (its timestamp clock ticks every millisecond or so), so most segments skip the
# parse; the options are immutable, so sharing the tuple is safe. Replaced whole, as below.
_last_parsed: tuple[bytes, tuple[TcpOption, ...]] = (b"", ())


def _parse_options_cached(data: memoryview) -> tuple[TcpOption, ...]:
    global _last_parsed
    raw = bytes(data)
    last = _last_parsed
    if last[0] == raw:
        return last[1]
    options = parse_options(raw)  # raises MalformedPacket for bad bytes: never cached
    _last_parsed = (raw, options)
    return options


# The last options encoded, with their bytes: sending asks for them twice per segment
# (`header_len`, then `write_header`) and the tuple is immutable, so the same object means
# the same bytes. One tuple, replaced whole, so threads sharing it see a consistent pair.
_last_encoded: tuple[tuple[TcpOption, ...], bytes] = ((), b"")


def padded_options(options: tuple[TcpOption, ...]) -> bytes:
    """The options' bytes, padded with zeros (End) to a multiple of 4."""
    return _padded_options(options)


def _padded_options(options: tuple[TcpOption, ...]) -> bytes:
    global _last_encoded
    if not options:  # most segments after the handshake (without timestamps)
        return b""
    last = _last_encoded
    if last[0] is options:
        return last[1]
    encoded = encode_options(options)
    padded_len = -(-len(encoded) // WORD_LEN) * WORD_LEN
    if padded_len > MAX_OPTIONS_LEN:
        raise ValueError(f"TCP options take {len(encoded)} bytes; at most 40 fit")
    padded = encoded + bytes(padded_len - len(encoded))
    _last_encoded = (options, padded)
    return padded


def write_header(
    header: TcpHeader,
    buf: bytearray,
    offset: int,
    payload_len: int,
    src: IPv4Address,
    dst: IPv4Address,
    *,
    internet_checksum: ChecksumFunction = internet_checksum,
) -> None:
    """Write the header at `offset`, the payload being the `payload_len` bytes after it.

    `header.header_len` says how many bytes to `Mbuf.prepend` first.
    """
    if not 0 <= header.flags <= FLAGS_MASK or not 0 <= header.reserved <= RESERVED_MASK:
        raise ValueError("TCP flags are 8 bits and reserved is 4 bits")
    write_header_fields(
        buf, offset, header.src_port, header.dst_port, header.seq, header.ack,
        header.reserved << RESERVED_SHIFT | header.flags, header.window,
        _padded_options(header.options), payload_len, pseudo_header_base(src, dst),
        header.urgent, internet_checksum=internet_checksum,
    )


def pseudo_header_base(src: IPv4Address, dst: IPv4Address) -> int:
    """The pseudo-header sum (RFC 9293 §3.1) without the length: a connection's constant."""
    return pseudo_header_sum_ints(int(src), int(dst), PROTO_TCP, 0)


def timestamp_option_bytes(tsval: int, tsecr: int) -> bytes:
    """NOP NOP TS (RFC 7323 Appendix A's layout): `encode_options((NOP, NOP,
    TimestampOption(tsval, tsecr)))`, without making the option objects per segment."""
    return _NOP_NOP_TS.pack(KIND_NOP, KIND_NOP, KIND_TIMESTAMP, TIMESTAMP_LEN, tsval, tsecr)


def write_header_fields(
    buf: bytearray,
    offset: int,
    src_port: int,
    dst_port: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    options: bytes,
    payload_len: int,
    pseudo_base: int,
    urgent: int = 0,
    *,
    internet_checksum: ChecksumFunction = internet_checksum,
) -> None:
    """`write_header` from plain values, for the per-segment send path: `flags` may include
    the reserved bits (<< RESERVED_SHIFT), `options` is padded to a multiple of 4 and
    `pseudo_base` is `pseudo_header_base(src, dst)`."""
    hlen = MIN_HEADER_LEN + len(options)
    segment_len = hlen + payload_len
    if segment_len > MAX_SEGMENT_LEN:
        raise ValueError(f"TCP segment of {segment_len} bytes is too long")
    if offset + segment_len > len(buf):
        raise ValueError("payload_len runs past the end of the buffer")
    try:
        _HEADER.pack_into(
            buf,
            offset,
            src_port,
            dst_port,
            seq,
            ack,
            (hlen // WORD_LEN) << DATA_OFFSET_SHIFT | flags,
            window,
            0,  # checksum: computed below with this field zero
            urgent,
        )
    except struct.error as exc:
        raise ValueError(f"TCP field out of range: {exc}") from exc
    if options:
        buf[offset + MIN_HEADER_LEN : offset + hlen] = options
    # The pseudo-header's length word is the segment length; the sum folds in the checksum.
    checksum = internet_checksum(memoryview(buf)[offset : offset + segment_len],
                                 pseudo_base + segment_len)
    _U16.pack_into(buf, offset + CHECKSUM_OFFSET, checksum)


def build(
    header: TcpHeader,
    payload: bytes | bytearray | memoryview = b"",
    src: IPv4Address | None = None,
    dst: IPv4Address | None = None,
    *,
    internet_checksum: ChecksumFunction = internet_checksum,
) -> bytes:
    """The segment with a checksum for `src` > `dst` (0.0.0.0 stands in for a missing one)."""
    hlen = header.header_len
    buf = bytearray(hlen + len(payload))
    buf[hlen:] = payload
    write_header(
        header,
        buf,
        0,
        len(payload),
        UNSPECIFIED if src is None else src,
        UNSPECIFIED if dst is None else dst,
        internet_checksum=internet_checksum,
    )
    return bytes(buf)


def flags_text(flags: int) -> str:
    """tcpdump's `[S.]` spelling of a flags byte."""
    return "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit) or "none"


def describe(header: TcpHeader) -> str:
    """e.g. `TCP 40000 > 80 [S] seq 1 ack 0 win 64240 options [mss 1460,nop,wscale 7]`."""
    text = (
        f"TCP {header.src_port} > {header.dst_port} [{flags_text(header.flags)}]"
        f" seq {header.seq} ack {header.ack} win {header.window}"
    )
    if header.urgent:
        text += f" urg {header.urgent}"
    if header.reserved:
        text += f" reserved {header.reserved:#x}"
    if header.options:
        text += f" options [{','.join(describe_option(o) for o in header.options)}]"
    return text
