"""Fast retransmit and NewReno's fast recovery (RFC 5681 §3.2, RFC 6582), the loss recovery
of a connection without SACK (with SACK, sack_recovery.py's RFC 6675 recovery is used).

Without SACK the sender only sees duplicate ACKs: the third (fewer with Early Retransmit,
`Sender.dupack_threshold`) retransmits the segment at SND.UNA and starts recovery; cwnd is
inflated by one segment per further duplicate ACK; each partial ACK (one that moves SND.UNA
but not past `recover`) shows the next hole, which is resent at once. Recovery ends when
everything outstanding at its start is acknowledged. One hole is repaired per round trip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netstack.wire.tcp import FLAG_ACK, FLAG_FIN

if TYPE_CHECKING:
    from netstack.stages.tcp.collaborators import SenderCore


class NewRenoRecovery:
    def __init__(self, sender: SenderCore) -> None:
        self.sender = sender

    def duplicate_ack(self, now: float) -> None:
        sender = self.sender
        cc = sender.cc
        if cc is None:
            return
        sender.dupacks += 1
        if cc.in_recovery:
            cc.on_dupack(now)  # RFC 5681 §3.2 step 4: one more segment left the network
        elif sender.dupacks >= sender.dupack_threshold() and self._dupacks_mean_loss(cc.cwnd):
            # RFC 5681 §3.2 steps 2-3 and RFC 6582 §3.2 step 2: fast retransmit, and
            # NewReno recovery until everything sent so far is acknowledged. ssthresh comes
            # from what is in the network: not the segments Limited Transmit sent beyond
            # cwnd (RFC 5681 §3.2 step 2), nor, after a timeout, what go-back-N has not
            # resent yet.
            sender.recover = sender.snd_max
            in_flight: int = min(sender.snd_nxt - sender.snd_una, cc.cwnd)  # type: ignore[type-var,assignment]
            cc.on_fast_retransmit(sender.dupacks, in_flight, now)
            sender.counters.bump("tcp.tx.fast_retransmit")
            self._retransmit_first(now)
            sender.arm_retransmit_timer(now)
            sender.tlp.cancel()

    def partial_ack(self, acked: int, now: float) -> None:
        """RFC 6582 §3.2 step 3, a partial ACK: the next hole is lost too."""
        sender = self.sender
        assert sender.cc is not None
        self._retransmit_first(now)
        sender.cc.on_partial_ack(acked, now)

    def _dupacks_mean_loss(self, cwnd: int) -> bool:
        """RFC 6582 §3.2 step 2: duplicate ACKs for data sent before the last timeout (or
        recovery) may be the peer's answers to our go-back-N retransmissions of data it
        already had; three of those must not start another fast retransmit."""
        sender = self.sender
        if sender.snd_una > sender.recover or sender.recover == sender.iss:
            return True
        # RFC 6582 §4.1, the ACK heuristic: when the last advance of the cumulative ACK was
        # small (at most 4 * MSS), the peer was holding little data beyond the hole, so
        # little of what we resent can be duplicates: these ACKs mean loss. The cwnd check
        # keeps it from firing right after a timeout, when cwnd is one segment.
        advance: int = sender.snd_una - sender.prev_highest_ack  # type: ignore[assignment]
        return cwnd > sender.mss and advance <= 4 * sender.mss

    def _retransmit_first(self, now: float) -> None:
        """Send the segment at snd_una again, leaving snd_nxt alone (fast retransmit)."""
        sender = self.sender
        offset: int = sender.snd_una - sender.buffer_seq  # type: ignore[assignment]
        n = min(len(sender.buffer) - offset, sender.segment_limit())
        fin = sender.fin_queued and offset + n == len(sender.buffer)
        if n <= 0 and not fin:
            return
        if sender.snd_nxt == sender.snd_una:
            # Go-back-N after a timeout was about to resend it: move on past it, so the
            # next output does not send it twice.
            sender._send_data(offset, max(n, 0), fin, now)
            return
        sender.counters.bump("tcp.tx.retransmits")
        sender.stats.retransmitted(max(n, 0))
        sender.rtt_seq = None
        flags = FLAG_ACK | (FLAG_FIN if fin else 0)
        sender.out.emit(flags, sender.snd_una, now, offset, max(n, 0))
