"""How TCP segments leave the stage: written once into a pool mbuf, then handed to IPv4.

`SegmentOutput` is the sending half of TcpStage (stage.py), kept apart so each file reads on
its own. Every segment, a connection's (emit.py) or a RST for a closed port, is written here
with its payload copied once, straight into the mbuf that leaves. While a connection sends
a burst (`begin_tx_burst` .. `end_tx_burst`), the frames after the first reuse its Ethernet
and IPv4 headers as a template (Ipv4Stage.send_like) instead of routing each one again.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

from netstack.mbuf import Mbuf
from netstack.wire import tcp as wire_tcp
from netstack.wire.ipv4 import PROTO_TCP
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, TcpHeader

if TYPE_CHECKING:
    from netstack.stages.context import StackContext


class SegmentOutput:
    """The segment-writing methods of TcpStage (which sets the attributes below)."""

    stack: StackContext
    _in_tx_burst: bool  # between begin_tx_burst and end_tx_burst
    _tx_template: tuple[IPv4Address, IPv4Address, Mbuf] | None  # the first frame's (dst, src, mbuf)
    _write_header_fields: Callable[..., None]  # the tcp_codec unit's, with the stack's checksum

    def send_segment(self, header: TcpHeader, src: IPv4Address, dst: IPv4Address, now: float,
                     payload: bytes | memoryview | None = None) -> bool:
        """Write the segment into a pool mbuf (the payload copied once) and send it."""
        if not 0 <= header.flags <= wire_tcp.FLAGS_MASK or not (
                0 <= header.reserved <= wire_tcp.RESERVED_MASK):
            raise ValueError("TCP flags are 8 bits and reserved is 4 bits")
        return self.send_fields(
            src, dst, wire_tcp.pseudo_header_base(src, dst), header.src_port, header.dst_port,
            header.seq, header.ack, header.reserved << wire_tcp.RESERVED_SHIFT | header.flags,
            header.window, wire_tcp.padded_options(header.options), now, payload,
        )

    def send_fields(self, src: IPv4Address, dst: IPv4Address, pseudo_base: int,
                    src_port: int, dst_port: int, seq: int, ack: int, flags: int,
                    window: int, options: bytes, now: float,
                    payload: bytes | memoryview | None = None) -> bool:
        """`send_segment` from plain values (wire_tcp.write_header_fields): what a
        connection sends per segment, without building a TcpHeader each time."""
        counters = self.stack.counters
        mbuf = self.stack.alloc_mbuf()
        if mbuf is None:
            counters.bump("tcp.drop.no_mbuf")
            return False
        payload_len = len(payload) if payload is not None else 0
        header_len = wire_tcp.MIN_HEADER_LEN + len(options)
        offset = mbuf.append(header_len + payload_len)
        if payload_len:
            start = offset + header_len
            mbuf.buf[start : start + payload_len] = payload  # type: ignore[index]
        try:
            self._write_header_fields(mbuf.buf, offset, src_port, dst_port, seq, ack, flags,
                                         window, options, payload_len, pseudo_base)
        except ValueError:
            self.stack.pool.free(mbuf)
            raise
        counters.bump("tcp.tx.segments")
        if payload_len:
            counters.bump("copy.sndbuf_to_mbuf", payload_len)  # the copy ledger
        if flags & FLAG_RST:
            counters.bump("tcp.tx.rst")
        template = self._tx_template
        same_path = template is not None and template[0] is dst and template[1] is src
        if same_path and self.stack.ipv4.send_like(template[2], mbuf):  # type: ignore[index]
            return True
        sent = self.stack.ipv4.send(dst, PROTO_TCP, mbuf, now)
        outgoing = self.stack.outgoing
        if self._in_tx_burst and sent and outgoing and outgoing[-1] is mbuf and (
            not same_path or len(mbuf) > len(template[2])  # type: ignore[index]
        ):
            self._tx_template = (dst, src, mbuf)  # it went out whole, as one frame
        return sent

    def send_zero_copy(self, src: IPv4Address, dst: IPv4Address, pseudo_base: int,
                       src_port: int, dst_port: int, seq: int, ack: int, flags: int,
                       window: int, options: bytes, now: float, extent: Any) -> bool | None:
        """Send a zero-copy extent's own mbuf: the TCP header goes into its headroom, in
        front of the payload the application wrote, and the port gets a second hold on it
        (Mbuf.refcnt); the send buffer keeps the first until the bytes are acknowledged.
        None when its last transmission still holds it (the caller copies instead):
        rewriting the header under a frame in flight would corrupt it."""
        mbuf = extent.mbuf
        if mbuf.refcnt > 1:
            self.stack.counters.bump("tcp.tx.zero_copy_busy")
            return None
        mbuf.data_off, mbuf.data_len = extent.payload_off, extent.length
        offset = mbuf.prepend(wire_tcp.MIN_HEADER_LEN + len(options))
        self._write_header_fields(mbuf.buf, offset, src_port, dst_port, seq, ack, flags,
                                  window, options, extent.length, pseudo_base)
        self.stack.pool.retain(mbuf)
        counters = self.stack.counters
        counters.bump("tcp.tx.segments")
        counters.bump("tcp.tx.zero_copy_bytes", extent.length)
        return self.stack.ipv4.send(dst, PROTO_TCP, mbuf, now)

    def forget_tx_template(self) -> None:
        """The engine is sending the queued frames now (Stack.alloc_mbuf), the template
        among them: the next segment takes the full path and becomes the template."""
        self._tx_template = None

    def begin_tx_burst(self) -> None:
        """A connection is about to send several segments at once (Sender.output): the
        frames after the first may copy its Ethernet and IPv4 headers (Ipv4Stage.send_like)
        instead of looking up the route and ARP entry again. Nothing can change those
        before `end_tx_burst`, the same loop-thread call."""
        self._in_tx_burst = True
        self._tx_template = None

    def end_tx_burst(self) -> None:
        self._in_tx_burst = False
        self._tx_template = None

    def send_reset_for(self, local_ip: IPv4Address, remote_ip: IPv4Address,
                       header: TcpHeader, data_len: int, now: float) -> None:
        """RFC 9293 §3.10.7.1: the RST that answers `header` (never a RST itself)."""
        if header.flags & FLAG_RST:
            return
        if header.flags & FLAG_ACK:
            reply = TcpHeader(header.dst_port, header.src_port, header.ack, 0, FLAG_RST, 0)
        else:
            seg_len = data_len + bool(header.flags & FLAG_SYN) + bool(header.flags & FLAG_FIN)
            ack = (header.seq + seg_len) & 0xFFFFFFFF
            reply = TcpHeader(header.dst_port, header.src_port, 0, ack, FLAG_RST | FLAG_ACK, 0)
        self.send_segment(reply, local_ip, remote_ip, now)
