"""Lab 1 solved a second way: the IPv4 header codec, with one helper that encodes any
header from its fields and a parse that reads the fields by slicing.

The header's checksum is summed by the function the stack passes (its checksum unit);
by default this folder's own checksum module. Written independently of
netstack/wire/ipv4.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

import checksum as own_checksum

from netstack.errors import MalformedPacket

RESERVED, DF, MF = 0x8000, 0x4000, 0x2000


@dataclass(frozen=True)
class Header:
    src: IPv4Address
    dst: IPv4Address
    protocol: int
    ttl: int = 64
    tos: int = 0
    identification: int = 0
    dont_fragment: bool = False
    more_fragments: bool = False
    fragment_offset: int = 0
    options: bytes = b""
    reserved_flag: bool = False

    @property
    def header_len(self) -> int:
        return 20 + len(self.options)

    @property
    def is_fragment(self) -> bool:
        return self.more_fragments or self.fragment_offset > 0


def parse(buf, *, internet_checksum=own_checksum.internet_checksum):
    data = memoryview(buf)
    if len(data) < 20:
        raise MalformedPacket("truncated")
    if data[0] >> 4 != 4:
        raise MalformedPacket("bad_version")
    length = 4 * (data[0] & 0xF)
    if length < 20:
        raise MalformedPacket("bad_ihl")
    if length > len(data):
        raise MalformedPacket("truncated")
    total = int.from_bytes(data[2:4], "big")
    if total < length or total > len(data):
        raise MalformedPacket("bad_total_length")
    if internet_checksum(data[:length]) != 0:
        raise MalformedPacket("bad_checksum")
    word = int.from_bytes(data[6:8], "big")
    header = Header(
        src=IPv4Address(bytes(data[12:16])), dst=IPv4Address(bytes(data[16:20])),
        protocol=data[9], ttl=data[8], tos=data[1],
        identification=int.from_bytes(data[4:6], "big"),
        dont_fragment=bool(word & DF), more_fragments=bool(word & MF),
        fragment_offset=(word & 0x1FFF) * 8, options=bytes(data[20:length]),
        reserved_flag=bool(word & RESERVED))
    return header, data[length:total]


def _encode(*, src, dst, protocol, ttl, tos, identification, flags_and_offset, options,
            payload_len, internet_checksum) -> bytes:
    if len(options) % 4 or len(options) > 40:
        raise ValueError("options must be whole 32-bit words, 40 bytes at most")
    length = 20 + len(options)
    total = length + payload_len
    if total > 0xFFFF:
        raise ValueError(f"{total} bytes do not fit an IPv4 datagram")
    for name, value, bits in (("ttl", ttl, 8), ("tos", tos, 8), ("protocol", protocol, 8),
                              ("identification", identification, 16)):
        if not 0 <= value < 1 << bits:
            raise ValueError(f"{name} {value} does not fit {bits} bits")
    head = bytearray()
    head.append(0x40 | length // 4)
    head.append(tos)
    head += total.to_bytes(2, "big") + identification.to_bytes(2, "big")
    head += flags_and_offset.to_bytes(2, "big")
    head += bytes([ttl, protocol, 0, 0])
    head += IPv4Address(src).packed + IPv4Address(dst).packed + bytes(options)
    head[10:12] = internet_checksum(head).to_bytes(2, "big")
    return bytes(head)


def _flags(header) -> int:
    offset = header.fragment_offset
    if offset % 8 or not 0 <= offset <= 0x1FFF * 8:
        raise ValueError(f"fragment offset {offset} is not a multiple of 8 in range")
    word = offset // 8
    word |= DF if header.dont_fragment else 0
    word |= MF if header.more_fragments else 0
    word |= RESERVED if header.reserved_flag else 0
    return word


def write_header(header, buf, offset, payload_len, *,
                 internet_checksum=own_checksum.internet_checksum):
    encoded = _encode(src=header.src, dst=header.dst, protocol=header.protocol,
                      ttl=header.ttl, tos=header.tos, identification=header.identification,
                      flags_and_offset=_flags(header), options=header.options,
                      payload_len=payload_len, internet_checksum=internet_checksum)
    buf[offset:offset + len(encoded)] = encoded


def write_plain_header(buf, offset, src, dst, protocol, ttl, identification, dont_fragment,
                       payload_len, *, internet_checksum=own_checksum.internet_checksum):
    encoded = _encode(src=src, dst=dst, protocol=protocol, ttl=ttl, tos=0,
                      identification=identification,
                      flags_and_offset=DF if dont_fragment else 0, options=b"",
                      payload_len=payload_len, internet_checksum=internet_checksum)
    buf[offset:offset + 20] = encoded


def copy_plain_header(template, template_offset, buf, offset, identification, payload_len,
                      *, internet_checksum=own_checksum.internet_checksum):
    old = bytes(template[template_offset:template_offset + 20])
    encoded = _encode(src=IPv4Address(old[12:16]), dst=IPv4Address(old[16:20]),
                      protocol=old[9], ttl=old[8], tos=old[1], identification=identification,
                      flags_and_offset=int.from_bytes(old[6:8], "big"), options=b"",
                      payload_len=payload_len, internet_checksum=internet_checksum)
    buf[offset:offset + 20] = encoded


def build(header, payload=b"", *, internet_checksum=own_checksum.internet_checksum):
    head = bytearray(header.header_len)
    write_header(header, head, 0, len(payload), internet_checksum=internet_checksum)
    return bytes(head) + bytes(payload)
