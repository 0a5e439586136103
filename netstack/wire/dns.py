"""DNS messages, as much as a stub resolver needs (RFC 1035 §4): A and PTR questions and answers.

    query = build_query(0x1234, "www.lab.example", TYPE_A)
    ...send it over UDP to port 53, receive `reply`...
    answer = parse_reply(reply, 0x1234)    # DnsAnswer(rcode=0, addresses=[...], names=[...])

A reply that is malformed, truncated, or answers another question raises DnsError; the
resolver treats that as no answer. Compressed names (§4.1.4) are followed, with a bound on
the number of jumps, so a hostile reply cannot loop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from netstack.errors import NetstackError

TYPE_A = 1
TYPE_PTR = 12
CLASS_IN = 1
FLAG_RD = 0x0100  # recursion desired
FLAG_QR = 0x8000  # this is a response
RCODE_MASK = 0x000F
NXDOMAIN = 3
_HEADER = struct.Struct("!HHHHHH")
_MAX_JUMPS = 16


class DnsError(NetstackError):
    pass


@dataclass
class DnsAnswer:
    rcode: int
    addresses: list[str] = field(default_factory=list)  # A records, in order
    names: list[str] = field(default_factory=list)  # PTR records


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not 0 < len(raw) < 64:
            raise DnsError(f"bad DNS name {name!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\0")


def build_query(query_id: int, name: str, qtype: int = TYPE_A) -> bytes:
    return _HEADER.pack(query_id, FLAG_RD, 1, 0, 0, 0) + encode_name(name) + struct.pack(
        "!HH", qtype, CLASS_IN)


def reverse_name(address: str) -> str:
    """192.0.2.7 -> 7.2.0.192.in-addr.arpa (the PTR question for an address)."""
    return ".".join(reversed(str(IPv4Address(address)).split("."))) + ".in-addr.arpa"


def _read_name(message: bytes, at: int) -> tuple[str, int]:
    """The name at `at`, and where the record continues after it."""
    labels, end, jumps = [], None, 0
    while True:
        if at >= len(message):
            raise DnsError("name runs past the message")
        length = message[at]
        if length & 0xC0 == 0xC0:  # a pointer to a name earlier in the message
            if at + 1 >= len(message) or jumps >= _MAX_JUMPS:
                raise DnsError("bad name pointer")
            end = at + 2 if end is None else end
            at = ((length & 0x3F) << 8) | message[at + 1]
            jumps += 1
            continue
        if length & 0xC0:
            raise DnsError("bad label length")
        if length == 0:
            return ".".join(labels), (at + 1 if end is None else end)
        labels.append(message[at + 1:at + 1 + length].decode("ascii", "replace"))
        at += 1 + length


def parse_reply(message: bytes, query_id: int) -> DnsAnswer:
    if len(message) < _HEADER.size:
        raise DnsError("reply shorter than a DNS header")
    rid, flags, questions, answers, _ns, _ar = _HEADER.unpack_from(message)
    if rid != query_id or not flags & FLAG_QR:
        raise DnsError("not the answer to our query")
    at = _HEADER.size
    for _ in range(questions):
        _name, at = _read_name(message, at)
        at += 4
    result = DnsAnswer(flags & RCODE_MASK)
    for _ in range(answers):
        _name, at = _read_name(message, at)
        if at + 10 > len(message):
            raise DnsError("record runs past the message")
        rtype, rclass, _ttl, length = struct.unpack_from("!HHIH", message, at)
        data_at, at = at + 10, at + 10 + length
        if at > len(message):
            raise DnsError("record data runs past the message")
        if rclass != CLASS_IN:
            continue
        if rtype == TYPE_A and length == 4:
            result.addresses.append(str(IPv4Address(message[data_at:at])))
        elif rtype == TYPE_PTR:
            result.names.append(_read_name(message, data_at)[0])
    return result
