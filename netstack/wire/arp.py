"""ARP for Ethernet and IPv4 (RFC 826). Other hardware or protocol types are not supported.

Layout: htype (2) | ptype (2) | hlen (1) | plen (1) | op (2) | sender MAC (6) | sender IP (4)
        | target MAC (6) | target IP (4)   = 28 bytes.
Frames shorter than 60 bytes are padded by the sender; bytes after the 28 are ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from netstack.errors import MalformedPacket

HTYPE_ETHERNET = 1
PTYPE_IPV4 = 0x0800
HLEN_ETHERNET = 6
PLEN_IPV4 = 4
FIXED_LEN = 8  # htype, ptype, hlen, plen, op: enough to tell whether we can read the rest
PACKET_LEN = 28
MAX_OP = 0xFFFF

OP_REQUEST = 1
OP_REPLY = 2
OP_NAMES = {OP_REQUEST: "request", OP_REPLY: "reply"}

_FIXED = struct.Struct("!HHBBH")
_PACKET = struct.Struct("!HHBBH6s4s6s4s")
_SUPPORTED = (HTYPE_ETHERNET, PTYPE_IPV4, HLEN_ETHERNET, PLEN_IPV4)


@dataclass(frozen=True, slots=True)
class ArpPacket:
    op: int
    sender_mac: bytes
    sender_ip: IPv4Address
    target_mac: bytes
    target_ip: IPv4Address


def parse(buf: bytes | bytearray | memoryview) -> ArpPacket:
    """The ARP packet at the start of `buf`; trailing Ethernet padding is ignored."""
    if len(buf) < FIXED_LEN:
        raise MalformedPacket("truncated")
    htype, ptype, hlen, plen, _op = _FIXED.unpack_from(buf)
    if (htype, ptype, hlen, plen) != _SUPPORTED:
        raise MalformedPacket("unsupported_hardware")
    if len(buf) < PACKET_LEN:
        raise MalformedPacket("truncated")
    _, _, _, _, op, sha, spa, tha, tpa = _PACKET.unpack_from(buf)
    return ArpPacket(op, sha, IPv4Address(spa), tha, IPv4Address(tpa))


def build(pkt: ArpPacket) -> bytes:
    """The 28-byte packet (the port or the Ethernet stage pads the frame if it must)."""
    if len(pkt.sender_mac) != HLEN_ETHERNET or len(pkt.target_mac) != HLEN_ETHERNET:
        raise ValueError("MAC addresses are 6 bytes")
    if not 0 <= pkt.op <= MAX_OP:
        raise ValueError(f"ARP op {pkt.op} out of range")
    return _PACKET.pack(
        *_SUPPORTED,
        pkt.op,
        pkt.sender_mac,
        IPv4Address(pkt.sender_ip).packed,
        pkt.target_mac,
        IPv4Address(pkt.target_ip).packed,
    )


def describe(pkt: ArpPacket) -> str:
    """tcpdump style: `ARP request who-has 192.0.2.2 tell 192.0.2.1`."""
    mac = pkt.sender_mac.hex(":")
    if pkt.op == OP_REQUEST:
        return f"ARP request who-has {pkt.target_ip} tell {pkt.sender_ip} ({mac})"
    if pkt.op == OP_REPLY:
        return f"ARP reply {pkt.sender_ip} is-at {mac} (to {pkt.target_ip})"
    return f"ARP op {pkt.op} {pkt.sender_ip} ({mac}) -> {pkt.target_ip}"
