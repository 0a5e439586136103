"""What one connection counts about itself, and where its trace events go.

TCP_INFO (info.py) reads most of its fields from the sender, receiver, RTO estimator and
congestion control; the rest are running totals nothing else keeps (bytes and segments
each way, retransmissions, the last time data moved, the lowest RTT, the delivery rate).
`TcpStats` holds those. The connection shares one with its Sender; a Sender built alone
(a unit test) gets its own.

The `trace_*` functions build trace events (netstack/trace.py). Their callers check
`stats.trace.active` first, so with no subscriber no event is ever built; per-segment
events are built only when a subscriber wants their kind (`Tracer.wanted`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from netstack.trace import (
    ConnId,
    CwndChange,
    Retransmit,
    RttSample,
    SegmentIn,
    SegmentOut,
    StateChange,
    Tracer,
)
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH, FLAG_RST, FLAG_SYN

if TYPE_CHECKING:
    from netstack.stages.tcp.congestion import CongestionControl
    from netstack.stages.tcp.rto import RtoEstimator
    from netstack.stages.tcp.seq import Seq


class SenderView(Protocol):
    """What these functions read of the sender (sender.py), and nothing more."""

    cc: CongestionControl | None
    rto: RtoEstimator
    snd_max: Seq
    in_timeout_recovery: bool
    sack: Any  # .enabled: SACK is on
    tlp: Any  # .probed: the tail loss probe was sent


def _no_endpoints() -> ConnId | None:
    return None


class TcpStats:
    __slots__ = ("trace", "endpoints", "segs_out", "segs_in", "bytes_sent", "bytes_retrans",
                 "total_retrans", "bytes_acked", "last_data_sent", "last_data_recv", "min_rtt",
                 "delivery_rate", "_rate_start", "_rate_acked_at_start")  # one per connection

    def __init__(self, trace: Tracer | None = None,
                 endpoints: Callable[[], ConnId | None] = _no_endpoints) -> None:
        self.trace = trace if trace is not None else Tracer()
        self.endpoints = endpoints  # the connection's ((our ip, port), (peer ip, port))
        self.segs_out = 0  # every segment sent, retransmissions and bare ACKs included
        self.segs_in = 0  # every segment that reached the connection
        self.bytes_sent = 0  # data bytes sent, retransmissions included (as Linux counts)
        self.bytes_retrans = 0
        self.total_retrans = 0  # segments sent again (SYNs too)
        self.bytes_acked = 0  # data bytes the peer acknowledged
        self.last_data_sent: float | None = None  # when, in the stack's seconds
        self.last_data_recv: float | None = None
        self.min_rtt: float | None = None  # seconds: the lowest RTT sample ever
        self.delivery_rate = 0.0  # bytes per second acknowledged, over the last round trip
        self._rate_start: float | None = None
        self._rate_acked_at_start = 0

    def rtt_sample(self, sender: SenderView, sample: float, now: float) -> None:
        """An RTT sample was fed to the estimator (an ACK of new data brought it): keep
        the minimum, measure the delivery rate over spans of at least one SRTT, trace."""
        if self.min_rtt is None or sample < self.min_rtt:
            self.min_rtt = sample
        start = self._rate_start
        if start is None:
            self._rate_start, self._rate_acked_at_start = now, self.bytes_acked
        else:
            elapsed = now - start
            srtt = sender.rto.srtt
            if elapsed > 0 and srtt is not None and elapsed >= srtt:
                self.delivery_rate = (self.bytes_acked - self._rate_acked_at_start) / elapsed
                self._rate_start, self._rate_acked_at_start = now, self.bytes_acked
        if self.trace.active:
            rto = sender.rto
            self.trace.emit(RttSample(now, self.endpoints(), sample, rto.srtt, rto.rttvar,
                                      rto.rto))

    def segment_sent(self, sender: SenderView, flags: int, seq: int, ack: int, length: int,
                     window: int, now: float) -> None:
        """A segment the connection sent, while someone wants segments or retransmissions
        (emit.py counted it already); `window` is the header's field. One that takes
        sequence space below SND.MAX is a retransmission (emit calls this before snd_max
        moves past it)."""
        trace = self.trace
        wanted = trace.wanted
        if "retransmit" in wanted and (length or flags & (FLAG_SYN | FLAG_FIN)) and (
                seq != sender.snd_max.value):
            trace.emit(Retransmit(now, self.endpoints(), seq, length,
                                  retransmit_reason(sender, flags)))
        if "segment_out" in wanted:
            trace.emit(SegmentOut(now, self.endpoints(), seq, ack, flag_letters(flags), length,
                                  window))

    def retransmitted(self, length: int) -> None:
        """The sender (or the handshake) is sending `length` bytes again (SYN/FIN: 0)."""
        self.total_retrans += 1
        self.bytes_retrans += length

    def segment_received(self, flags: int, seq: int, ack: int, length: int, window: int,
                         now: float) -> None:
        """A segment that reached the connection, while someone wants them
        (segment_arrives.py counted it already)."""
        self.trace.emit(SegmentIn(now, self.endpoints(), seq, ack, flag_letters(flags), length,
                                  window))


# --- trace events built from a connection's values ------------------------------------------

def flag_letters(flags: int) -> str:
    """tcpdump's way: S F R P, then "." for ACK."""
    letters = "".join(letter for bit, letter in ((FLAG_SYN, "S"), (FLAG_FIN, "F"),
                                                  (FLAG_RST, "R"), (FLAG_PSH, "P"))
                      if flags & bit)
    return letters + ("." if flags & FLAG_ACK else "")


def cc_values(cc: CongestionControl | None) -> tuple[int, int, bool] | None:
    """What a CwndChange compares: (cwnd, ssthresh, in_recovery), or None without cc."""
    return None if cc is None else (cc.cwnd, cc.ssthresh, cc.in_recovery)


def trace_cwnd_change(stats: TcpStats, before: tuple[int, int, bool] | None,
                      cc: CongestionControl | None, now: float, reason: str = "") -> None:
    """Emit a CwndChange when cwnd or ssthresh moved since `before`. Without a `reason`
    it comes from the recovery flag: entered (fast retransmit), left, still in, or an ACK."""
    if before is None or cc is None:
        return
    cwnd, ssthresh, was_in_recovery = before
    if cc.cwnd == cwnd and cc.ssthresh == ssthresh:
        return
    if not reason:
        if cc.in_recovery and not was_in_recovery:
            reason = "fast_retransmit"
        elif was_in_recovery and not cc.in_recovery:
            reason = "recovery_exit"
        else:
            reason = "recovery" if cc.in_recovery else "ack"
    stats.trace.emit(CwndChange(now, stats.endpoints(), cc.cwnd, cc.ssthresh, reason))


def retransmit_reason(sender: SenderView, flags: int) -> str:
    """Why the segment being sent again is sent: what state the sender is in."""
    cc = sender.cc
    if flags & FLAG_SYN or sender.in_timeout_recovery:
        return "rto"
    if cc is not None and cc.in_recovery:
        return "sack" if sender.sack.enabled else "fast_retransmit"
    if sender.tlp.probed:
        return "tlp"
    return "probe"  # a window that reopened over an unacknowledged probe, or persist


# --- the connection's state, traced on assignment -----------------------------------------------

class TracedState:
    """TcpConnection.state: stored in the instance dict as a plain attribute, and a
    StateChange is emitted on assignment while the stack's tracer is active. It defines
    only __set__, so a read finds the instance dict's value without calling anything."""

    def __set__(self, conn: object, value: object) -> None:
        fields = conn.__dict__
        old = fields.get("state")
        fields["state"] = value
        stats = fields.get("stats")
        if stats is not None and stats.trace.active and old is not None and old != value:
            trace = stats.trace
            trace.emit(StateChange(trace.time(), stats.endpoints(), str(old), str(value)))
