"""What lab 3's tests send and check, built from the variant's addresses (never literals).

- `echo_request` / `datagram` make the frames a test plays (from the peer unless told);
- `udp_to` is a UDP datagram to a port nobody listens on, `PROTO_TEST` a protocol nobody
  handles (RFC 3692's experimental number), so the stack must answer them with errors;
- `quote_of` is what an ICMP error about a frame must carry (RFC 792): the offending IP
  header and the first 8 bytes of its payload;
- `receiver` makes a harness whose stack already knows the peer's MAC, so replies leave
  without an ARP exchange first.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from labs.kit import make_harness
from netstack.testing import TranscriptMismatch, icmp_echo_frame, ipv4_frame
from netstack.wire import ethernet as wire_eth
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire.ipv4 import IPv4Header

ETHERNET_HEADER = 14
QUOTED_PAYLOAD = 8  # RFC 792: the IP header plus the first 64 bits of the data
PROTO_TEST = 253  # RFC 3692's experimental protocol number: nobody handles it
ECHO_ID = 0x4C33


def check(condition: bool, message: str) -> None:
    """Fail the step being run with `message` (shown under the transcript)."""
    if not condition:
        raise TranscriptMismatch(message)


def receiver(variant, **config):
    return make_harness(variant, peer_known=True, **config)


def pattern(size: int, salt: int = 0) -> bytes:
    return bytes((i * 13 + salt) & 0xFF for i in range(size))


def echo_request(variant, sequence: int = 1, data: bytes = b"lab 3 ping", *,
                 src: IPv4Address | None = None, dst: IPv4Address | None = None,
                 src_mac: bytes | None = None, dst_mac: bytes | None = None,
                 identifier: int = ECHO_ID) -> bytes:
    return icmp_echo_frame(dst_mac or variant.our_mac, src_mac or variant.peer_mac,
                           src or variant.peer_ip, dst or variant.our_ip,
                           identifier, sequence, data)


def datagram(variant, protocol: int, payload: bytes, *, src: IPv4Address | None = None,
             dst: IPv4Address | None = None, dst_mac: bytes | None = None,
             **fields) -> bytes:
    """An IPv4 datagram in a frame from the peer's MAC; `fields` are IPv4Header fields."""
    header = IPv4Header(src or variant.peer_ip, dst or variant.our_ip, protocol, **fields)
    return ipv4_frame(dst_mac or variant.our_mac, variant.peer_mac, header, payload)


def udp_to(variant, port: int, data: bytes = b"anyone there?", **kwargs) -> bytes:
    """A UDP datagram from the peer's port to `port`; checksum 0 means none (RFC 768)."""
    udp = struct.pack("!HHHH", variant.peer_port, port, 8 + len(data), 0) + data
    return datagram(variant, wire_ipv4.PROTO_UDP, udp, **kwargs)


def closed_port(variant) -> int:
    """A port the stack has nobody listening on (it listens on nothing in these tests)."""
    return variant.stack_port


def quote_of(frame: bytes) -> bytes:
    """The IP header and 8 payload bytes of `frame`: what an ICMP error about it quotes."""
    ip = frame[ETHERNET_HEADER:]
    header_len = (ip[0] & 0x0F) * 4
    return bytes(ip[: header_len + QUOTED_PAYLOAD])


def with_ip_bytes(frame: bytes, changes: dict[int, int], fix_checksum: bool = True) -> bytes:
    """`frame` with IP header bytes replaced ({offset in the IP header: value}); the header
    checksum recomputed unless `fix_checksum` is False."""
    raw = bytearray(frame)
    for offset, value in changes.items():
        raw[ETHERNET_HEADER + offset] = value
    if fix_checksum:
        header_len = (raw[ETHERNET_HEADER] & 0x0F) * 4
        start = ETHERNET_HEADER + wire_ipv4.CHECKSUM_OFFSET
        raw[start : start + 2] = b"\0\0"
        header = bytes(raw[ETHERNET_HEADER : ETHERNET_HEADER + max(header_len, 20)])
        total = sum(struct.unpack(f"!{len(header) // 2}H", header))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        raw[start : start + 2] = struct.pack("!H", ~total & 0xFFFF)
    return bytes(raw)


BROADCAST_MAC = wire_eth.BROADCAST
