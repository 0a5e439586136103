"""Tail Loss Probe, after RFC 8985 §7 (without RACK).

Fast retransmit needs duplicate ACKs, and they only come while later segments reach the
peer. When the last segments of a flight are lost, or the peer's ACKs for them are, no
duplicate ACK comes and only the retransmission timer is left: at least 200 ms (min_rto)
where the round trip may be 1 ms. A probe timeout (PTO) of about two round trips fires
first and sends one segment that makes the peer answer:

    PTO = max(2 * SRTT, 10 ms)                  (RFC 8985 §7.2; 10 ms is Linux's floor)
    PTO += WORST_CASE_DELAYED_ACK               when one segment is in flight: its ACK may
                                                be delayed
    no PTO at all                               when the RTO would fire first anyway

The probe (§7.3) is one segment of new data if the peer's window has room for it (cwnd is
not checked: a probe is one segment), or else the last segment sent, again. Either way the
peer answers at once: a cumulative ACK if only ACKs were lost, or a duplicate ACK that
Early Retransmit (RFC 5827) or fast retransmit acts on. The RTO stays armed behind the
probe, restarted by it (§7.3), and one tail gets one probe: only an ACK for new data, or
new data sent, arms the next.

The simplification: RFC 8985 pairs the probe with RACK (§7.4), which marks the lost
segments by time. Here a probe only draws an ACK, and the ACK goes through the usual
processing: NewReno's fast recovery, or with SACK RFC 6675's (its SACK blocks show which
segments arrived), repairs what it reveals; no congestion response is tied to the probe. Like
RFC 8985 (§7.2, condition 3) no probe is armed during fast recovery or while go-back-N
repairs a timeout; there the duplicate ACKs and the timer already do the work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netstack.stages.tcp.seq import seq_max
from netstack.timers import Timer

if TYPE_CHECKING:
    from netstack.stages.tcp.collaborators import SenderCore

MIN_PTO = 0.010  # seconds; RFC 8985 §7.2 leaves the floor to the implementation (Linux: 10 ms)
WORST_CASE_DELAYED_ACK = 0.2  # WCDelAckT of RFC 8985 §7.2


class TailLossProbe:
    """The probe timer of one connection's sender."""

    def __init__(self, sender: SenderCore) -> None:
        self.sender = sender
        self.timer: Timer | None = None
        # When the probe is due. The timer may be set earlier: re-arming on every ACK only
        # moves this, and a timer that fires early sets itself again (fewer timer churns).
        self.deadline = 0.0
        self.probed = False  # this tail already had its probe

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def arm(self, now: float) -> None:
        """New data was sent or new data acknowledged (RFC 8985 §7.2): (re)start the PTO
        when a probe could help, else stop it. Call after the RTO timer is set."""
        self.probed = False
        pto = self._timeout()
        rto_timer = self.sender.retransmit_timer
        if pto is None or rto_timer is None or now + pto >= rto_timer.deadline:
            self.cancel()
            return
        self.deadline = now + pto
        if self.timer is None or self.timer.deadline > self.deadline:
            self.cancel()
            self.timer = self.sender.timers.schedule(self.deadline, self._fire)

    def _timeout(self) -> float | None:
        """The PTO, or None when no probe may be armed now."""
        sender = self.sender
        srtt = sender.rto.srtt
        cc = sender.cc
        if (
            not sender.config.tail_loss_probe
            or srtt is None  # no estimate yet: the RTO is the initial one, let it work
            or cc is None
            or cc.in_recovery
            or sender.in_timeout_recovery
            or sender.snd_max == sender.snd_una
            or not sender.host.sending_allowed()
        ):
            return None
        pto = max(2 * srtt, MIN_PTO)
        if sender.flight_size <= sender.mss:
            pto += WORST_CASE_DELAYED_ACK
        return pto

    def _fire(self, now: float) -> None:
        self.timer = None
        if now < self.deadline:  # re-armed since this timer was set
            self.timer = self.sender.timers.schedule(self.deadline, self._fire)
            return
        sender = self.sender
        if self.probed or self._timeout() is None:
            return
        self.probed = True
        if not self._send_new_data(now):
            self._resend_last_segment(now)
        sender.counters.bump("tcp.tx.tail_loss_probe")
        sender.arm_retransmit_timer(now)  # RFC 8985 §7.3: the RTO, not another PTO, is next
        sender.host.notify_if_needed()

    def _send_new_data(self, now: float) -> bool:
        """RFC 8985 §7.3: one segment of data never sent, if the peer's window allows."""
        sender = self.sender
        if sender.snd_nxt != sender.snd_max:
            return False
        offset: int = sender.snd_nxt - sender.buffer_seq  # type: ignore[assignment]
        unsent = len(sender.buffer) - offset
        room: int = sender.snd_una + sender.snd_wnd - sender.snd_nxt  # type: ignore[assignment]
        limit = sender.segment_limit()
        n = min(unsent, limit, room)
        if n <= 0 or (n < unsent and n < limit):
            return False  # nothing new, or only a sliver of it fits: resend instead
        sender._send_data(offset, n, sender.fin_queued and n == unsent, now)
        return True

    def _resend_last_segment(self, now: float) -> None:
        """RFC 8985 §7.3: the highest-sequence segment (up to one MSS ending at SND.MAX, with
        the FIN if it was sent) again, leaving snd_nxt alone. `resend` takes no RTT sample
        from it (Karn's rule, RFC 6298 §3): the ACK the probe draws may be for either copy,
        and it may cover an earlier timed segment whose own ACK was lost."""
        sender = self.sender
        fin = sender.fin_queued and sender.snd_max == sender.fin_seq + 1
        data_end = sender.fin_seq if fin else sender.snd_max
        start = seq_max(sender.buffer_seq, data_end - sender.segment_limit())  # type: ignore[arg-type]
        sender.resend(start, sender.snd_max, now)
