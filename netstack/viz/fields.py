"""Which bytes of a frame are which header field: the labels a byte map draws.

An independent little dissector for display, reading fixed offsets (RFC 826,
791, 792, 768 and 9293 layouts). It never raises on a short or odd frame: what it cannot
name is left as "payload" or "truncated".
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from netstack.wire.tcp import flags_text  # tcpdump's spelling: "S.", "P.", "."

ETH_LEN, VLAN_TPIDS = 14, (0x8100, 0x88A8)


@dataclass(frozen=True)
class Field:
    layer: str  # "Ethernet", "ARP", "IPv4", "ICMP", "UDP", "TCP", "data"
    name: str  # "dst", "ttl", "checksum", ...
    start: int  # byte offset in the frame
    end: int  # one past the last byte
    value: str  # how the field reads, e.g. "64" or "192.0.2.1"

    @property
    def size(self) -> int:
        return self.end - self.start


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _u(b: bytes) -> int:
    return int.from_bytes(b, "big")


def header_fields(frame: bytes | bytearray | memoryview) -> list[Field]:
    """The fields of every header in `frame`, in order, covering it from first byte to last."""
    frame = bytes(frame)
    out: list[Field] = []

    def add(layer: str, name: str, start: int, size: int, show=None) -> bool:
        if start + size > len(frame):
            return False
        raw = frame[start:start + size]
        out.append(Field(layer, name, start, start + size, show(raw) if show else str(_u(raw))))
        return True

    hexa = lambda b: f"0x{_u(b):0{2 * len(b)}x}"  # noqa: E731 - a one-line formatter
    if not (add("Ethernet", "dst", 0, 6, _mac) and add("Ethernet", "src", 6, 6, _mac)):
        return _rest(out, frame, 0)
    at = 12
    while len(frame) >= at + 4 and _u(frame[at:at + 2]) in VLAN_TPIDS:
        add("Ethernet", "vlan tag", at, 4, hexa)
        at += 4
    if not add("Ethernet", "type", at, 2, hexa):
        return _rest(out, frame, at)
    ethertype, at = _u(frame[at:at + 2]), at + 2
    if ethertype == 0x0806:
        at = _arp(add, _mac, at)
    elif ethertype == 0x0800:
        at = _ipv4(frame, add, hexa, at)
    return _rest(out, frame, at)


def _arp(add, mac, at: int) -> int:
    ip = lambda b: str(IPv4Address(b))  # noqa: E731
    layout = [("htype", 2, None), ("ptype", 2, lambda b: f"0x{_u(b):04x}"), ("hlen", 1, None),
              ("plen", 1, None), ("op", 2, lambda b: {1: "request", 2: "reply"}.get(_u(b), str(_u(b)))),
              ("sender mac", 6, mac), ("sender ip", 4, ip), ("target mac", 6, mac),
              ("target ip", 4, ip)]
    for name, size, show in layout:
        if not add("ARP", name, at, size, show):
            break
        at += size
    return at


def _ipv4(frame: bytes, add, hexa, at: int) -> int:
    if len(frame) < at + 20:
        return at
    ihl = (frame[at] & 0x0F) * 4
    ip = lambda b: str(IPv4Address(b))  # noqa: E731
    flags = lambda b: (("DF " if _u(b) & 0x4000 else "") + ("MF " if _u(b) & 0x2000 else "")  # noqa: E731
                       + f"off={(_u(b) & 0x1FFF) * 8}").strip()
    add("IPv4", "version/ihl", at, 1, lambda b: f"{b[0] >> 4}/{ihl}")
    add("IPv4", "tos", at + 1, 1, hexa)
    add("IPv4", "total length", at + 2, 2)
    add("IPv4", "id", at + 4, 2, hexa)
    add("IPv4", "flags/offset", at + 6, 2, flags)
    add("IPv4", "ttl", at + 8, 1)
    add("IPv4", "protocol", at + 9, 1, lambda b: {1: "ICMP", 6: "TCP", 17: "UDP"}.get(b[0], str(b[0])))
    add("IPv4", "checksum", at + 10, 2, hexa)
    add("IPv4", "src", at + 12, 4, ip)
    add("IPv4", "dst", at + 16, 4, ip)
    if ihl > 20:
        add("IPv4", "options", at + 20, ihl - 20, lambda b: f"{len(b)} bytes")
    protocol, offset = frame[at + 9], _u(frame[at + 6:at + 8]) & 0x1FFF
    at += max(ihl, 20)
    if offset:  # a later fragment: no transport header in it
        return at
    if protocol == 1 and len(frame) >= at + 8:
        add("ICMP", "type", at, 1)
        add("ICMP", "code", at + 1, 1)
        add("ICMP", "checksum", at + 2, 2, hexa)
        if frame[at] in (0, 8):
            add("ICMP", "id", at + 4, 2)
            add("ICMP", "seq", at + 6, 2)
        else:
            add("ICMP", "rest", at + 4, 4, hexa)
        return at + 8
    if protocol == 17 and len(frame) >= at + 8:
        for i, name in enumerate(("src port", "dst port", "length")):
            add("UDP", name, at + 2 * i, 2)
        add("UDP", "checksum", at + 6, 2, hexa)
        return at + 8
    if protocol == 6 and len(frame) >= at + 20:
        data_offset = (frame[at + 12] >> 4) * 4
        add("TCP", "src port", at, 2)
        add("TCP", "dst port", at + 2, 2)
        add("TCP", "seq", at + 4, 4)
        add("TCP", "ack", at + 8, 4)
        add("TCP", "offset/flags", at + 12, 2, lambda b: f"{data_offset} {flags_text(b[1])}")
        add("TCP", "window", at + 14, 2)
        add("TCP", "checksum", at + 16, 2, hexa)
        add("TCP", "urgent", at + 18, 2)
        if data_offset > 20:
            add("TCP", "options", at + 20, data_offset - 20, lambda b: f"{len(b)} bytes")
        return at + max(data_offset, 20)
    return at


def _rest(out: list[Field], frame: bytes, at: int) -> list[Field]:
    covered = max((f.end for f in out), default=0)
    if covered < len(frame):
        out.append(Field("data", "payload", covered, len(frame), f"{len(frame) - covered} bytes"))
    return out
