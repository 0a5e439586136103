# Lab 8 starter, generated from netstack/stages/tcp/segment_arrives.py (python -m labs.kit.starter).
# Fill in each NotImplementedError; labs/README.md says how to test your work.
"""SEGMENT ARRIVES (RFC 9293 §3.10.7) for a connection that exists.

The RFC's text is a list of checks done in order; so is this module. LISTEN lives in the
stage (a listener is not a connection yet); SYN-SENT has its own section (§3.10.7.3); every
other state goes through `_other_states` (§3.10.7.4):

    (SYN-SENT also refuses a SYN-ACK whose TSecr echoes no TSval of ours, RFC 7323 §3.2)
    PAWS    with timestamps, an old TSval marks an old duplicate (RFC 7323 §5.3 R1)
    first   the sequence number: is the segment in the window?
    second  RST           (RFC 5961 §3: only an exact one resets)
    fourth  SYN           (RFC 5961 §4: a challenge ACK)
            then TS.Recent takes the segment's TSval (RFC 7323 §4.3, §5.3 R3)
    fifth   ACK           (RFC 5961 §5: is it acknowledging something we sent?)
    seventh the text      (receiver.py)
    eighth  FIN

(The third check, security/compartment, is obsolete; the sixth, URG, we do not implement:
RFC 6093 advises new applications not to use it, and its data is delivered inline.)
"""

from __future__ import annotations

import errno
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Protocol

from netstack.stages.tcp.options import PeerSynOptions, read_syn_options
from netstack.stages.tcp.sack import find_sack_blocks
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.state import RECEIVING_STATES, TcpState
from netstack.stages.tcp.timestamps import find_timestamp
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, TcpHeader, TimestampOption

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.config import TcpConfig
    from netstack.stages.tcp.keepalive import Keepalive
    from netstack.stages.tcp.receiver import ReceiverUnit
    from netstack.stages.tcp.sender import SenderUnit
    from netstack.stages.tcp.timestamps import Timestamps


class ResetSender(Protocol):
    def send_reset_for(self, local_ip: IPv4Address, remote_ip: IPv4Address,
                       header: TcpHeader, data_len: int, now: float) -> None: ...


class AcceptQueue(Protocol):
    def accept_queue_full(self) -> bool: ...


class TcpConnection(Protocol):
    """The connection (connection.py), as segment processing uses it."""

    state: TcpState
    config: TcpConfig
    counters: Counters
    sender: SenderUnit
    receiver: ReceiverUnit
    timestamps: Timestamps
    keepalive: Keepalive
    stage: ResetSender
    listener: AcceptQueue | None
    passive: bool
    local: tuple[IPv4Address, int]
    remote: tuple[IPv4Address, int]

    def use_peer_options(self, peer: PeerSynOptions, offered: bool, now: float) -> None: ...

    def establish(self, now: float) -> None: ...

    def send_syn(self, now: float) -> None: ...

    def resend_syn(self, now: float) -> bool: ...

    def send_ack(self, now: float) -> None: ...

    def send_challenge_ack(self, now: float) -> None: ...

    def reset_by_peer(self, code: int | None, now: float) -> None: ...

    def restart_time_wait(self, now: float) -> None: ...

    def enter_time_wait(self, now: float) -> None: ...

    def arm_orphan_timer(self, now: float) -> None: ...

    def release(self, now: float) -> None: ...

    def event(self) -> None: ...

    def notify_if_needed(self) -> None: ...


def process(conn: TcpConnection, header: TcpHeader, data: memoryview, now: float) -> None:
    stats = conn.stats  # TCP_INFO's counters (stats.py), kept inline: this runs per segment
    stats.segs_in += 1
    if data:
        stats.last_data_recv = now
    if "segment_in" in stats.trace.wanted:
        stats.segment_received(header.flags, header.seq, header.ack, len(data), header.window, now)
    if conn.state == TcpState.SYN_SENT:
        _syn_sent(conn, header, data, now)
    elif conn.state != TcpState.CLOSED:
        _other_states(conn, header, data, now)
    conn.notify_if_needed()


def _syn_sent(conn: TcpConnection, header: TcpHeader, data: memoryview, now: float) -> None:
    """RFC 9293 §3.10.7.3."""
    # TODO(lab 8): the ACK check, RST, then SYN: SYN-ACK -> ESTABLISHED, SYN -> SYN-RECEIVED
    raise NotImplementedError("lab 8: _syn_sent")


def _syn_ack_echoes_us(conn: TcpConnection, header: TcpHeader, now: float) -> bool:
    """False only when we offered timestamps and the SYN-ACK's TSecr is not one of our
    TSvals. A TSecr of 0 is let through, as Linux does: a peer may not echo at all."""
    timestamp = find_timestamp(header) if conn.config.timestamps else None
    if timestamp is None or timestamp.tsecr == 0:
        return True
    return conn.timestamps.echoes_ours(timestamp.tsecr, now)


def _acceptable(conn: TcpConnection, seq: Seq, seg_len: int) -> bool:
    """RFC 9293 §3.10.7.4, the table of the first check."""
    # TODO(lab 8): the four cases of the acceptability table
    raise NotImplementedError("lab 8: _acceptable")


def _other_states(conn: TcpConnection, header: TcpHeader, data: memoryview, now: float) -> None:
    counters = conn.counters
    flags = header.flags
    seq = Seq(header.seq)
    syn, fin, rst = flags & FLAG_SYN, flags & FLAG_FIN, flags & FLAG_RST
    seg_len = len(data) + (1 if syn else 0) + (1 if fin else 0)
    state = conn.state
    timestamp = find_timestamp(header) if conn.timestamps.enabled else None
    if conn.timestamps.enabled and not rst and not _timestamp_acceptable(conn, timestamp, now):
        return

    # TODO(lab 8): first the sequence number, second RST (RFC 5961 §3), fourth SYN (§4)
    raise NotImplementedError("lab 8: _other_states")

    # RFC 7323 §4.3: the segment is acceptable; remember its TSval to echo (before any
    # segment we send in answer to it).
    if timestamp is not None:
        conn.timestamps.update_recent(timestamp.tsval, seq, now)

    # Fifth: ACK.
    if not flags & FLAG_ACK:
        counters.bump("tcp.drop.no_ack")
        return
    if not _ack(conn, header, len(data), now, timestamp):
        return

    # Seventh and eighth: the text, and the FIN.
    if data or fin:
        _text_and_fin(conn, seq, data, bool(fin), now)


def _timestamp_acceptable(conn: TcpConnection, timestamp: TimestampOption | None,
                          now: float) -> bool:
    """RFC 7323 §3.2 and §5.3 R1, for a segment that is not a RST (a RST is never dropped
    for its timestamp: RFC 5961's checks judge it)."""
    if timestamp is None:
        conn.counters.bump("tcp.drop.no_timestamp")  # §3.2: SHOULD be silently dropped
        return False
    if conn.timestamps.paws_rejects(timestamp.tsval, now):
        conn.counters.bump("tcp.rx.paws_drop")
        conn.send_ack(now)  # R1: so a half-open connection is found out
        return False
    return True


def _tsecr(conn: TcpConnection, timestamp: TimestampOption | None) -> int | None:
    return timestamp.tsecr if timestamp is not None and conn.timestamps.enabled else None


def _ack(conn: TcpConnection, header: TcpHeader, seg_len: int, now: float,
         timestamp: TimestampOption | None = None) -> bool:
    """The fifth check. Returns False when the segment was dropped (or the TCB deleted).
    `timestamp`: the segment's, when the caller looked it up already."""
    sender = conn.sender
    tsecr = _tsecr(conn, timestamp if timestamp is not None else find_timestamp(header))
    blocks = find_sack_blocks(header) if sender.sack_enabled else None
    # A FIN is not a duplicate ACK either (RFC 5681 §2): the sender sees it as length.
    ack_len = seg_len + (1 if header.flags & FLAG_FIN else 0)
    seg_ack, seg_seq = Seq(header.ack), Seq(header.seq)
    state = conn.state
    # TODO(lab 8): SYN-RECEIVED -> ESTABLISHED; RFC 5961 §5.2; on_ack; an acked FIN moves the state
    raise NotImplementedError("lab 8: _ack")


def _text_and_fin(conn: TcpConnection, seq: Seq, data: memoryview, fin: bool, now: float) -> None:
    # TODO(lab 8): after the peer's FIN only ACK (TIME-WAIT restarts); else receive, then the FIN's move
    raise NotImplementedError("lab 8: _text_and_fin")
