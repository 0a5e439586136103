"""The incremental SACK scoreboard gives the same answers as RFC 6675 worded plainly.

`Scoreboard` (stages/tcp/sack.py) keeps byte counts and reads IsLost off its three highest
ranges, so that loss recovery does not rescan the board on every send. Here it runs side by
side with `ReferenceScoreboard` (reference_scoreboard.py), which recomputes everything from
the ranges, through random histories of what a sender sees: segments sent, SACK blocks
(valid, stale and hostile), cumulative ACKs (reneging included), retransmissions moving
HighRxt, timeouts resetting it. After every step, every question recovery asks (IsLost,
pipe, NextSeg's holes, the rescue range, the go-back-N skips) must get the same answer from
both, at every edge of every range. Sequence numbers start anywhere, so the 2^32 wrap is
crossed too."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netstack.stages.tcp.sack import Scoreboard
from netstack.stages.tcp.seq import Seq

from .reference_scoreboard import ReferenceScoreboard


class Window:
    """A sender's view: SND.UNA, SND.MAX, HighRxt, and the two scoreboards it feeds."""

    def __init__(self, rng: random.Random, mss: int, granule: int) -> None:
        self.rng = rng
        self.mss = mss
        self.granule = granule  # block edges fall on multiples of it (1: any byte)
        self.una = self.max = self.high_rxt = Seq(rng.randrange(2**32))
        self.new = Scoreboard()
        self.old = ReferenceScoreboard()

    @property
    def flight(self) -> int:
        return self.max.distance(self.una)

    def offset(self, slack: int = 0) -> int:
        """A place in the window (or up to `slack` granules outside), on a granule edge."""
        granules = self.flight // self.granule
        return self.rng.randint(-slack, granules + slack) * self.granule

    def blocks(self, base: Seq) -> tuple[tuple[int, int], ...]:
        """What a peer (or an attacker) might SACK: mostly inside the window, sometimes
        below `base`, past SND.MAX, inverted or empty."""
        blocks = []
        for _ in range(self.rng.randint(1, 4)):
            left = self.offset(slack=2)
            right = left + self.rng.randint(-1, 4) * self.granule
            blocks.append(((base + left).value, (base + right).value))
        return tuple(blocks)

    def step(self) -> None:
        """One thing a sender lives through, applied to both boards."""
        rng, new, old = self.rng, self.new, self.old
        action = rng.random()
        if action < 0.25:  # data sent
            self.max = self.max + rng.randint(1, 6) * self.granule
        elif action < 0.6:  # an ACK carrying SACK blocks
            blocks = self.blocks(self.una)
            assert new.update(blocks, self.una, self.max) == old.update(blocks, self.una, self.max)
        elif action < 0.75:  # SND.UNA advances: to a range's edge (or into it), or anywhere
            edges = [edge for block in old.ranges for edge in block]
            target = (rng.choice(edges) + rng.randint(-1, 1) if edges and rng.random() < 0.6
                      else self.una + self.offset())
            if not self.una < target <= self.max:
                return
            blocks = self.blocks(target) if rng.random() < 0.5 else ()
            # As Sender.on_ack does: the blocks are taken above the new ACK, then SND.UNA moves.
            assert new.update(blocks, target, self.max) == old.update(blocks, target, self.max)
            assert new.holes(self.una, self.max) == old.holes(self.una, self.max)
            self.una = target
            assert new.acknowledged(self.una) == old.acknowledged(self.una)
            if self.high_rxt < self.una:
                self.high_rxt = self.una
        elif action < 0.9:  # a retransmission: HighRxt moves up
            self.high_rxt = self.una + self.offset()
        else:  # a timeout: what was retransmitted is forgotten
            self.high_rxt = self.una

    def points(self, limit: int | None) -> list[Seq]:
        """Where to ask: SND.UNA, SND.MAX, HighRxt, around every range edge, a few others
        (`limit` of them, if the board is large)."""
        points = {self.una, self.max, self.high_rxt, self.una - 1, self.max + 1}
        for left, right in self.old.ranges:
            points.update(left + d for d in (-2, -1, 0, 1))
            points.update(right + d for d in (-2, -1, 0, 1))
        points.update(self.una + self.rng.randint(0, self.flight) for _ in range(4))
        chosen = sorted(points, key=lambda seq: seq.distance(self.una))
        if limit is not None and len(chosen) > limit:
            chosen = self.rng.sample(chosen, limit)
        return chosen

    def check(self, limit: int | None = None) -> None:
        """Every question recovery asks gets the same answer from both boards."""
        new, old, una, top, mss = self.new, self.old, self.una, self.max, self.mss
        assert new.ranges == old.ranges
        assert new.sacked_bytes() == old.sacked_bytes()
        assert new.highest_sacked == old.highest_sacked
        assert new.holes(una, top) == old.holes(una, top)
        for size in (1, mss, 5 * mss):
            assert new.rescue_range(una, top, size) == old.rescue_range(una, top, size)
        for seq in self.points(limit):
            assert new.is_lost(seq, mss) == old.is_lost(seq, mss), seq
            assert new.is_sacked(seq) == old.is_sacked(seq), seq
            assert new.sacked_below(seq) == old.sacked_below(seq), seq
            assert new.range_ending_above(seq) == old.range_ending_above(seq), seq
            assert new.range_starting_above(seq) == old.range_starting_above(seq), seq
            # `seq` as HighRxt: SetPipe, and NextSeg() rules 1 and 3.
            assert new.pipe(una, top, seq, mss) == old.pipe(una, top, seq, mss), seq
            for lost_only in (True, False):
                for size in (1, mss, 3 * mss):
                    assert (new.next_hole(una, top, seq, mss, size, lost_only)
                            == old.next_hole(una, top, seq, mss, size, lost_only)), seq


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 40), st.booleans(),
       st.integers(1, 40))
def test_the_scoreboard_answers_as_rfc_6675_after_any_history(rng, mss, whole_segments,
                                                              steps):
    # Blocks on segment edges (as peers send them), or on any byte.
    window = Window(rng, mss, mss if whole_segments else 1)
    window.check()
    for _ in range(steps):
        window.step()
        window.check()


@pytest.mark.parametrize("seed", range(2))
def test_the_scoreboard_answers_as_rfc_6675_with_hundreds_of_ranges(seed):
    # A large window losing every few segments, as slow start overshooting a queue does:
    # the board grows to hundreds of ranges, where the three highest decide IsLost.
    rng = random.Random(seed)
    window = Window(rng, 1448, 1448)
    window.max = window.una + 500 * 1448
    arrived = [i for i in range(1, 500) if rng.random() < 0.5]
    rng.shuffle(arrived)
    for index in arrived:
        left = window.una + index * 1448
        blocks = ((left.value, (left + 1448).value),)
        assert (window.new.update(blocks, window.una, window.max)
                == window.old.update(blocks, window.una, window.max))
    assert len(window.old.ranges) > 100
    window.check(limit=40)
    for _ in range(30):
        window.step()
        window.check(limit=8)


def test_is_lost_turns_false_at_one_boundary_within_the_three_highest_ranges():
    board = Scoreboard()
    una, mss = Seq(2**32 - 500), 100  # the window crosses the wrap
    top = una + 20 * mss

    def sack(left: int, right: int) -> None:
        board.update((((una + left).value, (una + right).value),), una, top)

    for left, right in ((200, 300), (500, 550), (900, 1000), (1400, 1420)):
        sack(left, right)
    # Three ranges end above seq + 1 while seq < una + 549; the bytes (20 + 100 above the
    # third-highest range) never exceed 2 * SMSS.
    assert board.is_lost(una + 548, mss) and not board.is_lost(una + 549, mss)
    assert board.pipe(una, top, una, mss) == 350 + 400 + 580  # the holes above una + 550
    sack(1420, 1500)  # merges: 100 + 100 bytes in the two highest, still not more than 200
    assert board.is_lost(una + 548, mss) and not board.is_lost(una + 549, mss)
    sack(1500, 1600)  # 200 in the highest range: from una + 999 down, more than 200 above
    assert board.is_lost(una + 998, mss) and not board.is_lost(una + 999, mss)
    assert board.pipe(una, top, una, mss) == 400 + 400  # the holes above una + 1000
    assert board.pipe(una, top, una + 400, mss) == 800 + 400 - 100  # and what was resent
