"""Loss recovery with SACK (RFC 6675), used instead of NewReno when both SYNs allowed SACK.

NewReno learns of one hole per round trip; with SACK the sender sees every hole at once and
repairs them all in the round trip after the loss. RFC 6675's names are used, in Seq terms
(HighACK is SND.UNA, HighData SND.MAX, RecoveryPoint the sender's `recover`):

    entry (§5)   DupThresh duplicate ACKs (fewer with Early Retransmit), or IsLost(SND.UNA):
                 RecoveryPoint = SND.MAX; ssthresh from the congestion control; the segment
                 at SND.UNA is resent at once
    each ACK     the scoreboard is updated; while cwnd - pipe >= SMSS, NextSeg() picks what
                 to send:
                   rule 1  the first lost hole not yet resent (above HighRxt)
                   rule 2  new data, if the peer's window has room
                   rule 3  the first hole not yet resent, lost or not
                   rule 4  once per recovery, a "rescue" of the highest byte not SACKed
    exit         a cumulative ACK at or above RecoveryPoint

cwnd goes through the CongestionControl interface: `on_fast_retransmit(0, ...)` at entry
(0 duplicate ACKs: no inflation, pipe already leaves out what the peer holds) and
`on_recovery_end` at exit. `on_dupack` and `on_partial_ack` are NewReno's window arithmetic
and are not called: during SACK recovery cwnd stays at ssthresh and pipe does the counting.

A retransmission can be lost too, and RFC 6675 leaves that to the retransmission timer. We
add the simple detection of draft-scheffenegger-tcpm-lrd (Linux had it before RACK): each
retransmission remembers SND.MAX at the time; once the peer SACKs data above that, data sent
after the retransmission has arrived, so the retransmission was lost (barring reordering)
and is sent again before anything else (`tcp.tx.lost_retransmit`). cwnd is not cut again:
one reduction per recovery, as for the other losses of the window.

After a retransmission timeout (§5.1) recovery ends and go-back-N takes over, but the
scoreboard is kept: go-back-N skips the SACKed ranges, so what the peer holds is not sent
again. Only the retransmitted marks (HighRxt, RescueRxt) are reset. The segment at SND.UNA
is always resent, so a peer that reneged (RFC 2018 §8) still gets it; and once the peer
acknowledges up to a range it had SACKed, without covering it, the scoreboard is dropped.
No new recovery starts until the data outstanding at the timeout is acknowledged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netstack.stages.tcp.sack import Scoreboard
from netstack.stages.tcp.seq import Seq

if TYPE_CHECKING:
    from netstack.stages.tcp.collaborators import SenderCore


class SackRecovery:
    def __init__(self, sender: SenderCore) -> None:
        self.sender = sender
        self.enabled = False  # both SYNs carried SACK-permitted
        self.scoreboard = Scoreboard()
        self.high_rxt = Seq(0)  # HighRxt, as the end of what recovery resent
        self.rescue_rxt: Seq | None = None  # RescueRxt: None until a rescue is sent
        self.new_sack_info = False  # the ACK being processed SACKed bytes not SACKed before
        # Retransmissions in this recovery: (start, end, SND.MAX when sent).
        self.resent: list[tuple[Seq, Seq, Seq]] = []
        self.lost_again: list[tuple[Seq, Seq]] = []  # retransmissions found lost: next out

    @property
    def in_recovery(self) -> bool:
        cc = self.sender.cc
        return self.enabled and cc is not None and cc.in_recovery

    # --- what each ACK tells ---------------------------------------------------------------

    def update(self, blocks: tuple[tuple[int, int], ...] | None, seg_ack: Seq) -> None:
        """RFC 6675 Update(), for every ACK. Blocks at or below its cumulative ACK are
        D-SACKs (RFC 2883), about data the peer got twice: nothing to keep."""
        self.new_sack_info = False
        if not blocks:
            return
        sender = self.sender
        counters = sender.counters
        acked = seg_ack if seg_ack > sender.snd_una else sender.snd_una
        valid, old, invalid, new = self.scoreboard.update(blocks, acked, sender.snd_max)
        self.new_sack_info = new
        if valid:
            counters.bump("tcp.rx.sack_blocks", valid)
        if old:
            counters.bump("tcp.rx.sack_blocks_old", old)
        if invalid:
            counters.bump("tcp.drop.sack_block_invalid", invalid)
        if new and self.in_recovery:
            self._find_lost_retransmissions()

    def _find_lost_retransmissions(self) -> None:
        sender = self.sender
        board = self.scoreboard
        highest = board.highest_sacked
        assert highest is not None
        still_out = []
        holes = None  # listed once, for the first retransmission found lost
        for start, end, snd_max_then in self.resent:
            if end <= sender.snd_una:
                continue
            if highest <= snd_max_then:
                still_out.append((start, end, snd_max_then))
                continue
            if holes is None:
                holes = board.holes(sender.snd_una, sender.snd_max)
            for hole_start, hole_end in holes:
                low = hole_start if hole_start > start else start
                high = hole_end if hole_end < end else end
                if low < high:
                    self.lost_again.append((low, high))
                    sender.counters.bump("tcp.tx.lost_retransmit")
        self.resent = still_out

    def acknowledged(self) -> None:
        """SND.UNA advanced."""
        if not self.scoreboard.acknowledged(self.sender.snd_una):
            self.sender.counters.bump("tcp.rx.sack_reneging")

    def is_duplicate_ack(self, had_sack: bool) -> bool:
        """RFC 6675 §2: with SACK, a duplicate ACK is one that SACKs something new. An ACK
        with no SACK option at all is judged as without SACK (a peer that stopped sending
        them should still get fast retransmit)."""
        return self.new_sack_info or not had_sack

    def after_ack(self, duplicate: bool, now: float) -> None:
        """RFC 6675 §5: count the duplicate ACK, and start recovery on loss evidence."""
        sender = self.sender
        cc = sender.cc
        if cc is None:
            return
        if duplicate:
            sender.dupacks += 1
        if cc.in_recovery or sender.snd_una == sender.snd_max:
            return
        if sender.snd_una < sender.recover:
            return  # §5.1: not before everything sent before the last timeout is acked
        lost = self.scoreboard.is_lost(sender.snd_una, sender.mss)
        if lost or (duplicate and sender.dupacks >= sender.dupack_threshold()):
            self._enter(now)

    def _enter(self, now: float) -> None:
        """RFC 6675 §5 step 4."""
        sender = self.sender
        cc = sender.cc
        assert cc is not None
        sender.recover = sender.snd_max  # RecoveryPoint = HighData
        sender.snd_nxt = sender.snd_max  # recovery resends out of line; new data goes on
        in_flight: int = min(sender.snd_max - sender.snd_una, cc.cwnd)  # type: ignore[type-var,assignment]
        cc.on_fast_retransmit(0, in_flight, now)
        counters = sender.counters
        counters.bump("tcp.tx.fast_retransmit")
        counters.bump("tcp.tx.sack_recovery")
        end = self._clip(sender.snd_una, sender.snd_una + sender.segment_limit())
        self.resent, self.lost_again = [], []
        self._resend(sender.snd_una, end, now)
        self.high_rxt = self.rescue_rxt = end  # step 4.3
        sender.arm_retransmit_timer(now)
        sender.tlp.cancel()

    def _clip(self, start: Seq, end: Seq) -> Seq:
        """`end`, moved back so [start, end) holds no SACKed byte and nothing unsent."""
        sender = self.sender
        if end > sender.snd_max:
            end = sender.snd_max
        sacked = self.scoreboard.range_starting_above(start)
        return sacked[0] if sacked is not None and sacked[0] < end else end

    def _resend(self, start: Seq, end: Seq, now: float) -> None:
        self.sender.resend(start, end, now)
        self.resent.append((start, end, self.sender.snd_max))
        self.sender.counters.bump("tcp.tx.sack_retransmits")

    def recovery_ended(self) -> None:
        self.rescue_rxt = None
        self.resent, self.lost_again = [], []

    def on_timeout(self) -> None:
        """§5.1: forget what was retransmitted; keep what was SACKed."""
        self.high_rxt = self.sender.snd_una
        self.rescue_rxt = None
        self.resent, self.lost_again = [], []

    # --- sending during recovery -----------------------------------------------------------

    def pipe(self) -> int:
        """SetPipe(), less the retransmissions known lost: they are not in the network."""
        sender = self.sender
        high_rxt = self.high_rxt if self.high_rxt > sender.snd_una else sender.snd_una
        pipe = self.scoreboard.pipe(sender.snd_una, sender.snd_max, high_rxt, sender.mss)
        for start, end in self._lost_again_holes():
            pipe -= end - start  # type: ignore[operator]
        return max(pipe, 0)

    def _lost_again_holes(self) -> list[tuple[Seq, Seq]]:
        """The parts of `lost_again` still neither acknowledged nor SACKed."""
        if not self.lost_again:
            return []  # the usual case: no hole to list
        sender = self.sender
        parts = []
        for hole_start, hole_end in self.scoreboard.holes(sender.snd_una, sender.snd_max):
            for start, end in self.lost_again:
                low = hole_start if hole_start > start else start
                high = hole_end if hole_end < end else end
                if low < high:
                    parts.append((low, high))
        return parts

    def output(self, now: float) -> int:
        """RFC 6675 §5 step C: send while cwnd - pipe >= SMSS; returns segments sent."""
        sender = self.sender
        cc = sender.cc
        assert cc is not None
        sent = 0
        while cc.cwnd - self.pipe() >= sender.mss and self._send_next_segment(now):
            sent += 1
        return sent

    def _send_next_segment(self, now: float) -> bool:
        """NextSeg() and the transmission of what it chose."""
        sender = self.sender
        snd_una, snd_max = sender.snd_una, sender.snd_max
        high_rxt = self.high_rxt if self.high_rxt > snd_una else snd_una
        limit = sender.segment_limit()
        board = self.scoreboard
        counters = sender.counters
        lost_again = self._lost_again_holes()
        if lost_again:
            start, end = lost_again[0]
            end = start + limit if start + limit < end else end
            self.lost_again = []
            for low, high in lost_again:  # what is left once [start, end) is resent
                if low < start:
                    self.lost_again.append((low, high if high < start else start))
                if high > end:
                    self.lost_again.append((low if low > end else end, high))
            self._resend(start, end, now)
            return True
        for lost_only in (True, False):
            hole = board.next_hole(snd_una, snd_max, high_rxt, sender.mss, limit, lost_only)
            if hole is not None:
                self._resend(hole[0], hole[1], now)
                self.high_rxt = hole[1]
                return True
            if lost_only and self._send_new_segment(now):  # rule 2, between 1 and 3
                return True
        if self.rescue_rxt is None or snd_una > self.rescue_rxt:
            rescue = board.rescue_range(snd_una, snd_max, limit)
            if rescue is not None:
                sender.resend(rescue[0], rescue[1], now)
                self.rescue_rxt = sender.recover
                counters.bump("tcp.tx.sack_rescue")
                return True
        return False

    def _send_new_segment(self, now: float) -> bool:
        """One segment of data never sent (or the FIN), if the peer's window has room and
        Nagle and SWS avoidance allow it (RFC 6675 NextSeg() rule 2)."""
        sender = self.sender
        if sender.snd_nxt != sender.snd_max:
            return False
        offset: int = sender.snd_nxt - sender.buffer_seq  # type: ignore[assignment]
        unsent = len(sender.buffer) - offset
        if unsent == 0:
            if sender.fin_queued and sender.snd_nxt == sender.fin_seq:
                sender._send_data(offset, 0, True, now)
                return True
            return False
        limit = sender.segment_limit()
        room: int = sender.snd_una + sender.snd_wnd - sender.snd_nxt  # type: ignore[assignment]
        n = min(unsent, limit, room)
        if n <= 0 or (n < unsent and n < limit):
            return False
        if not sender.options.nodelay and n == unsent < limit and not sender.fin_queued:
            return False  # Nagle: data is outstanding, a small segment waits
        sender._send_data(offset, n, sender.fin_queued and n == unsent, now)
        return True

    # --- go-back-N after a timeout ---------------------------------------------------------

    def skip_sacked(self, seq: Seq) -> tuple[Seq, int | None]:
        """Where go-back-N goes next from `seq` (past SACKed ranges), and how many bytes it
        may send there before reaching SACKed data (None: no SACKed data beyond)."""
        board = self.scoreboard
        sacked = board.range_ending_above(seq)
        if sacked is not None and sacked[0] <= seq:  # seq is SACKed: go past its range
            seq = sacked[1]
            sacked = board.range_starting_above(seq)  # ranges never touch: not at seq
        if sacked is None:
            return seq, None
        return seq, sacked[0].distance(seq)
