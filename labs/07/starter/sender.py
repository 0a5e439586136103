# Lab 7 starter, generated from netstack/stages/tcp/sender.py (python -m labs.kit.starter).
# Fill in each NotImplementedError; labs/README.md says how to test your work.
"""The sending half of a connection: the send buffer, what to send and when, retransmission.

The send buffer holds every byte from SND.UNA on: first the bytes sent but not yet
acknowledged, then the bytes the application wrote that have not been sent.

          buffer_seq                   snd_nxt                     buffer end (+ FIN)
    ... ----|---- sent, unacknowledged ----|---- not sent yet ----|
         snd_una

`buffer_seq` is the sequence number of buffer[0]: SND.UNA once the SYN is acknowledged (the
SYN itself takes ISS, so data starts at ISS + 1). Acknowledged bytes are deleted from the
front of the bytearray, which CPython does without moving the rest.

What may be sent (`output`) is bounded by the peer's window and the congestion window
(RFC 5681), then shaped by Nagle's algorithm (RFC 9293 §3.7.4) and sender-side silly window
avoidance (§3.8.6.2.1). Loss is repaired by the retransmission timer (RFC 6298, go-back-N
from SND.UNA, paced by cwnd in slow start) and by fast retransmit with NewReno recovery
(RFC 5681 §3.2, RFC 6582, newreno.py). Without SACK, a loss is only seen as duplicate
ACKs, so three things make sure they come and are believed:

    Limited Transmit (RFC 3042)   new data on the first two dupacks, so small windows bring three
    Early Retransmit (RFC 5827)   fewer dupacks suffice when fewer than 4 segments are out and
                                  nothing new can be sent
    ACK heuristic (RFC 6582 §4.1) after a timeout, dupacks that cannot be answers to go-back-N
                                  duplicates still trigger fast retransmit

When the last segments of a flight or their ACKs are lost, no duplicate ACK comes at all: a
Tail Loss Probe (RFC 8985 §7, tlp.py) draws an ACK after about two round trips instead of
waiting out the RTO. When the peer's window is closed the persist timer sends probes (§3.8.6.1).

With SACK (both SYNs allowed it) the peer's SACK blocks fill a scoreboard, and RFC 6675's
recovery (sack_recovery.py) replaces NewReno: every hole is resent in the first round trip.
With timestamps, RTT samples come from the echoed TSval of every ACK of new data
(timestamps.py) instead of one timed segment per round trip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from netstack.stages.tcp.collaborators import (
    SegmentSink,
    SendBuffer,
    SenderHost,
    TimerService,
)
from netstack.stages.tcp.congestion import DUPACK_THRESHOLD, CongestionControl
from netstack.stages.tcp.newreno import NewRenoRecovery
from netstack.stages.tcp.retransmit import RetransmissionTimers
from netstack.stages.tcp.rto import RtoUnit
from netstack.stages.tcp.sack import sack_option_bytes
from netstack.stages.tcp.sack_recovery import SackRecovery
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.stats import TcpStats, cc_values, trace_cwnd_change
from netstack.stages.tcp.tlp import TailLossProbe
from netstack.timers import Timer
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.config import TcpConfig, TcpSocketOptions
    from netstack.stages.tcp.timestamps import Timestamps


class SenderUnit(Protocol):
    """The sending half of a connection, as the connection and the stage use it.

    Built as `Sender(iss, stream, out, host, timers, rto, counters, options, config,
    timestamps)` (see `Sender.__init__`). It is told about the handshake (`set_iss`,
    `start_handshake`), the application (`output` after a write, `fin_queued`), and every
    acceptable ACK (`on_ack`); it emits segments through `out` and arms its own timers.
    The connection reads the SND.* variables; it sets `snd_nxt`/`snd_max` only when it
    sends a SYN, and the peer's window fields (`snd_wnd`, `snd_wl1`, `snd_wl2`,
    `max_snd_wnd`) from a SYN, which is never scaled.
    """

    iss: Seq
    snd_una: Seq
    snd_nxt: Seq
    snd_max: Seq
    snd_wnd: int
    max_snd_wnd: int
    snd_wl1: Seq
    snd_wl2: Seq
    snd_shift: int  # the peer's window scale, once negotiated
    mss: int  # set from the peer's MSS option
    sack_enabled: bool  # both SYNs carried SACK-permitted
    fin_queued: bool  # set by the connection: a FIN follows the data
    cc: CongestionControl | None  # set by the connection once established
    rto: RtoUnit
    stats: TcpStats  # TCP_INFO counters and the tracer: the connection hands over its own

    @property
    def fin_acked(self) -> bool: ...

    def set_iss(self, iss: Seq) -> None: ...

    def start_handshake(self, now: float) -> None:
        """Our SYN (or SYN-ACK) went out: time it and arm the retransmission timer."""

    def output(self, now: float) -> int:
        """Send what the windows allow; returns how many segments went out."""

    def arm_retransmit_timer(self, now: float) -> None: ...

    def on_ack(self, seg_seq: Seq, seg_ack: Seq, window: int, seg_len: int, now: float,
               tsecr: int | None = None,
               sack_blocks: tuple[tuple[int, int], ...] | None = None) -> None: ...

    def cancel_timers(self) -> None: ...


class Sender(RetransmissionTimers):
    # Slots, not a __dict__: a sender per connection, and 10,000 idle connections must stay
    # small (more than 30 attributes would also stop CPython sharing the dict's keys).
    __slots__ = (
        "stream", "out", "host", "timers", "counters", "options", "config", "timestamps",
        "iss", "snd_una", "snd_nxt", "snd_max", "snd_wl1", "snd_wl2", "buffer_seq",
        "recover", "prev_highest_ack", "snd_wnd", "max_snd_wnd", "snd_shift", "mss",
        "buffer", "fin_queued", "cc", "rto", "retries", "dupacks", "rtt_seq", "rtt_time",
        "retransmit_timer", "persist_timer", "tlp", "newreno", "sack",
        "in_timeout_recovery", "stats"
    )

    def __init__(self, iss: Seq, stream: SendBuffer, out: SegmentSink, host: SenderHost,
                 timers: TimerService, rto: RtoUnit, counters: Counters,
                 options: TcpSocketOptions, config: TcpConfig, timestamps: Timestamps) -> None:
        self.stream = stream
        self.out = out  # where segments go (the connection's emit)
        self.host = host  # the connection, through the few calls of SenderHost
        self.timers = timers
        self.counters = counters
        self.options = options  # TCP_NODELAY
        self.config = config  # tail_loss_probe
        self.timestamps = timestamps  # RFC 7323: on or off, and their RTT samples
        # SND.* (RFC 9293 §3.3.1); set_iss sets these again, and the rest it derives.
        self.iss = self.snd_una = self.snd_nxt = self.snd_max = self.snd_wl1 = self.snd_wl2 = iss
        self.set_iss(iss)
        self.snd_wnd = 0  # the peer's window, in bytes (already scaled)
        self.max_snd_wnd = 0  # the largest window the peer ever offered (RFC 5961 §5.2)
        self.snd_shift = 0  # the peer's window scale shift, once negotiated
        self.mss = 536  # largest segment we send; set from the peer's MSS option
        self.buffer = stream.data  # the same bytearray, named for short expressions
        self.fin_queued = False  # the application will write no more: a FIN follows the data
        self.cc: CongestionControl | None = None  # created when the connection is established
        self.rto: RtoUnit = rto
        self.retries = 0  # consecutive expiries of the retransmission timer
        self.dupacks = 0
        self.rtt_seq: Seq | None = None  # timing the segment that ends here (one at a time)
        self.rtt_time = 0.0
        self.retransmit_timer: Timer | None = None
        self.persist_timer: Timer | None = None
        self.tlp = TailLossProbe(self)
        self.newreno = NewRenoRecovery(self)
        self.sack = SackRecovery(self)
        # After a timeout, until everything sent before it is acknowledged (RFC 6582's
        # recover): go-back-N repairs, and no tail loss probe is armed (RFC 8985 §7.2).
        self.in_timeout_recovery = False
        self.stats = TcpStats()  # TCP_INFO's counters, the trace: the connection shares its own

    def set_iss(self, iss: Seq) -> None:
        """Our initial sequence number (chosen once the connection's ports are known)."""
        self.iss = iss
        self.snd_una = iss  # oldest unacknowledged sequence number
        self.snd_nxt = iss  # next sequence number to send
        self.snd_max = iss  # highest sequence number sent so far, plus one
        self.snd_wl1 = iss  # SEG.SEQ of the segment that last updated snd_wnd
        self.snd_wl2 = iss  # SEG.ACK of that segment
        self.buffer_seq = iss + 1  # the SYN takes ISS; data starts after it
        self.recover = iss  # RFC 6582: snd_max when the last recovery or timeout began
        self.prev_highest_ack = iss  # RFC 6582 §4.1: snd_una before it last advanced

    @property
    def sack_enabled(self) -> bool:
        return self.sack.enabled

    @sack_enabled.setter
    def sack_enabled(self, on: bool) -> None:
        self.sack.enabled = on

    def start_handshake(self, now: float) -> None:
        """Our SYN (or SYN-ACK) just went out: time it, and arm the retransmission timer."""
        self.rtt_seq, self.rtt_time = self.iss + 1, now
        self.arm_retransmit_timer(now)

    # --- what is where -------------------------------------------------------------------

    @property
    def fin_seq(self) -> Seq:
        """Where our FIN goes (or went): just after the last byte of data."""
        return self.buffer_seq + len(self.buffer)

    @property
    def fin_acked(self) -> bool:
        return self.fin_queued and self.snd_una == self.fin_seq + 1

    @property
    def flight_size(self) -> int:
        return self.snd_max - self.snd_una  # type: ignore[return-value]

    def unsent(self) -> int:
        """Bytes written by the application and not yet sent (from snd_nxt)."""
        return len(self.buffer) - (self.snd_nxt - self.buffer_seq)  # type: ignore[operator]

    def has_something_to_send(self) -> bool:
        return self.unsent() > 0 or (self.fin_queued and self.snd_nxt <= self.fin_seq)

    def cancel_timers(self) -> None:
        for timer in (self.retransmit_timer, self.persist_timer):
            if timer is not None:
                timer.cancel()
        self.retransmit_timer = self.persist_timer = None
        self.tlp.cancel()

    # --- sending -------------------------------------------------------------------------

    def segment_limit(self) -> int:
        """The most data the next segment may carry: the MSS (less the timestamp option
        bytes already, see connection.py), less the SACK blocks it will carry (RFC 6691)."""
        blocks = self.out.sack_block_count()
        return max(self.mss - sack_option_bytes(blocks), 1)

    def output(self, now: float) -> int:
        """Send every segment the windows, Nagle and SWS avoidance allow; returns how many."""
        if self.cc is None or not self.host.sending_allowed():
            return 0
        if (not self.fin_queued and not self.sack.in_recovery
                and len(self.buffer) == self.snd_nxt - self.buffer_seq):
            # Nothing written is unsent and no recovery may resend: what the rest would
            # find (a receiver's connection, on every data segment it gets), done at once.
            if self.snd_max != self.snd_una and self.retransmit_timer is None:
                self.arm_retransmit_timer(now)
            return 0
        out = self.out
        out.begin_tx_burst()  # the segments share one route: see TcpStage.begin_tx_burst
        try:
            sent = self.sack.output(now) if self.sack.in_recovery else self._send_in_window(now)
        finally:
            out.end_tx_burst()
        # TODO(lab 7): RFC 6298 §5.1: data outstanding -> the retransmission timer runs (arm it if it is not), and the tail loss probe is armed after sending (self.tlp.arm); nothing outstanding but something to send -> the persist timer
        raise NotImplementedError("lab 7: Sender.output")

    def _send_in_window(self, now: float) -> int:
        assert self.cc is not None
        sent = 0
        nagle = not self.options.nodelay
        sack, buffer = self.sack, self.buffer
        # Neither changes while this burst goes out (the receiver's SACK blocks and the
        # port's TSO size), so they are asked once, not per segment.
        limit = self.segment_limit()
        tso_max = self.out.tso_max
        while True:
            hole: int | None = None  # go-back-N with SACK: bytes before SACKed data
            if sack.enabled and self.snd_una < self.snd_nxt < self.snd_max:
                self.snd_nxt, hole = sack.skip_sacked(self.snd_nxt)
            offset: int = self.snd_nxt - self.buffer_seq  # type: ignore[assignment]
            unsent = len(buffer) - offset
            if unsent > 0:
                # TODO(lab 7): the next segment: n = min(unsent, limit, the usable window (snd_una + min(snd_wnd, cwnd + self._limited_transmit() when dupacks) - snd_nxt), hole); break when nothing fits, for sender SWS avoidance (RFC 9293 §3.8.6.2.1) and for Nagle (§3.7.4); send it (self._send_data), with the FIN if it is the last of the data queued. Optional: with tso_max > limit, several MSS at once
                raise NotImplementedError("lab 7: Sender._send_in_window")
            elif unsent == 0 and self.fin_queued and self.snd_nxt == self.fin_seq:
                self._send_data(offset, 0, True, now)  # the FIN needs no window
            else:
                break
            sent += 1
        return sent

    def resend(self, start: Seq, end: Seq, now: float) -> None:
        """Send [start, end) again (with the FIN if it lies there), leaving snd_nxt alone."""
        fin = self.fin_queued and end > self.fin_seq
        data_end = self.fin_seq if fin else end
        offset: int = start - self.buffer_seq  # type: ignore[assignment]
        n: int = data_end - start  # type: ignore[assignment]
        if n <= 0 and not fin:
            return
        flags = FLAG_ACK | (FLAG_FIN if fin else 0)
        if n > 0 and offset + n == len(self.buffer):
            flags |= FLAG_PSH
        self.counters.bump("tcp.tx.retransmits")
        self.stats.retransmitted(max(n, 0))
        self.rtt_seq = None  # Karn's rule (RFC 6298 §3)
        self.out.emit(flags, start, now, offset, max(n, 0))

    def _send_data(self, offset: int, n: int, fin: bool, now: float) -> None:
        """Send `n` bytes from buffer[offset] (and the FIN) at snd_nxt, and advance it."""
        # TODO(lab 7): flags (ACK, FIN, PSH at the end of what was written); a segment below snd_max is a retransmission (count it, Karn: stop timing); else time one segment per RTT (rtt_seq, rtt_time) unless timestamps are on; emit; advance snd_nxt and snd_max; cancel the persist timer
        raise NotImplementedError("lab 7: Sender._send_data")

    # --- acknowledgments -----------------------------------------------------------------

    def on_ack(self, seg_seq: Seq, seg_ack: Seq, window: int, seg_len: int, now: float,
               tsecr: int | None = None,
               sack_blocks: tuple[tuple[int, int], ...] | None = None) -> None:
        """An acceptable ACK (RFC 9293 §3.10.7.4, fifth check): SND.UNA - MAX.SND.WND <=
        SEG.ACK <= SND.MAX. `window` is already scaled; `tsecr` and `sack_blocks` are the
        segment's, when timestamps and SACK are on."""
        cc_before = cc_values(self.cc) if self.stats.trace.active else None
        acked: int = seg_ack - self.snd_una  # type: ignore[assignment]
        sack = self.sack
        if sack.enabled:
            sack.update(sack_blocks, seg_ack)
        if acked > 0:
            self._new_ack(seg_ack, acked, now, tsecr)
        elif sack.enabled:
            # RFC 6675 §2: a duplicate ACK is one that SACKs new data.
            duplicate = (acked == 0 and seg_len == 0 and self.snd_max != self.snd_una
                         and sack.is_duplicate_ack(bool(sack_blocks)))
            sack.after_ack(duplicate, now)
        elif (
            acked == 0
            and seg_len == 0
            and window == self.snd_wnd
            and self.snd_max != self.snd_una
            and self.snd_wnd > 0
        ):
            self.newreno.duplicate_ack(now)  # RFC 5681 §2's definition of a duplicate ACK
        if window == 0 and acked == 0:
            self.retries = 0  # the peer answers our probes: keep probing (RFC 1122 §4.2.2.17)
        # RFC 9293 §3.10.7.4: update the window only from a segment at least as new as the
        # one that set it, so an old reordered segment cannot shrink it.
        # TODO(lab 7): RFC 9293 §3.10.7.4: take the window (snd_wnd, snd_wl1, snd_wl2, max_snd_wnd) only from a segment at least as new as the one that set it; a zero window reopening with a probe outstanding: resend from snd_una, clear the RTO backoff
        raise NotImplementedError("lab 7: Sender.on_ack")
        if cc_before is not None:
            trace_cwnd_change(self.stats, cc_before, self.cc, now)

    def _new_ack(self, seg_ack: Seq, acked: int, now: float, tsecr: int | None) -> None:
        # TODO(lab 7): free the acknowledged bytes from the send buffer (under stream.guard; tell host.send_space_freed), move buffer_seq and snd_una (keep prev_highest_ack); snd_nxt never behind snd_una; count stats.bytes_acked
        raise NotImplementedError("lab 7: Sender._new_ack")
        if self.sack.enabled:
            self.sack.acknowledged()
        # TODO(lab 7): an ACK of new data: the retries start again, a timeout recovery may be over, and it may bring an RTT sample
        raise NotImplementedError("lab 7: Sender._new_ack")
        cc = self.cc
        if cc is not None:
            if cc.in_recovery:
                if seg_ack >= self.recover:
                    cc.on_recovery_end(self.flight_size, now)
                    self.dupacks = 0
                    self.sack.recovery_ended()
                elif self.sack.enabled:
                    pass  # RFC 6675 §5 (B), (C): output() resends what pipe allows
                else:
                    self.newreno.partial_ack(acked, now)
            else:
                self.dupacks = 0
                cc.on_ack(acked, now)
                if self.sack.enabled:
                    self.sack.after_ack(False, now)  # SACKed data may show a loss already
        # TODO(lab 7): RFC 6298 §5.2, §5.3: everything acknowledged -> stop the retransmission timer (and self.tlp.cancel()); else restart it (and self.tlp.arm(now))
        raise NotImplementedError("lab 7: Sender._new_ack")

    def _sample_rtt(self, seg_ack: Seq, tsecr: int | None, flight: int, now: float) -> None:
        """RFC 6298 samples: from the echoed timestamp of any ACK of new data (RFC 7323 §4,
        weighted as Appendix G says for many samples per RTT), else from the timed segment."""
        timestamps = self.timestamps
        if timestamps.enabled:
            if tsecr is not None:
                sample = timestamps.rtt_sample(tsecr, now, now - timestamps.opened_at)
                if sample is not None:
                    # ExpectedSamples = ceiling(FlightSize / (SMSS * 2)), at least one.
                    self.rto.on_sample(sample, max(-(-flight // (2 * self.mss)), 1))
                    self.stats.rtt_sample(self, sample, now)
            return
        # TODO(lab 7): Karn (RFC 6298 §3): the timed segment (rtt_seq, rtt_time) acknowledged -> one sample for self.rto (and self.stats.rtt_sample); stop timing
        raise NotImplementedError("lab 7: Sender._sample_rtt")

    def dupack_threshold(self) -> int:
        """Duplicate ACKs that mean a segment is lost: RFC 5681 §3.2's three, or fewer with
        RFC 5827's (byte-based) Early Retransmit: when less than 4 * MSS is outstanding and
        no duplicate ACK can release new data (§3.1, conditions 2.a and 2.b), three
        duplicate ACKs may never come, so ER_thresh = ceiling(outstanding / MSS) - 1."""
        outstanding: int = self.snd_nxt - self.snd_una  # type: ignore[assignment]
        if self.mss < outstanding < 4 * self.mss and not self._new_data_sendable():
            return -(-outstanding // self.mss) - 1
        return DUPACK_THRESHOLD  # (one segment or less outstanding brings no dupacks)

    def _new_data_sendable(self) -> bool:
        """Whether there is data never sent that the peer's window has room for (RFC 3042
        §2 and RFC 5827 §3.1 condition 2.b). During go-back-N, only old data is next."""
        if self.snd_nxt != self.snd_max:
            return False
        new_data = len(self.buffer) - (self.snd_max - self.buffer_seq)  # type: ignore[operator]
        room: int = self.snd_una + self.snd_wnd - self.snd_max  # type: ignore[assignment]
        return new_data > 0 and room >= min(new_data, self.mss)

    def _limited_transmit(self) -> int:
        """RFC 3042 §2 (and RFC 5681 §3.2 step 1): on each of the first two duplicate ACKs,
        send one segment of new data beyond cwnd (cwnd itself is unchanged), so that a
        small window still brings the three duplicate ACKs fast retransmit needs."""
        in_recovery = self.cc is not None and self.cc.in_recovery
        if 0 < self.dupacks < DUPACK_THRESHOLD and not in_recovery and self.snd_nxt == self.snd_max:
            return self.dupacks * self.mss
        return 0
