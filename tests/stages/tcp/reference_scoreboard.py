"""The SACK scoreboard as RFC 6675 words it, with nothing kept between questions: the oracle
the incremental `netstack.stages.tcp.sack.Scoreboard` is checked against.

Every answer is computed from the ranges alone, the way the RFC describes it: IsLost(seq)
counts the SACKed ranges and bytes above seq; SetPipe walks every hole and asks IsLost of
each; NextSeg lists the holes and takes the first that qualifies. That is quadratic in the
window on every send (why the stack no longer does it), and obviously right, which is why
the tests keep it. It offers the same methods as `Scoreboard`, so a sender can run on it.
"""

from __future__ import annotations

from netstack.stages.tcp.sack import DUPTHRESH
from netstack.stages.tcp.seq import Seq


class ReferenceScoreboard:
    def __init__(self) -> None:
        self.ranges: list[tuple[Seq, Seq]] = []

    def clear(self) -> None:
        self.ranges = []

    @property
    def highest_sacked(self) -> Seq | None:
        return self.ranges[-1][1] if self.ranges else None

    def update(self, blocks: tuple[tuple[int, int], ...], snd_una: Seq,
               snd_max: Seq) -> tuple[int, int, int, bool]:
        valid = old = invalid = 0
        before = self.sacked_bytes()
        flight = snd_max.distance(snd_una)
        for left_value, right_value in blocks:
            left, right = Seq(left_value), Seq(right_value)
            from_una, to_una = left.distance(snd_una), right.distance(snd_una)
            if 0 < from_una < to_una <= flight:
                self._add(left, right)
                valid += 1
            elif from_una < to_una <= 0:
                old += 1
            else:
                invalid += 1
        return valid, old, invalid, self.sacked_bytes() > before

    def _add(self, left: Seq, right: Seq) -> None:
        merged: list[tuple[Seq, Seq]] = []
        placed = False
        for r_left, r_right in self.ranges:
            if r_right < left:
                merged.append((r_left, r_right))
            elif right < r_left:
                if not placed:
                    merged.append((left, right))
                    placed = True
                merged.append((r_left, r_right))
            else:  # overlapping or touching: grow the new range over it
                left = r_left if r_left < left else left
                right = r_right if r_right > right else right
        if not placed:
            merged.append((left, right))
        self.ranges = merged

    def acknowledged(self, snd_una: Seq) -> bool:
        kept = [(left, right) for left, right in self.ranges if right > snd_una]
        if kept and kept[0][0] <= snd_una:
            self.ranges = []
            return False
        self.ranges = kept
        return True

    def sacked_bytes(self) -> int:
        return sum(right.distance(left) for left, right in self.ranges)

    def range_ending_above(self, seq: Seq) -> tuple[Seq, Seq] | None:
        return next((r for r in self.ranges if r[1] > seq), None)

    def range_starting_above(self, seq: Seq) -> tuple[Seq, Seq] | None:
        return next((r for r in self.ranges if r[0] > seq), None)

    def is_sacked(self, seq: Seq) -> bool:
        return any(left <= seq < right for left, right in self.ranges)

    def sacked_below(self, seq: Seq) -> int:
        return sum(max((right if right < seq else seq).distance(left), 0)
                   for left, right in self.ranges)

    def is_lost(self, seq: Seq, mss: int) -> bool:
        """RFC 6675 §4 IsLost(SeqNum): DupThresh discontiguous SACKed ranges above seq, or
        more than (DupThresh - 1) * SMSS SACKed bytes above it."""
        ranges_above = bytes_above = 0
        for left, right in self.ranges:
            if right > seq + 1:
                ranges_above += 1
                start = left if left > seq else seq + 1
                bytes_above += right.distance(start)
        return ranges_above >= DUPTHRESH or bytes_above > (DUPTHRESH - 1) * mss

    def holes(self, snd_una: Seq, snd_max: Seq) -> list[tuple[Seq, Seq]]:
        holes = []
        position = snd_una
        for left, right in self.ranges:
            if position < left:
                holes.append((position, left))
            position = right if right > position else position
        if position < snd_max:
            holes.append((position, snd_max))
        return holes

    def pipe(self, snd_una: Seq, snd_max: Seq, high_rxt: Seq, mss: int) -> int:
        """RFC 6675 §4 SetPipe(), hole by hole: its bytes once if IsLost(its first byte) is
        false, and the part below HighRxt once more."""
        pipe = 0
        for start, end in self.holes(snd_una, snd_max):
            if not self.is_lost(start, mss):
                pipe += end.distance(start)
            if start < high_rxt:
                pipe += (end if end < high_rxt else high_rxt).distance(start)
        return pipe

    def next_hole(self, snd_una: Seq, snd_max: Seq, high_rxt: Seq, mss: int, size: int,
                  lost_only: bool) -> tuple[Seq, Seq] | None:
        """NextSeg() rule 1 (`lost_only`) or 3, over the list of holes."""
        highest = self.highest_sacked
        if highest is None:
            return None
        for start, end in self.holes(snd_una, snd_max):
            if start >= highest:
                break
            if end <= high_rxt:
                continue
            first = start if start > high_rxt else high_rxt
            if lost_only and not self.is_lost(first, mss):
                continue
            return first, (first + size if first + size < end else end)
        return None

    def rescue_range(self, snd_una: Seq, snd_max: Seq, size: int) -> tuple[Seq, Seq] | None:
        holes = self.holes(snd_una, snd_max)
        if not holes:
            return None
        start, end = holes[-1]
        return (end - size if end - size > start else start), end
