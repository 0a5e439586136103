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

A block the peer sends is believed only if it lies inside what we sent and is not yet
cumulatively acknowledged (SND.UNA < left < right <= SND.MAX); others are counted and
ignored. Below SND.UNA (an RFC 2883 D-SACK, or a stale block) is harmless; anything else
(inverted, past SND.MAX, larger than the window) is counted as invalid.
"""

from __future__ import annotations

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
    """SACKed ranges above SND.UNA, as [left, right) sequence numbers, sorted and disjoint.
    They all lie within SND.UNA..SND.MAX (under 2^31 apart), so Seq comparisons are safe."""

    def __init__(self) -> None:
        self.ranges: list[tuple[Seq, Seq]] = []

    def clear(self) -> None:
        self.ranges = []

    @property
    def highest_sacked(self) -> Seq | None:
        return self.ranges[-1][1] if self.ranges else None

    def update(self, blocks: tuple[tuple[int, int], ...], snd_una: Seq,
               snd_max: Seq) -> tuple[int, int, int, bool]:
        """RFC 6675's Update(): add the peer's blocks. Returns (valid, old, invalid,
        new_data_sacked): how many blocks were taken, lay below SND.UNA, were refused;
        and whether any byte not SACKed before is now."""
        valid = old = invalid = 0
        before = self.sacked_bytes()
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
        """SND.UNA moved: forget what it covers. Returns False if the peer reneged (RFC
        2018 §8): it SACKed data it now does not acknowledge although SND.UNA reached it;
        then the whole scoreboard is dropped, as it can no longer be trusted."""
        kept = [(left, right) for left, right in self.ranges if right > snd_una]
        if kept and kept[0][0] <= snd_una:
            self.ranges = []
            return False
        self.ranges = kept
        return True

    def sacked_bytes(self) -> int:
        return sum(right - left for left, right in self.ranges)  # type: ignore[misc]

    def is_sacked(self, seq: Seq) -> bool:
        return any(left <= seq < right for left, right in self.ranges)

    def is_lost(self, seq: Seq, mss: int) -> bool:
        """RFC 6675 §4 IsLost(SeqNum)."""
        ranges_above = bytes_above = 0
        for left, right in self.ranges:
            if right > seq + 1:
                ranges_above += 1
                start = left if left > seq else seq + 1
                bytes_above += right - start  # type: ignore[operator]
        return ranges_above >= DUPTHRESH or bytes_above > (DUPTHRESH - 1) * mss

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
        if retransmitted (below `high_rxt`, the end of what recovery resent)."""
        pipe = 0
        for start, end in self.holes(snd_una, snd_max):
            size: int = end - start  # type: ignore[assignment]
            if not self.is_lost(start, mss):
                pipe += size
            if start < high_rxt:
                resent_end = end if end < high_rxt else high_rxt
                pipe += resent_end - start  # type: ignore[operator]
        return pipe

    def next_hole(self, snd_una: Seq, snd_max: Seq, high_rxt: Seq, mss: int, size: int,
                  lost_only: bool) -> tuple[Seq, Seq] | None:
        """RFC 6675 §4 NextSeg() rule 1 (`lost_only`) or rule 3: the first range not SACKed,
        at or after `high_rxt`, below the highest SACKed byte (and lost, for rule 1); up to
        `size` bytes of it, never running into SACKed data."""
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
        """NextSeg() rule 4: up to `size` bytes ending at the highest byte not SACKed."""
        holes = self.holes(snd_una, snd_max)
        if not holes:
            return None
        start, end = holes[-1]
        return (end - size if end - size > start else start), end
