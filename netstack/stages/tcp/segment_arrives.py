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
    # BEGIN SOLUTION: the ACK check, RST, then SYN: SYN-ACK -> ESTABLISHED, SYN -> SYN-RECEIVED
    counters = conn.counters
    sender = conn.sender
    flags = header.flags
    seg_ack = Seq(header.ack)
    # First, the ACK: it must acknowledge our SYN and nothing we have not sent.
    if flags & FLAG_ACK and (seg_ack <= sender.iss or seg_ack > sender.snd_max):
        counters.bump("tcp.drop.bad_ack")
        if not flags & FLAG_RST:
            conn.stage.send_reset_for(conn.local[0], conn.remote[0], header, len(data), now)
        return
    # Second, RST: with an acceptable ACK the peer refused us; without one, ignore it.
    if flags & FLAG_RST:
        if flags & FLAG_ACK:
            counters.bump("tcp.rx.rst")
            conn.reset_by_peer(errno.ECONNREFUSED, now)
        else:
            counters.bump("tcp.drop.rst_without_ack")
        return
    if not flags & FLAG_SYN:
        counters.bump("tcp.drop.no_syn")
        return
    if flags & FLAG_ACK and not _syn_ack_echoes_us(conn, header, now):
        # RFC 7323 §3.2: a SYN-ACK's TSecr echoes the TSval of our SYN. One that echoes
        # no TSval of ours is an old or forged segment: refused with a RST, as for a bad
        # ACK (Linux does the same, counting PAWSActiveRejected).
        counters.bump("tcp.drop.syn_ack_bad_tsecr")
        conn.stage.send_reset_for(conn.local[0], conn.remote[0], header, len(data), now)
        return
    # Fourth, SYN: learn the peer's ISN and options.
    conn.keepalive.heard_from_peer(now)
    peer = read_syn_options(header)
    conn.use_peer_options(peer, offered=True, now=now)
    conn.receiver.start(Seq(header.seq), conn.receiver.window_for_syn())
    if flags & FLAG_ACK:
        sender.snd_wnd = sender.max_snd_wnd = header.window  # never scaled in a SYN
        sender.snd_wl1, sender.snd_wl2 = Seq(header.seq), seg_ack
        tsecr = _tsecr(conn, find_timestamp(header))
        sender.on_ack(Seq(header.seq), seg_ack, header.window, 0, now, tsecr=tsecr)
        conn.send_ack(now)
        conn.establish(now)
        if data or flags & FLAG_FIN:
            # Data on a SYN-ACK: continue at the sixth check, as the RFC says.
            _text_and_fin(conn, Seq(header.seq) + 1, data, bool(flags & FLAG_FIN), now)
    else:
        # Simultaneous open (RFC 9293 §3.5, figure 8): both SYNs crossed.
        counters.bump("tcp.conn.simultaneous_open")
        conn.state = TcpState.SYN_RECEIVED
        sender.snd_wnd = sender.max_snd_wnd = header.window
        sender.snd_wl1 = Seq(header.seq)
        conn.send_syn(now)  # now a SYN-ACK
    # END SOLUTION


def _syn_ack_echoes_us(conn: TcpConnection, header: TcpHeader, now: float) -> bool:
    """False only when we offered timestamps and the SYN-ACK's TSecr is not one of our
    TSvals. A TSecr of 0 is let through, as Linux does: a peer may not echo at all."""
    timestamp = find_timestamp(header) if conn.config.timestamps else None
    if timestamp is None or timestamp.tsecr == 0:
        return True
    return conn.timestamps.echoes_ours(timestamp.tsecr, now)


def _acceptable(conn: TcpConnection, seq: Seq, seg_len: int) -> bool:
    """RFC 9293 §3.10.7.4, the table of the first check."""
    # BEGIN SOLUTION: the four cases of the acceptability table
    receiver = conn.receiver
    rcv_nxt, rcv_wnd = receiver.rcv_nxt, receiver.rcv_wnd
    if seg_len == 0:
        return seq == rcv_nxt if rcv_wnd == 0 else seq.in_window(rcv_nxt, rcv_wnd)
    if rcv_wnd == 0:
        return False
    return seq.in_window(rcv_nxt, rcv_wnd) or (seq + (seg_len - 1)).in_window(rcv_nxt, rcv_wnd)
    # END SOLUTION


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

    # BEGIN SOLUTION: first the sequence number, second RST (RFC 5961 §3), fourth SYN (§4)
    # First: the sequence number.
    if not _acceptable(conn, seq, seg_len):
        if rst:
            counters.bump("tcp.drop.rst_out_of_window")
            return
        if state == TcpState.SYN_RECEIVED and conn.passive and flags == FLAG_SYN and (
            seq == conn.receiver.irs
        ):
            counters.bump("tcp.rx.syn_retransmit")  # our SYN-ACK was lost: send it again
            conn.resend_syn(now)
            return
        counters.bump("tcp.drop.out_of_window")
        if state == TcpState.TIME_WAIT and fin:
            conn.restart_time_wait(now)  # the peer did not get our last ACK
        conn.send_ack(now)
        if (
            conn.receiver.rcv_wnd == 0
            and seq == conn.receiver.rcv_nxt
            and flags & FLAG_ACK
            and not syn
        ):
            # RFC 9293 §3.10.7.4: with a zero window, still take the ACK of a probe.
            _ack(conn, header, 0, now)
        return
    conn.keepalive.heard_from_peer(now)

    # Second: RST. RFC 5961 §3.2: only one exactly at RCV.NXT resets the connection.
    if rst:
        if seq != conn.receiver.rcv_nxt:
            counters.bump("tcp.drop.rst_not_exact")
            conn.send_challenge_ack(now)
            return
        counters.bump("tcp.rx.rst")
        if state == TcpState.SYN_RECEIVED:
            # A passive open goes back to LISTEN (here: the half-open one is forgotten).
            conn.reset_by_peer(None if conn.passive else errno.ECONNREFUSED, now)
        elif state in (TcpState.CLOSING, TcpState.LAST_ACK, TcpState.TIME_WAIT):
            conn.reset_by_peer(None, now)
        else:
            conn.reset_by_peer(errno.ECONNRESET, now)
        return

    # Fourth: SYN in the window.
    if syn:
        if state == TcpState.SYN_RECEIVED and conn.passive:
            counters.bump("tcp.drop.syn_in_syn_received")
            conn.reset_by_peer(None, now)
            return
        counters.bump("tcp.drop.syn_in_window")  # RFC 5961 §4.2
        conn.send_challenge_ack(now)
        return
    # END SOLUTION

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
    # BEGIN SOLUTION: SYN-RECEIVED -> ESTABLISHED; RFC 5961 §5.2; on_ack; an acked FIN moves the state
    if state == TcpState.SYN_RECEIVED:
        if not (sender.snd_una < seg_ack <= sender.snd_max):
            conn.counters.bump("tcp.drop.bad_ack")
            conn.stage.send_reset_for(conn.local[0], conn.remote[0], header, seg_len, now)
            return False
        if conn.listener is not None and conn.listener.accept_queue_full():
            # Like Linux, leave the connection half-open; our SYN-ACK will come again.
            conn.counters.bump("tcp.drop.accept_queue_full")
            return False
        sender.on_ack(seg_seq, seg_ack, header.window << sender.snd_shift, ack_len, now,
                      tsecr, blocks)
        conn.establish(now)
        return True
    # RFC 5961 §5.2: SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT (our SND.MAX).
    if seg_ack > sender.snd_max:
        conn.counters.bump("tcp.drop.ack_unsent")
        conn.send_ack(now)
        return False
    if seg_ack < sender.snd_una - sender.max_snd_wnd:
        conn.counters.bump("tcp.drop.ack_too_old")
        conn.send_challenge_ack(now)
        return False
    sender.on_ack(seg_seq, seg_ack, header.window << sender.snd_shift, ack_len, now,
                  tsecr, blocks)
    if state == TcpState.FIN_WAIT_1 and sender.fin_acked:
        conn.state = TcpState.FIN_WAIT_2
        conn.event()
        conn.arm_orphan_timer(now)
    elif state == TcpState.CLOSING and sender.fin_acked:
        conn.enter_time_wait(now)
    elif state == TcpState.LAST_ACK and sender.fin_acked:
        conn.release(now)
        return False
    sender.output(now)
    return True
    # END SOLUTION


def _text_and_fin(conn: TcpConnection, seq: Seq, data: memoryview, fin: bool, now: float) -> None:
    # BEGIN SOLUTION: after the peer's FIN only ACK (TIME-WAIT restarts); else receive, then the FIN's move
    state = conn.state
    if state not in RECEIVING_STATES:
        # CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer's FIN came already.
        if state == TcpState.TIME_WAIT and fin:
            conn.restart_time_wait(now)
        conn.receiver.send_owed_ack(now)  # a retransmission: its own (duplicate) ACK
        conn.receiver.ack_soon(now)
        return
    if not conn.receiver.receive(seq, data, fin, now):
        return
    # Eighth: the FIN is in order now.
    conn.counters.bump("tcp.rx.fin")
    if state == TcpState.ESTABLISHED:
        conn.state = TcpState.CLOSE_WAIT
    elif state == TcpState.FIN_WAIT_1:
        # Our FIN is not acknowledged yet (else we would be in FIN-WAIT-2): both closed at
        # once, the simultaneous close of RFC 9293 §3.6 figure 13.
        conn.state = TcpState.CLOSING
    elif state == TcpState.FIN_WAIT_2:
        conn.enter_time_wait(now)
    conn.event()
    # END SOLUTION
