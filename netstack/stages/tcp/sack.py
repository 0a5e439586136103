"""Selective acknowledgments (RFC 2018): what the receiver reports, what the sender keeps.

Receiver (`SackReporter`, RFC 2018 §4). While out-of-order data is held, every ACK carries
SACK blocks, as many as fit: 4, or 3 beside a timestamp (40 option bytes at most). The first
block is the one holding the segment that arrived last; then the blocks reported most
recently, so each block is repeated in several ACKs and survives the loss of some. Blocks
vanish as holes fill and the data becomes in order.

Sender (`Scoreboard`, RFC 6675 §3-4). The SACKed ranges above SND.UNA, merged, sorted, and
the two questions loss recovery asks of them:

    IsLost(seq)  DupThresh (3) separate SACKed ranges above seq, or more than
                 (DupThresh - 1) * SMSS SACKed bytes above it: seq was lost, not reordered
    pipe         the bytes still in the network: those not SACKed and not lost, plus those
                 retransmitted (below HighRxt), counted twice if both

Recovery asks both on every segment it sends, so neither walks the board: IsLost depends on
the three highest ranges only, and pipe on byte counts kept as the ranges change.

A block the peer sends is believed only if it lies inside what we sent and is not yet
cumulatively acknowledged (SND.UNA < left < right <= SND.MAX); others are counted and
ignored. Below SND.UNA (an RFC 2883 D-SACK, or a stale block) is harmless; anything else
(inverted, past SND.MAX, larger than the window) is counted as invalid.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate

from netstack.stages.tcp.seq import Seq
from netstack.wire.tcp import SackOption, TcpHeader

DUPTHRESH = 3  # RFC 6675 §2, RFC 5681 §3.2
MAX_BLOCKS_WITH_TIMESTAMPS = 3  # 2 NOP + 2 + 3 * 8 = 28 bytes, beside NOP NOP TS (12)
MAX_BLOCKS = 4  # 2 NOP + 2 + 4 * 8 = 36 bytes
BLOCK_BYTES = 8
OPTION_OVERHEAD = 4  # NOP NOP kind length: keeps the blocks word-aligned
RECENT_KEPT = 8  # recently received ranges remembered for the block order


def sack_option_bytes(blocks: int) -> int:
    return OPTION_OVERHEAD + BLOCK_BYTES * blocks if blocks else 0


def find_sack_blocks(header: TcpHeader) -> tuple[tuple[int, int], ...] | None:
    """The blocks of a segment's SACK option, or None if it has none."""
    for option in header.options:
        if isinstance(option, SackOption):
            return option.blocks
    return None


# --- the receiver's side -------------------------------------------------------------------


class SackReporter:
    """Remembers which out-of-order ranges arrived most recently (stream offsets), to order
    the blocks of the next ACK."""

    def __init__(self) -> None:
        self.recent: list[tuple[int, int]] = []  # most recent first

    def segment_stored(self, low: int, high: int) -> None:
        self.recent.insert(0, (low, high))
        del self.recent[RECENT_KEPT:]

    def blocks(self, held: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
        """Up to `limit` of the `held` out-of-order ranges (sorted, as stream offsets), in
        RFC 2018 §4's order: the most recent first, then the others most recent first."""
        chosen: list[tuple[int, int]] = []
        still_held = []
        for low, high in self.recent:
            block = next((b for b in held if b[0] <= low and high <= b[1]), None)
            if block is None:
                continue  # delivered in order since (or dropped): nothing to report
            still_held.append((low, high))
            if block not in chosen and len(chosen) < limit:
                chosen.append(block)
        self.recent = still_held
        # Blocks not among the recent arrivals (older ones): highest first.
        for block in reversed(held):
            if len(chosen) == limit:
                break
            if block not in chosen:
                chosen.append(block)
        return chosen


# --- the sender's side ---------------------------------------------------------------------


class Scoreboard:
    """SACKed ranges above SND.UNA, as [left, right) sequence numbers: sorted, disjoint and
    never touching (blocks that touch merge). They all lie within SND.UNA..SND.MAX (under
    2^31 apart), so Seq comparisons are safe, and so is a binary search over them.

    Recovery asks its questions on every segment it sends, so no answer walks the whole
    board: the byte count is kept as ranges change, IsLost() is read off the three highest
    ranges (see `_lost_range`), and the rest is a binary search (`bisect`, keyed on one
    edge of each range). The holes between the ranges are never listed, except by
    `holes()` for the rare callers that need them all."""

    def __init__(self) -> None:
        self.ranges: list[tuple[Seq, Seq]] = []
        self.sacked = 0  # bytes in `ranges`, updated as they change
        # SACKed bytes in ranges[:i] at index i, for pipe's count below HighRxt; None when
        # the ranges changed since it was made (made again on the next question).
        self._below: list[int] | None = None

    def clear(self) -> None:
        self.ranges = []
        self.sacked = 0
        self._below = None

    @property
    def highest_sacked(self) -> Seq | None:
        return self.ranges[-1][1] if self.ranges else None

    def update(self, blocks: tuple[tuple[int, int], ...], snd_una: Seq,
               snd_max: Seq) -> tuple[int, int, int, bool]:
        """RFC 6675's Update(): add the peer's blocks. Returns (valid, old, invalid,
        new_data_sacked): how many blocks were taken, lay below SND.UNA, were refused;
        and whether any byte not SACKed before is now."""
        valid = old = invalid = 0
        before = self.sacked
        flight: int = snd_max - snd_una  # type: ignore[assignment]
        for left_value, right_value in blocks:
            left, right = Seq(left_value), Seq(right_value)
            from_una, to_una = left.distance(snd_una), right.distance(snd_una)
            if 0 < from_una < to_una <= flight:
                self._add(left, right)
                valid += 1
            elif from_una < to_una <= 0:
                old += 1  # a D-SACK (RFC 2883) or a stale block: nothing to learn
            else:
                invalid += 1
        return valid, old, invalid, self.sacked > before

    def _add(self, left: Seq, right: Seq) -> None:
        """Merge [left, right) in: it replaces the ranges it overlaps or touches, which are
        those ending at or after `left` and starting at or before `right`."""
        ranges = self.ranges
        first = bisect_left(ranges, left, key=_range_right)
        end = bisect_right(ranges, right, key=_range_left)
        merged = ranges[first:end]
        if merged:
            left = merged[0][0] if merged[0][0] < left else left
            right = merged[-1][1] if merged[-1][1] > right else right
        self.sacked += right.distance(left) - _bytes_in(merged)
        ranges[first:end] = [(left, right)]
        self._below = None

    def acknowledged(self, snd_una: Seq) -> bool:
        """SND.UNA moved: forget what it covers. Returns False if the peer reneged (RFC
        2018 §8): it SACKed data it now does not acknowledge although SND.UNA reached it;
        then the whole scoreboard is dropped, as it can no longer be trusted."""
        ranges = self.ranges
        covered = bisect_right(ranges, snd_una, key=_range_right)  # ranges[:covered] end <= it
        if covered < len(ranges) and ranges[covered][0] <= snd_una:
            self.clear()
            return False
        if covered:
            self.sacked -= _bytes_in(ranges[:covered])
            del ranges[:covered]
            self._below = None
        return True

    def sacked_bytes(self) -> int:
        return self.sacked

    def range_ending_above(self, seq: Seq) -> tuple[Seq, Seq] | None:
        """The lowest SACKed range that ends above `seq`: the one holding seq, or the next."""
        i = bisect_right(self.ranges, seq, key=_range_right)
        return self.ranges[i] if i < len(self.ranges) else None

    def range_starting_above(self, seq: Seq) -> tuple[Seq, Seq] | None:
        """The lowest SACKed range that starts above `seq`."""
        i = bisect_right(self.ranges, seq, key=_range_left)
        return self.ranges[i] if i < len(self.ranges) else None

    def is_sacked(self, seq: Seq) -> bool:
        found = self.range_ending_above(seq)
        return found is not None and found[0] <= seq

    def sacked_below(self, seq: Seq) -> int:
        """SACKed bytes below `seq`."""
        ranges = self.ranges
        below = self._below
        if below is None:
            below = self._below = list(accumulate(
                (right.distance(left) for left, right in ranges), initial=0))
        i = bisect_left(ranges, seq, key=_range_left)  # ranges[:i] start below seq
        if i == 0:
            return 0
        past: int = ranges[i - 1][1].distance(seq)  # the last of them may reach past seq
        return below[i] - past if past > 0 else below[i]

    def _lost_range(self, mss: int) -> tuple[int, Seq] | None:
        """Where RFC 6675's IsLost() turns false, as (i, boundary): IsLost(seq) is true
        exactly for seq < boundary, which lies in ranges[i]. None if nothing is lost.

        The lower seq is, the more SACKed ranges and bytes lie above it, so the lost
        sequence numbers are all those below one boundary. DupThresh ranges above seq
        make it lost from the last byte of the DupThresh-th highest range down; more than
        (DupThresh - 1) * SMSS bytes can only move the boundary higher if they are found
        in the ranges above that one. So only the DupThresh highest ranges are looked at.
        The boundary is always a SACKed byte: a hole is lost or not as a whole."""
        ranges = self.ranges
        limit = (DUPTHRESH - 1) * mss
        above = 0  # SACKed bytes in the ranges above ranges[i]
        for i in range(len(ranges) - 1, max(len(ranges) - DUPTHRESH, -1), -1):
            left, right = ranges[i]
            size = right.distance(left)
            if above + size > limit:
                # From seq + 1 on lie `above` bytes and right - (seq + 1) of this range.
                return i, right - (limit - above) - 1
            above += size
        if len(ranges) >= DUPTHRESH:
            i = len(ranges) - DUPTHRESH
            return i, ranges[i][1] - 1  # seq + 1 < ranges[i].right
        return None

    def is_lost(self, seq: Seq, mss: int) -> bool:
        """RFC 6675 §4 IsLost(SeqNum)."""
        found = self._lost_range(mss)
        return found is not None and seq < found[1]

    def holes(self, snd_una: Seq, snd_max: Seq) -> list[tuple[Seq, Seq]]:
        """The ranges from SND.UNA to SND.MAX not SACKed, in order."""
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
        """RFC 6675 §4 SetPipe(): octets not SACKed count once if not lost, and once more
        if retransmitted (below `high_rxt`, the end of what recovery resent). Each hole
        is lost or not as its first byte is (IsLost), so the sum over the holes is two
        spans of bytes not SACKed: above the range where IsLost turns false (the holes
        there start at or above the boundary), and from SND.UNA to `high_rxt`."""
        found = self._lost_range(mss)
        if found is None:
            not_lost: int = snd_max.distance(snd_una) - self.sacked
        else:
            i = found[0]
            not_lost = snd_max.distance(self.ranges[i][1]) - _bytes_in(self.ranges[i + 1:])
        resent_end = high_rxt if high_rxt < snd_max else snd_max
        if resent_end < snd_una:
            resent_end = snd_una
        return not_lost + resent_end.distance(snd_una) - self.sacked_below(resent_end)

    def next_hole(self, snd_una: Seq, snd_max: Seq, high_rxt: Seq, mss: int, size: int,
                  lost_only: bool) -> tuple[Seq, Seq] | None:
        """RFC 6675 §4 NextSeg() rule 1 (`lost_only`) or rule 3: the first range not SACKed,
        at or after `high_rxt`, below the highest SACKed byte (and lost, for rule 1); up to
        `size` bytes of it, never running into SACKed data."""
        ranges = self.ranges
        position = high_rxt if high_rxt > snd_una else snd_una
        i = bisect_right(ranges, position, key=_range_right)  # the first range past position
        if i == len(ranges):
            return None  # at or above the highest SACKed byte: rules 1 and 3 stop there
        left, right = ranges[i]
        if position < left:
            first, end = position, left  # in the hole below ranges[i]
        elif i + 1 < len(ranges):
            first, end = right, ranges[i + 1][0]  # in ranges[i]: the hole above it
        else:
            return None
        # The holes above are no more lost than this one (see _lost_range).
        if lost_only and not self.is_lost(first, mss):
            return None
        return first, (first + size if first + size < end else end)

    def rescue_range(self, snd_una: Seq, snd_max: Seq, size: int) -> tuple[Seq, Seq] | None:
        """NextSeg() rule 4: up to `size` bytes ending at the highest byte not SACKed."""
        ranges = self.ranges
        if not ranges:
            if not snd_una < snd_max:
                return None
            start, end = snd_una, snd_max
        elif ranges[-1][1] < snd_max:
            start, end = ranges[-1][1], snd_max  # above the highest SACKed byte
        else:  # the peer SACKed up to SND.MAX: the hole below its highest range
            start = ranges[-2][1] if len(ranges) > 1 else snd_una
            end = ranges[-1][0]
        return (end - size if end - size > start else start), end


def _range_left(block: tuple[Seq, Seq]) -> Seq:
    return block[0]


def _range_right(block: tuple[Seq, Seq]) -> Seq:
    return block[1]


def _bytes_in(ranges: list[tuple[Seq, Seq]]) -> int:
    return sum(right.distance(left) for left, right in ranges)
