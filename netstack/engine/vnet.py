"""The virtio-net header: how a TAP device and its reader agree on checksum and segmentation
offloads (the `tap:NAME,offload` mode of ports/tap.py). Sans-I/O: bytes in, bytes out.

With IFF_VNET_HDR every read() and write() on the TAP descriptor starts with this header,
then the Ethernet frame. We use the 12-byte `virtio_net_hdr_v1` layout (virtio 1.0 §5.1.6,
Linux include/uapi/linux/virtio_net.h), set with TUNSETVNETHDRSZ; all fields little-endian:

    flags (1) | gso_type (1) | hdr_len (2) | gso_size (2) | csum_start (2) | csum_offset (2)
    | num_buffers (2, unused on a TAP)

- flags NEEDS_CSUM: the transport checksum is not done. The field at csum_start+csum_offset
  holds only the pseudo-header sum; whoever delivers the frame finishes it by summing from
  csum_start to the end (the "partial checksum" of Linux's CHECKSUM_PARTIAL).
- flags DATA_VALID: the sender already checked the checksum (we never need to).
- gso_type TCPV4 (GSO, "generic segmentation offload"): the frame is one large TCP segment,
  to be cut into segments of gso_size payload bytes, each with a copy of the first hdr_len
  bytes of headers (sequence numbers, IP ids, lengths and checksums fixed for each).

The kernel hands us such frames (up to 64 KB) when we enable TUN_F_CSUM | TUN_F_TSO4 with
TUNSETOFFLOAD, and cuts the ones we write with gso_type TCPV4 itself (TSO for us).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from netstack.checksum import internet_checksum, pseudo_header_sum
from netstack.errors import MalformedPacket

HEADER_LEN = 12  # virtio_net_hdr_v1 (the legacy virtio_net_hdr is 10: no num_buffers)
_LAYOUT = struct.Struct("<BBHHHHH")

FLAG_NEEDS_CSUM = 0x01
FLAG_DATA_VALID = 0x02
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_UDP = 3
GSO_TCPV6 = 4
GSO_ECN = 0x80  # or-ed into gso_type when the segments carry ECN's CWR

# Offsets into an Ethernet + IPv4 + TCP frame, for building the header of a TSO frame.
ETHERNET_HEADER_LEN = 14
ETHERTYPE_OFFSET = 12
ETHERTYPE_IPV4 = 0x0800
IPV4_PROTOCOL_OFFSET = 9
IPV4_SRC_OFFSET = 12
IPV4_DST_OFFSET = 16
PROTO_TCP = 6
TCP_DATA_OFFSET_OFFSET = 12
TCP_CHECKSUM_OFFSET = 16


@dataclass(frozen=True)
class VnetHeader:
    flags: int = 0
    gso_type: int = GSO_NONE
    hdr_len: int = 0
    gso_size: int = 0
    csum_start: int = 0
    csum_offset: int = 0

    @property
    def needs_csum(self) -> bool:
        return bool(self.flags & FLAG_NEEDS_CSUM)

    @property
    def is_gso(self) -> bool:
        return self.gso_type & ~GSO_ECN != GSO_NONE


PLAIN = VnetHeader()  # a frame with nothing to do: checksums complete, no segmentation
PLAIN_BYTES = bytes(HEADER_LEN)


def parse(buf: bytes | bytearray | memoryview) -> VnetHeader:
    if len(buf) < HEADER_LEN:
        raise MalformedPacket("vnet_truncated")
    flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, _ = _LAYOUT.unpack_from(buf)
    return VnetHeader(flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def build(header: VnetHeader) -> bytes:
    return _LAYOUT.pack(header.flags, header.gso_type, header.hdr_len, header.gso_size,
                        header.csum_start, header.csum_offset, 0)


def complete_checksum(header: VnetHeader, frame: bytearray | memoryview) -> None:
    """Finish a NEEDS_CSUM frame in place, as Linux's skb_checksum_help does: the field
    already holds the pseudo-header sum, so the checksum of everything from csum_start on
    is the final value. Raises MalformedPacket when the offsets fall outside the frame."""
    field = header.csum_start + header.csum_offset
    if header.csum_start >= len(frame) or field + 2 > len(frame):
        raise MalformedPacket("vnet_bad_csum_offsets")
    checksum = internet_checksum(frame[header.csum_start :])
    struct.pack_into("!H", frame, field, checksum)


def tso_header(frame: bytearray | memoryview, mtu: int) -> VnetHeader | None:
    """For a frame longer than the link allows: the header that has the kernel cut it into
    MTU-sized TCP segments, after making its TCP checksum partial (pseudo-header only) in
    place. None when the frame is not one IPv4 TCP segment we can have cut that way.

    gso_size is what fits in one MTU after this segment's own IP and TCP headers, which is
    also what the TCP sender's segment_limit() allows when the peer's MSS is the link's."""
    if len(frame) < ETHERNET_HEADER_LEN + 40:
        return None
    if int.from_bytes(frame[ETHERTYPE_OFFSET : ETHERTYPE_OFFSET + 2], "big") != ETHERTYPE_IPV4:
        return None
    ip = ETHERNET_HEADER_LEN
    if frame[ip + IPV4_PROTOCOL_OFFSET] != PROTO_TCP:
        return None
    ip_header_len = (frame[ip] & 0x0F) * 4
    tcp = ip + ip_header_len
    tcp_header_len = (frame[tcp + TCP_DATA_OFFSET_OFFSET] >> 4) * 4
    headers = tcp + tcp_header_len
    gso_size = mtu - ip_header_len - tcp_header_len
    if gso_size <= 0 or headers >= len(frame):
        return None
    tcp_length = len(frame) - tcp
    partial = pseudo_header_sum(bytes(frame[ip + IPV4_SRC_OFFSET : ip + IPV4_SRC_OFFSET + 4]),
                                bytes(frame[ip + IPV4_DST_OFFSET : ip + IPV4_DST_OFFSET + 4]),
                                PROTO_TCP, tcp_length)
    struct.pack_into("!H", frame, tcp + TCP_CHECKSUM_OFFSET, partial)
    return VnetHeader(FLAG_NEEDS_CSUM, GSO_TCPV4, headers, gso_size, tcp, TCP_CHECKSUM_OFFSET)
