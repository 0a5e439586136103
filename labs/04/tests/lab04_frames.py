"""What lab 4's tests build and check, written independently of the reference units.

- `cut` is the test's own fragmenter (by explicit byte boundaries), so a reassembly test
  never depends on the student's fragmentation, nor on the reference's;
- `echo` / `datagram` make the datagram a test sends (an ICMP echo request from the peer,
  or any protocol), and `frames` puts fragments into Ethernet frames for the stack;
- `fragments_sent` re-reads what the stack sent and checks the RFC 791 §3.2 invariants
  every valid fragmentation has, whatever cut points the implementation chose;
- `check` fails the current transcript step with a sentence, not a bare assert.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address

from netstack.testing import TranscriptMismatch, decode, describe_frame, ipv4_frame
from netstack.wire import icmp as wire_icmp
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire.ipv4 import IPv4Header

ETHERNET_HEADER = 14
FRAGMENT_UNIT = 8  # the offset field counts 8-byte blocks (RFC 791 §3.1)
MAX_DATAGRAM = 65535  # the total length field is 16 bits
PROTO_TEST = 253  # RFC 3692's experimental protocol number: nobody handles it


def check(condition: bool, message: str) -> None:
    """Fail the step being run with `message` (shown under the transcript)."""
    if not condition:
        raise TranscriptMismatch(message)


def pattern(size: int, salt: int = 0) -> bytes:
    """`size` bytes that differ from offset to offset, so a misplaced piece shows."""
    return bytes((i * 7 + salt) & 0xFF for i in range(size))


def echo(variant, ident: int, data: bytes, sequence: int = 1, identifier: int = 0x4C34,
         src: IPv4Address | None = None) -> tuple[IPv4Header, bytes]:
    """An ICMP echo request from `src` (default: the peer) to the stack, as (header, the
    IP payload): the ICMP message whose checksum covers `data`."""
    message = wire_icmp.build(wire_icmp.IcmpHeader.echo_request(identifier, sequence), data)
    header = IPv4Header(src or variant.peer_ip, variant.our_ip, wire_ipv4.PROTO_ICMP,
                        identification=ident)
    return header, message


def datagram(variant, ident: int, protocol: int, payload: bytes,
             src: IPv4Address | None = None) -> tuple[IPv4Header, bytes]:
    return IPv4Header(src or variant.peer_ip, variant.our_ip, protocol,
                      identification=ident), payload


def cut(header: IPv4Header, payload: bytes, size: int) -> list[tuple[IPv4Header, bytes]]:
    """Fragments of `size` payload bytes each (a multiple of 8), the last one shorter."""
    assert size % FRAGMENT_UNIT == 0 and size > 0
    return cut_at(header, payload, list(range(size, len(payload), size)))


def cut_at(header: IPv4Header, payload: bytes, bounds: list[int]) -> list[tuple[IPv4Header, bytes]]:
    """Fragments split at the byte offsets `bounds` (multiples of 8, increasing)."""
    edges = [0, *bounds, len(payload)]
    pieces = []
    for start, end in zip(edges, edges[1:], strict=False):
        last = end == len(payload)
        pieces.append((piece(header, start, not last), payload[start:end]))
    return pieces


def piece(header: IPv4Header, offset: int, more: bool) -> IPv4Header:
    """`header` as the header of the fragment at byte `offset`, with MF = `more`."""
    return dataclasses.replace(header, fragment_offset=offset, more_fragments=more)


def frames(variant, pieces: list[tuple[IPv4Header, bytes]], src_mac: bytes | None = None
           ) -> list[bytes]:
    """Each fragment in an Ethernet frame from the peer (or `src_mac`) to the stack."""
    return [ipv4_frame(variant.our_mac, src_mac or variant.peer_mac, h, p) for h, p in pieces]


def frame(variant, header: IPv4Header, payload: bytes, src_mac: bytes | None = None) -> bytes:
    return frames(variant, [(header, payload)], src_mac)[0]


def ip_packet(frame_bytes: bytes) -> bytes:
    """The IP datagram inside a frame, without Ethernet padding."""
    total = int.from_bytes(frame_bytes[ETHERNET_HEADER + 2 : ETHERNET_HEADER + 4], "big")
    return frame_bytes[ETHERNET_HEADER : ETHERNET_HEADER + total]


def fragments_sent(sent: list[bytes], mtu: int) -> tuple[IPv4Header, bytes]:
    """Check the frames of one datagram the stack sent against what any valid fragmentation
    must satisfy, and return (its first header, the reassembled IP payload):
    each fits `mtu`; all share addresses, protocol, TTL and identification; offsets are in
    8-byte units and, sorted, contiguous from 0; every piece but the last carries a
    multiple of 8 bytes with MF set; the last has MF clear. Numbers in messages count the
    fragments in offset order."""
    check(len(sent) > 0, "expected the stack to send fragments, it sent nothing")
    headers, payloads = [], []
    for number, f in enumerate(sent, 1):
        fields = decode(f)
        check("ip.header" in fields, f"frame {number} is not IPv4: {describe_frame(f)}")
        header: IPv4Header = fields["ip.header"]
        data = bytes(wire_ipv4.parse(ip_packet(f))[1])
        size = len(ip_packet(f))
        check(size <= mtu, f"fragment {number} is {size} bytes, more than the MTU {mtu}")
        check(header.fragment_offset % FRAGMENT_UNIT == 0,
              f"fragment {number} starts at byte {header.fragment_offset}, not a multiple of 8")
        headers.append(header)
        payloads.append(data)
    # The order fragments leave in is the sender's choice: check them in offset order.
    order = sorted(range(len(headers)), key=lambda i: headers[i].fragment_offset)
    headers = [headers[i] for i in order]
    payloads = [payloads[i] for i in order]
    first = headers[0]
    expected = 0
    for number, (header, data) in enumerate(zip(headers, payloads, strict=True), 1):
        last = number == len(headers)
        for name in ("src", "dst", "protocol", "identification", "ttl"):
            check(getattr(header, name) == getattr(first, name),
                  f"fragment {number} has {name} {getattr(header, name)}, fragment 1 has "
                  f"{getattr(first, name)}: every fragment copies it")
        check(header.fragment_offset == expected,
              f"fragment {number} has offset {header.fragment_offset}, expected {expected} "
              "(the bytes before it end there)")
        if last:
            check(not header.more_fragments, f"the last fragment ({number}) has MF set")
        else:
            check(header.more_fragments, f"fragment {number} is not the last but has MF clear")
            check(len(data) % FRAGMENT_UNIT == 0,
                  f"fragment {number} carries {len(data)} bytes: every fragment but the last "
                  "must carry a multiple of 8")
            check(len(data) > 0, f"fragment {number} carries no data")
        expected += len(data)
    return first, b"".join(payloads)
