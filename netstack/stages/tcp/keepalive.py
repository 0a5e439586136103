"""Keepalive (RFC 1122 §4.2.3.6), off unless the application turns it on (SO_KEEPALIVE).

After `keepalive_idle` seconds without hearing from the peer, send a probe every
`keepalive_interval` seconds; after `keepalive_count` unanswered probes the connection is
dropped with ETIMEDOUT (and a RST, as Linux sends). A probe is <SEQ=SND.UNA-1><ACK=RCV.NXT>
without data: an old sequence number, which a live peer answers with an ACK. Anything the
peer sends counts as an answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from netstack.stages.tcp.state import TcpState
from netstack.timers import Timer
from netstack.wire.tcp import FLAG_ACK

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.collaborators import TimerService
    from netstack.stages.tcp.config import TcpSocketOptions
    from netstack.stages.tcp.sender import SenderUnit
    from netstack.stages.tcp.seq import Seq

KEEPALIVE_STATES = frozenset({TcpState.ESTABLISHED, TcpState.CLOSE_WAIT})


class KeptAlive(Protocol):
    """What keepalive uses of its connection."""

    options: TcpSocketOptions
    state: TcpState
    sender: SenderUnit
    counters: Counters

    def emit(self, flags: int, seq: Seq, now: float) -> None: ...

    def send_rst(self, now: float) -> None: ...

    def give_up(self, now: float) -> None: ...

    def notify_if_needed(self) -> None: ...


class Keepalive:
    def __init__(self, conn: KeptAlive, timers: TimerService) -> None:
        self.conn = conn
        self.timers = timers
        self.timer: Timer | None = None
        self.last_heard = 0.0  # when the peer last sent us an acceptable segment
        self.probes = 0  # probes sent since then

    def heard_from_peer(self, now: float) -> None:
        self.last_heard = now
        self.probes = 0

    def start(self, now: float) -> None:
        conn = self.conn
        if conn.options.keepalive and self.timer is None and conn.state in KEEPALIVE_STATES:
            deadline = max(self.last_heard + conn.options.keepalive_idle, now)
            self.timer = self.timers.schedule(deadline, self._fired)

    def restart(self, now: float) -> None:
        """The idle time changed (TCP_KEEPIDLE after SO_KEEPALIVE): wait the new one from
        the last segment heard, as Linux does. Probing already under way goes on."""
        if self.probes == 0:
            self.cancel()
        self.start(now)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _fired(self, now: float) -> None:
        self.timer = None
        conn = self.conn
        options = conn.options
        if not options.keepalive or conn.state not in KEEPALIVE_STATES:
            return
        schedule = self.timers.schedule
        idle_until = self.last_heard + options.keepalive_idle
        if conn.sender.snd_max != conn.sender.snd_una:
            # Data is outstanding: the retransmission timer watches the peer.
            self.timer = schedule(now + options.keepalive_idle, self._fired)
        elif self.probes == 0 and now < idle_until:
            self.timer = schedule(idle_until, self._fired)
        elif self.probes >= options.keepalive_count:
            conn.counters.bump("tcp.conn.keepalive_timeout")
            conn.send_rst(now)
            conn.give_up(now)
        else:
            conn.emit(FLAG_ACK, conn.sender.snd_una - 1, now)
            conn.counters.bump("tcp.tx.keepalive")
            self.probes += 1
            self.timer = schedule(now + options.keepalive_interval, self._fired)
        conn.notify_if_needed()
