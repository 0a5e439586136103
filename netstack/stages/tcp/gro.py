"""Receive coalescing (software GRO): one connection call for a run of in-order segments.

A bulk sender fills each engine burst with back-to-back full-sized segments of one flow.
Each costs the connection the same work (RFC 9293 §3.10.7.4's checks, the receive buffer,
the ACK decision, waking the reader), whatever its size. So while the engine dispatches a
burst (`TcpStage.begin_burst` ... `end_burst`), the stage holds a data segment back, and
when the next one of the same connection continues it exactly, appends its payload instead
of delivering it. At the end of the burst, or as soon as anything else arrives, the merged
segment goes to the connection as if the peer had sent one large segment: one pass through
the state machine and at most one ACK for the lot (ACKs coalesced per burst).

Only what changes nothing for the connection is merged, the rules Linux's tcp_gro_receive
applies: ESTABLISHED, payload present, flags ACK (PSH allowed, and it ends the run), and
the same acknowledgment, window and options (so timestamps agree, RFC 7323 §4.3). At most
MAX_MERGED bytes, like a 64 KB GRO segment. Outside a burst (tests and tools calling
`Stack.receive` directly), nothing is held back.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from netstack.stages.tcp.state import TcpState
from netstack.wire.tcp import FLAG_ACK, FLAG_PSH, TcpHeader


class MergingConnection(Protocol):
    """What receive coalescing uses of a connection."""

    state: TcpState

    def segment_arrives(self, header: TcpHeader, data: memoryview, now: float) -> None: ...

MAX_MERGED = 65535
_SEQ_MASK = 0xFFFF_FFFF


def mergeable(conn: MergingConnection, header: TcpHeader, payload_len: int) -> bool:
    """Could this segment start or continue a merged run?"""
    return (payload_len > 0 and header.flags & ~FLAG_PSH == FLAG_ACK
            and conn.state == TcpState.ESTABLISHED)


class HeldSegment:
    """The run being built: the first segment's header and every payload byte so far."""

    __slots__ = ("conn", "header", "data", "next_seq", "last_flags", "segments")

    def __init__(self, conn: MergingConnection, header: TcpHeader, payload: memoryview) -> None:
        self.conn = conn
        self.header = header
        self.data = bytearray(payload)  # a copy: the frame's buffer goes back to the pool
        self.next_seq = (header.seq + len(payload)) & _SEQ_MASK
        self.last_flags = header.flags
        self.segments = 1

    def extends(self, conn: MergingConnection, header: TcpHeader, payload_len: int) -> bool:
        """Does this segment continue the run exactly, with nothing else different?"""
        first = self.header
        return (conn is self.conn and header.seq == self.next_seq
                and not self.last_flags & FLAG_PSH
                and header.ack == first.ack and header.window == first.window
                and header.options == first.options
                and len(self.data) + payload_len <= MAX_MERGED)

    def add(self, header: TcpHeader, payload: memoryview) -> None:
        self.data += payload
        self.next_seq = (self.next_seq + len(payload)) & _SEQ_MASK
        self.last_flags = header.flags
        self.segments += 1

    def merged_header(self) -> TcpHeader:
        """The first header, with the last segment's flags (a PSH at the end counts)."""
        if self.last_flags == self.header.flags:
            return self.header
        return dataclasses.replace(self.header, flags=self.last_flags)
