"""Ethernet II frames (the DIX "type" framing, IEEE 802.3 clause 3.2.6), with VLAN tags.

Layout: dst (6) | src (6) | [TPID (2) | TCI (2)]* | ethertype (2) | payload.
Tags are 802.1Q (TPID 0x8100) or 802.1ad "QinQ" outer tags (TPID 0x88A8); they are read in
the order they appear, outermost first. The FCS is not part of what a port hands us.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

from netstack.errors import MalformedPacket

MAC_LEN = 6
HEADER_LEN = 14  # without VLAN tags
VLAN_TAG_LEN = 4
TYPE_OFFSET = 12  # where the first TPID or the ethertype sits

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_VLAN = 0x8100  # IEEE 802.1Q customer tag
ETHERTYPE_QINQ = 0x88A8  # IEEE 802.1ad service tag
ETHERTYPE_IPV6 = 0x86DD
TAG_TPIDS = frozenset({ETHERTYPE_VLAN, ETHERTYPE_QINQ})
# Values below this are an 802.3 length field, not a type (IEEE 802.3 clause 3.2.6).
MIN_ETHERTYPE = 0x0600
MAX_ETHERTYPE = 0xFFFF

# Tag Control Information: PCP (3 bits) | DEI (1 bit) | VID (12 bits)
TCI_PCP_SHIFT = 13
TCI_DEI_BIT = 0x1000
TCI_VID_MASK = 0x0FFF
MAX_PCP = 7

BROADCAST = b"\xff" * MAC_LEN
GROUP_BIT = 0x01  # the I/G bit of the first octet: set for multicast and broadcast

ETHERTYPE_NAMES = {
    ETHERTYPE_IPV4: "IPv4",
    ETHERTYPE_ARP: "ARP",
    ETHERTYPE_IPV6: "IPv6",
    ETHERTYPE_VLAN: "802.1Q",
    ETHERTYPE_QINQ: "802.1ad",
}

_ADDRESSES = struct.Struct("!6s6s")
_U16 = struct.Struct("!H")
_TAG = struct.Struct("!HH")  # TPID, TCI

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class VlanTag:
    """One 802.1Q/802.1ad tag. `tpid` says which kind it is."""

    vid: int
    pcp: int = 0
    dei: bool = False
    tpid: int = ETHERTYPE_VLAN


@dataclass(frozen=True, slots=True)
class EthernetHeader:
    dst: bytes
    src: bytes
    ethertype: int
    vlans: tuple[VlanTag, ...] = ()

    @property
    def header_len(self) -> int:
        return HEADER_LEN + VLAN_TAG_LEN * len(self.vlans)


class EthernetCodec(Protocol):
    """The Ethernet codec unit: these functions (this module is the reference)."""

    def parse(self, buf: bytes | bytearray | memoryview) -> tuple[EthernetHeader, memoryview]:
        """(header, payload) of one frame, VLAN tags read into `header.vlans`. Raises
        MalformedPacket (truncated, not_ethernet_ii) and nothing else."""
        ...

    def write_header(self, header: EthernetHeader, buf: bytearray, offset: int) -> None:
        """Write `header.header_len` bytes at buf[offset:]. ValueError if unencodable."""
        ...

    def build(self, header: EthernetHeader,
              payload: bytes | bytearray | memoryview = b"") -> bytes:
        """The frame: header (as write_header writes it) then payload (no padding)."""
        ...


def format_mac(mac: bytes) -> str:
    """02:00:00:00:00:01 style."""
    return bytes(mac).hex(":")


def parse_mac(text: str) -> bytes:
    """The 6 bytes of "02:00:00:00:00:01"; ValueError for anything else."""
    parts = text.split(":")
    if len(parts) != MAC_LEN or any(len(p) != 2 or not _HEX_DIGITS.issuperset(p) for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def is_multicast(mac: bytes) -> bool:
    """True for group addresses, broadcast included (IEEE 802 I/G bit)."""
    return bool(mac[0] & GROUP_BIT)


def mac_from_ip(ip: IPv4Address) -> bytes:
    """A locally administered MAC made from an IPv4 address (192.0.2.2 -> 02:00:c0:00:02:02),
    so the same command gives the same MAC every run."""
    return bytes([0x02, 0x00]) + ip.packed


# Untagged headers parsed lately, by their 14 bytes: a host hears from a few peers, and
# every frame of one carries the same header (immutable, so one object serves them all).
# Bounded: emptied when full, so a flood of made-up addresses cannot grow it.
_recent_headers: dict[bytes, EthernetHeader] = {}
RECENT_HEADERS = 64


def parse(buf: bytes | bytearray | memoryview) -> tuple[EthernetHeader, memoryview]:
    # BEGIN SOLUTION: dst, src, then tags while the type field is a TPID; the rest is payload
    view = memoryview(buf)
    if len(view) < HEADER_LEN:
        raise MalformedPacket("truncated")
    known = _recent_headers.get(bytes(view[:HEADER_LEN]))
    if known is not None:
        return known, view[HEADER_LEN:]
    dst, src = _ADDRESSES.unpack_from(view)
    offset = TYPE_OFFSET
    (ethertype,) = _U16.unpack_from(view, offset)
    vlans: list[VlanTag] = []
    while ethertype in TAG_TPIDS:
        # A tag pushes the real ethertype 4 bytes further; each tag must still leave room for it.
        if len(view) < offset + VLAN_TAG_LEN + 2:
            raise MalformedPacket("truncated")
        tpid, tci = _TAG.unpack_from(view, offset)
        vlans.append(
            VlanTag(tci & TCI_VID_MASK, tci >> TCI_PCP_SHIFT, bool(tci & TCI_DEI_BIT), tpid)
        )
        offset += VLAN_TAG_LEN
        (ethertype,) = _U16.unpack_from(view, offset)
    if ethertype < MIN_ETHERTYPE:
        raise MalformedPacket("not_ethernet_ii")
    header = EthernetHeader(dst, src, ethertype, tuple(vlans))
    if not vlans:
        if len(_recent_headers) >= RECENT_HEADERS:
            _recent_headers.clear()
        _recent_headers[bytes(view[:HEADER_LEN])] = header
    return header, view[offset + 2 :]
    # END SOLUTION


def _check(header: EthernetHeader) -> None:
    # BEGIN SOLUTION: ValueError for what cannot be encoded (MAC lengths, ethertype, tags)
    if len(header.dst) != MAC_LEN or len(header.src) != MAC_LEN:
        raise ValueError("MAC addresses are 6 bytes")
    if not MIN_ETHERTYPE <= header.ethertype <= MAX_ETHERTYPE or header.ethertype in TAG_TPIDS:
        # A tag TPID as the ethertype would be read back as a tag: use `vlans` instead.
        raise ValueError(f"ethertype {header.ethertype:#x} cannot be sent as Ethernet II")
    for tag in header.vlans:
        if tag.tpid not in TAG_TPIDS:
            raise ValueError(f"VLAN TPID {tag.tpid:#x} is not 802.1Q or 802.1ad")
        if not 0 <= tag.vid <= TCI_VID_MASK or not 0 <= tag.pcp <= MAX_PCP:
            raise ValueError(f"VLAN vid {tag.vid} / pcp {tag.pcp} out of range")
    # END SOLUTION


def write_header(header: EthernetHeader, buf: bytearray, offset: int) -> None:
    """Write `header.header_len` bytes at `offset` (after `Mbuf.prepend(header.header_len)`)."""
    # BEGIN SOLUTION: check the header, then dst, src, each tag (TPID, TCI) and the ethertype
    _check(header)
    _ADDRESSES.pack_into(buf, offset, header.dst, header.src)
    offset += TYPE_OFFSET
    for tag in header.vlans:
        tci = (tag.pcp << TCI_PCP_SHIFT) | (TCI_DEI_BIT if tag.dei else 0) | tag.vid
        _TAG.pack_into(buf, offset, tag.tpid, tci)
        offset += VLAN_TAG_LEN
    _U16.pack_into(buf, offset, header.ethertype)
    # END SOLUTION


def build(header: EthernetHeader, payload: bytes | bytearray | memoryview = b"") -> bytes:
    head = bytearray(header.header_len)
    write_header(header, head, 0)
    return b"".join((head, payload))


def describe(header: EthernetHeader) -> str:
    """e.g. `02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff vlan 10 p 0, IPv4 (0x0800)`."""
    parts = [f"{format_mac(header.src)} > {format_mac(header.dst)}"]
    for tag in header.vlans:
        kind = "" if tag.tpid == ETHERTYPE_VLAN else " (802.1ad)"
        parts.append(f" vlan {tag.vid} p {tag.pcp}{' dei' if tag.dei else ''}{kind}")
    name = ETHERTYPE_NAMES.get(header.ethertype, "ethertype")
    parts.append(f", {name} ({header.ethertype:#06x})")
    return "".join(parts)
