"""The Ethernet stage: the first thing every frame meets, and the last thing every frame leaves.

Receiving decides, in order: is the frame well formed, is it a size we accept, is it for us,
and which stage gets it. We keep unicast to our MAC and broadcast. Multicast frames are for the
kernel (IPv6 neighbour discovery lives there, through the KNI device), as is every ethertype we
do not handle ourselves. Every frame we refuse bumps an `eth.drop.<reason>` counter.

Sending prepends the 14-byte header into the mbuf's headroom and queues the mbuf on
`stack.outgoing`; the payload bytes are not touched. Headers are parsed and written by
the stack's Ethernet codec unit (`units.ethernet_codec`, wire/ethernet.py by default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netstack.errors import MalformedPacket
from netstack.mbuf import Mbuf
from netstack.wire.ethernet import (
    BROADCAST,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
    HEADER_LEN,
    MAC_LEN,
    VLAN_TAG_LEN,
    EthernetHeader,
    is_multicast,
)

if TYPE_CHECKING:
    from netstack.stages.context import StackContext

# IEEE 802.3 §4.4.2: a frame is at least 64 bytes on the wire, 60 without the FCS. NICs pad
# short frames themselves, a TAP device does not, so we pad here and every port behaves alike.
MIN_FRAME_LEN = 60
ARP_REPLY_OP = b"\x00\x02"  # bytes 6-7 of an ARP packet: the operation, 2 = reply (RFC 826)


class EthernetStage:
    def __init__(self, stack: StackContext) -> None:
        self.stack = stack
        self._codec = stack.units.ethernet_codec
        self.our_mac = stack.config.mac
        self.max_payload = stack.config.mtu
        self._header_tails: dict[int, bytes] = {}  # ethertype -> our MAC + ethertype

    def receive(self, frame: bytes | bytearray | memoryview, now: float) -> None:
        counters = self.stack.counters
        try:
            header, payload = self._codec.parse(frame)
        except MalformedPacket as exc:
            counters.bump(f"eth.drop.{exc.reason}")
            return
        if len(frame) > HEADER_LEN + VLAN_TAG_LEN * len(header.vlans) + self.max_payload:
            counters.bump("eth.drop.oversized")
            return

        if header.dst == self.our_mac or header.dst == BROADCAST:
            pass
        elif is_multicast(header.dst):
            # Multicast is never ours (we join no groups); the kernel may want it.
            self._to_kni(frame, "eth.drop.multicast")
            return
        else:
            counters.bump("eth.drop.not_for_us")
            return

        if header.vlans:
            counters.bump("eth.drop.vlan")  # we serve the untagged LAN only
            return

        if header.ethertype == ETHERTYPE_IPV4:
            counters.bump("eth.rx.ipv4")
            config = self.stack.config
            if config.kni and config.kni_mode == "all-to-kernel":
                self.stack.send_to_kni(frame)  # `netstack kni all-to-kernel` (F-Stack's knictl)
                return
            self.stack.ipv4.receive(payload, frame, now)
        elif header.ethertype == ETHERTYPE_ARP:
            counters.bump("eth.rx.arp")
            config = self.stack.config
            if config.kni and (payload[6:8] == ARP_REPLY_OP or config.kni_mode == "all-to-kernel"):
                # The kernel behind KNI shares our MAC, so the answers to its own ARP
                # requests come here: it gets a copy, or it could never resolve a neighbour.
                # With everything steered to it, it sees every ARP frame; the stack still
                # answers and learns too (both answer with one MAC: harmless), so its table
                # is current when the mode changes back.
                self.stack.send_to_kni(frame)
            self.stack.arp.receive(payload, now)
        else:
            self._to_kni(frame, "eth.drop.unknown_ethertype")

    def _to_kni(self, frame: bytes | bytearray | memoryview, drop_reason: str) -> None:
        """Hand the frame to the kernel when KNI is on; otherwise count it as `drop_reason`."""
        if self.stack.config.kni:
            self.stack.send_to_kni(frame)
        else:
            self.stack.counters.bump(drop_reason)

    def send(self, dst_mac: bytes, ethertype: int, mbuf: Mbuf) -> None:
        """Prepend our header to `mbuf` and queue it for the port. Ownership passes on."""
        if len(mbuf) + HEADER_LEN < MIN_FRAME_LEN:
            pad = MIN_FRAME_LEN - HEADER_LEN - len(mbuf)
            offset = mbuf.append(pad)
            mbuf.buf[offset : offset + pad] = bytes(pad)
        if len(dst_mac) != MAC_LEN:  # a wrong-sized slice would resize the buffer below
            raise ValueError("MAC addresses are 6 bytes")
        tail = self._header_tails.get(ethertype)
        if tail is None:
            tail = self._header_tail(ethertype)
        offset = mbuf.prepend(HEADER_LEN)
        mbuf.buf[offset : offset + HEADER_LEN] = dst_mac + tail
        self.stack.outgoing.append(mbuf)
        self.stack.counters.bump("eth.tx.frames")

    def _header_tail(self, ethertype: int) -> bytes:
        """Our header after the destination MAC: the same 8 bytes (our MAC, the ethertype)
        for every frame of a type, so it is written once by the codec and kept. That
        saves building and checking an EthernetHeader for every frame we send."""
        header = bytearray(HEADER_LEN)
        self._codec.write_header(EthernetHeader(BROADCAST, self.our_mac, ethertype), header, 0)
        tail = self._header_tails[ethertype] = bytes(header[MAC_LEN:])
        return tail
