"""TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): one frozen dataclass per kind.

Each option is kind (1) | length (1, kind and length included) | data, except End (kind 0)
and No-Operation (kind 1), which are a single byte. Unknown kinds are kept intact as
`UnknownOption` so a segment can be forwarded or logged without loss.

`netstack.wire.tcp` re-exports everything here; import from there.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from netstack.errors import MalformedPacket

KIND_END = 0
KIND_NOP = 1
KIND_MSS = 2
KIND_WINDOW_SCALE = 3
KIND_SACK_PERMITTED = 4
KIND_SACK = 5
KIND_TIMESTAMP = 8

KIND_AND_LENGTH_LEN = 2  # every option but End and NOP starts with these two bytes
LEN_MSS = 4
LEN_WINDOW_SCALE = 3
LEN_SACK_PERMITTED = 2
LEN_TIMESTAMP = 10
SACK_BLOCK_LEN = 8  # left edge (4) + right edge (4)
MAX_OPTION_LEN = 0xFF

_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
_TWO_U32 = struct.Struct("!II")


def _tlv(kind: int, data: bytes) -> bytes:
    length = KIND_AND_LENGTH_LEN + len(data)
    if length > MAX_OPTION_LEN:
        raise ValueError(f"TCP option kind {kind} of {length} bytes is too long")
    return bytes((kind, length)) + data


def _pack(fmt: struct.Struct, *values: int) -> bytes:
    try:
        return fmt.pack(*values)
    except struct.error as exc:
        raise ValueError(f"TCP option field out of range: {exc}") from exc


@dataclass(frozen=True, slots=True)
class EndOption:
    """End of option list: what follows is padding."""

    kind: ClassVar[int] = KIND_END

    def encode(self) -> bytes:
        return bytes((KIND_END,))


@dataclass(frozen=True, slots=True)
class NopOption:
    """No-Operation: used to align the next option on a word boundary."""

    kind: ClassVar[int] = KIND_NOP

    def encode(self) -> bytes:
        return bytes((KIND_NOP,))


@dataclass(frozen=True, slots=True)
class MssOption:
    """Maximum segment size the sender can receive (RFC 9293 §3.7.1). Only on SYNs."""

    mss: int
    kind: ClassVar[int] = KIND_MSS

    def encode(self) -> bytes:
        return _tlv(KIND_MSS, _pack(_U16, self.mss))


@dataclass(frozen=True, slots=True)
class WindowScaleOption:
    """Window shift count (RFC 7323 §2). The raw byte is kept; clamping to 14 is the stage's job."""

    shift: int
    kind: ClassVar[int] = KIND_WINDOW_SCALE

    def encode(self) -> bytes:
        return _tlv(KIND_WINDOW_SCALE, _pack(_U8, self.shift))


@dataclass(frozen=True, slots=True)
class SackPermittedOption:
    """Selective acknowledgments may be used (RFC 2018 §2). Only on SYNs."""

    kind: ClassVar[int] = KIND_SACK_PERMITTED

    def encode(self) -> bytes:
        return _tlv(KIND_SACK_PERMITTED, b"")


@dataclass(frozen=True, slots=True)
class SackOption:
    """Blocks of received data as (left edge, right edge) sequence numbers (RFC 2018 §3)."""

    blocks: tuple[tuple[int, int], ...]
    kind: ClassVar[int] = KIND_SACK

    def encode(self) -> bytes:
        if not self.blocks:
            raise ValueError("a SACK option carries at least one block")
        return _tlv(KIND_SACK, b"".join(_pack(_TWO_U32, left, right) for left, right in self.blocks))


@dataclass(frozen=True, slots=True)
class TimestampOption:
    """RFC 7323 §3: the sender's clock and the echo of the peer's."""

    tsval: int
    tsecr: int
    kind: ClassVar[int] = KIND_TIMESTAMP

    def encode(self) -> bytes:
        return _tlv(KIND_TIMESTAMP, _pack(_TWO_U32, self.tsval, self.tsecr))


@dataclass(frozen=True, slots=True)
class UnknownOption:
    """Any other kind, kept as raw data (without its kind and length bytes)."""

    kind: int
    data: bytes

    def encode(self) -> bytes:
        if self.kind in _KNOWN_KINDS or not 0 <= self.kind <= MAX_OPTION_LEN:
            # A known kind would parse back as its own class, so it would not round-trip.
            raise ValueError(f"UnknownOption cannot have kind {self.kind}")
        return _tlv(self.kind, bytes(self.data))


TcpOption = (
    EndOption
    | NopOption
    | MssOption
    | WindowScaleOption
    | SackPermittedOption
    | SackOption
    | TimestampOption
    | UnknownOption
)

END = EndOption()
NOP = NopOption()
SACK_PERMITTED = SackPermittedOption()

# Known kinds with a fixed total length; SACK's length is 2 + 8 * blocks.
_FIXED_LENGTHS = {
    KIND_MSS: LEN_MSS,
    KIND_WINDOW_SCALE: LEN_WINDOW_SCALE,
    KIND_SACK_PERMITTED: LEN_SACK_PERMITTED,
    KIND_TIMESTAMP: LEN_TIMESTAMP,
}
_KNOWN_KINDS = frozenset({KIND_END, KIND_NOP, KIND_SACK, *_FIXED_LENGTHS})


# RFC 7323 Appendix A's layout, NOP NOP TS: the options of nearly every segment once
# timestamps are on. Recognised whole, it skips the general loop below.
_NOP_NOP_TS = bytes((KIND_NOP, KIND_NOP, KIND_TIMESTAMP, LEN_TIMESTAMP))
_NOP_NOP_TS_LEN = len(_NOP_NOP_TS) + 2 * 4


def parse_options(data: memoryview | bytes) -> tuple[TcpOption, ...]:
    """Decode the option area of a header. Everything after an End option is padding."""
    if len(data) == _NOP_NOP_TS_LEN and data[:4] == _NOP_NOP_TS:
        return (NOP, NOP, TimestampOption(*_TWO_U32.unpack_from(data, 4)))
    options: list[TcpOption] = []
    i = 0
    end = len(data)
    while i < end:
        kind = data[i]
        if kind == KIND_END:
            options.append(END)
            break
        if kind == KIND_NOP:
            options.append(NOP)
            i += 1
            continue
        if i + 1 >= end:
            raise MalformedPacket("bad_option")  # the length byte is missing
        length = data[i + 1]
        if length < KIND_AND_LENGTH_LEN or i + length > end:
            raise MalformedPacket("bad_option")
        fixed = _FIXED_LENGTHS.get(kind)
        if fixed is not None and length != fixed:
            raise MalformedPacket("bad_option")
        body = i + KIND_AND_LENGTH_LEN
        if kind == KIND_MSS:
            options.append(MssOption(_U16.unpack_from(data, body)[0]))
        elif kind == KIND_WINDOW_SCALE:
            options.append(WindowScaleOption(data[body]))
        elif kind == KIND_SACK_PERMITTED:
            options.append(SACK_PERMITTED)
        elif kind == KIND_TIMESTAMP:
            options.append(TimestampOption(*_TWO_U32.unpack_from(data, body)))
        elif kind == KIND_SACK:
            blocks_len = length - KIND_AND_LENGTH_LEN
            if blocks_len == 0 or blocks_len % SACK_BLOCK_LEN:
                raise MalformedPacket("bad_option")
            blocks = tuple(
                _TWO_U32.unpack_from(data, offset)
                for offset in range(body, i + length, SACK_BLOCK_LEN)
            )
            options.append(SackOption(blocks))
        else:
            options.append(UnknownOption(kind, bytes(data[body : i + length])))
        i += length
    return tuple(options)


def encode_options(options: tuple[TcpOption, ...] | list[TcpOption]) -> bytes:
    """The options back to back, without padding. End may only come last."""
    for position, option in enumerate(options):
        if isinstance(option, EndOption) and position != len(options) - 1:
            raise ValueError("options after an End option would be lost")
    return b"".join(option.encode() for option in options)


def describe_option(option: TcpOption) -> str:
    """tcpdump's spelling: `mss 1460`, `nop`, `wscale 7`, `sackOK`, `TS val 1 ecr 0`..."""
    match option:
        case MssOption(mss):
            return f"mss {mss}"
        case WindowScaleOption(shift):
            return f"wscale {shift}"
        case SackPermittedOption():
            return "sackOK"
        case SackOption(blocks):
            return "sack " + " ".join(f"{left}:{right}" for left, right in blocks)
        case TimestampOption(tsval, tsecr):
            return f"TS val {tsval} ecr {tsecr}"
        case NopOption():
            return "nop"
        case EndOption():
            return "eol"
        case UnknownOption(kind, data):
            return f"opt-{kind}:{data.hex()}"
    return repr(option)
