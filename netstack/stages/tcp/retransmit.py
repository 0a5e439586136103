"""The sender's timers: retransmission (RFC 6298, go-back-N) and persist (RFC 9293 §3.8.6.1).

A part of `Sender` (sender.py), kept apart so each file reads in one sitting: Sender
inherits these methods, and they use its SND.* variables, its buffer and collaborators.
The retransmission timer runs whenever data is outstanding; when it expires the RTO backs
off, cwnd falls to one segment, and sending restarts from SND.UNA. The persist timer runs
when nothing is outstanding but the peer's window is too small to send into: it probes,
and the retransmission timer then backs the probes off without touching cwnd.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netstack.stages.tcp.stats import cc_values, trace_cwnd_change
from netstack.trace import RtoFired

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.collaborators import SenderHost, TimerService
    from netstack.stages.tcp.congestion import CongestionControl
    from netstack.stages.tcp.rto import RtoUnit
    from netstack.stages.tcp.sack_recovery import SackRecovery
    from netstack.stages.tcp.seq import Seq
    from netstack.stages.tcp.stats import TcpStats
    from netstack.stages.tcp.tlp import TailLossProbe
    from netstack.timers import Timer


class RetransmissionTimers:
    """Sender's timer methods (the attributes below are the Sender's own)."""

    __slots__ = ()  # Sender keeps its state in slots (sender.py)

    host: SenderHost
    timers: TimerService
    counters: Counters
    rto: RtoUnit
    cc: CongestionControl | None
    stats: TcpStats
    tlp: TailLossProbe
    sack: SackRecovery
    buffer: bytearray
    buffer_seq: Seq
    snd_una: Seq
    snd_nxt: Seq
    snd_max: Seq
    snd_wnd: int
    fin_queued: bool
    retries: int
    dupacks: int
    recover: Seq
    rtt_seq: Seq | None
    in_timeout_recovery: bool
    retransmit_timer: Timer | None
    persist_timer: Timer | None

    # Sender's methods these use.
    fin_seq: Seq
    flight_size: int

    def output(self, now: float) -> int: ...

    def segment_limit(self) -> int: ...

    def _send_data(self, offset: int, n: int, fin: bool, now: float) -> None: ...

    def _probe(self, now: float) -> None:
        """RFC 9293 §3.8.6.1: one byte of new data (or the FIN) past a closed window. When
        the window is open but too small for silly window avoidance, this is §3.8.6.2.1's
        override timeout instead: send what the window takes, filling it to its edge (so
        a full receiver can show a zero window)."""
        offset: int = self.snd_nxt - self.buffer_seq  # type: ignore[assignment]
        unsent = len(self.buffer) - offset
        usable: int = (self.snd_una + self.snd_wnd) - self.snd_nxt  # type: ignore[assignment]
        if unsent > 0:
            n = max(min(unsent, usable, self.segment_limit()), 1)
            self._send_data(offset, n, self.fin_queued and unsent == n, now)
        elif self.fin_queued and self.snd_nxt == self.fin_seq:
            self._send_data(offset, 0, True, now)
        else:
            return
        self.counters.bump("tcp.tx.window_probe" if usable <= 0 else "tcp.tx.sws_override")

    def arm_retransmit_timer(self, now: float) -> None:
        if self.retransmit_timer is not None:
            self.retransmit_timer.cancel()
        self.retransmit_timer = self.timers.schedule(
            now + self.rto.rto, self._retransmit_timeout
        )

    def _persist(self, now: float) -> None:
        self.persist_timer = None
        if self.snd_max != self.snd_una or not self.host.sending_allowed():
            return
        if self.output(now) == 0:
            self._probe(now)
        if self.snd_max != self.snd_una and self.retransmit_timer is None:
            # From here the retransmission timer backs off the probes exponentially.
            self.rto.backoff()
            self.arm_retransmit_timer(now)
        self.host.notify_if_needed()

    def _retransmit_timeout(self, now: float) -> None:
        """RFC 6298 §5.4-5.7, with go-back-N: resend from snd_una as cwnd allows."""
        self.retransmit_timer = None
        host = self.host
        if self.retries >= host.retry_limit():
            host.give_up(now)
            return
        self.retries += 1
        if self.stats.trace.active:
            self.stats.trace.emit(RtoFired(now, self.stats.endpoints(), self.rto.rto,
                                           self.retries))
        self.counters.bump("tcp.tx.timeout")
        self.rto.backoff()
        self.rtt_seq = None
        self.dupacks = 0
        self.recover = self.snd_max
        self.tlp.cancel()
        self.sack.on_timeout()
        if host.resend_syn(now):
            self.arm_retransmit_timer(now)
            return
        if self.snd_max == self.snd_una:
            return
        if self.snd_wnd == 0:
            # An unanswered probe of a closed window (RFC 9293 §3.8.6.1): probe again, backed
            # off. The receiver, not the network, stopped us, so cwnd is left alone (as
            # Linux's probe timer leaves it): slow start would follow for no loss at all.
            self.snd_nxt = self.snd_una
            self._probe(now)
            self.arm_retransmit_timer(now)
            host.notify_if_needed()
            return
        if self.cc is not None:
            before = cc_values(self.cc) if self.stats.trace.active else None
            self.cc.on_retransmit_timeout(self.flight_size, now)
            trace_cwnd_change(self.stats, before, self.cc, now, "rto")
        self.in_timeout_recovery = True
        self.snd_nxt = self.snd_una
        if self.output(now) == 0:
            self._probe(now)  # the window is closed: this is a zero-window probe
        self.arm_retransmit_timer(now)
        host.notify_if_needed()
