"""The SACK sender (RFC 6675): the scoreboard, loss recovery that repairs every hole in the
round trip after the loss, pipe kept within cwnd, hostile blocks ignored, RTO with SACK.

A small peer model plays the receiver: it takes the stack's segments, drops the ones a test
says are lost, and answers each with an ACK carrying SACK blocks (the latest first), one
round trip later. Segment i is MSS bytes at `base + i * MSS`."""

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from netstack.stages.tcp import TcpConfig
from netstack.stages.tcp.sack import Scoreboard
from netstack.stages.tcp.seq import Seq
from netstack.testing.tcp import decode_tcp

from .options_peer import ACK, open_connection
from .reference_scoreboard import ReferenceScoreboard

RTT = 0.010


@dataclass
class SackingPeer:
    """Receives the stack's data segments and answers each with a (SACK) ACK."""

    p: object
    base: int
    mss: int
    lose: dict[int, int]  # segment index: how many of its first transmissions are lost
    received: set[int] = field(default_factory=set)
    sent_count: dict[int, int] = field(default_factory=dict)  # transmissions per index
    log: list[tuple[int, int]] = field(default_factory=list)  # (round, index) sent

    def cumulative(self) -> int:
        i = 0
        while i in self.received:
            i += 1
        return i

    def blocks(self, latest: int) -> tuple[tuple[int, int], ...]:
        cum = self.cumulative()
        runs: list[tuple[int, int]] = []
        for i in sorted(x for x in self.received if x > cum):
            if runs and runs[-1][1] == i:
                runs[-1] = (runs[-1][0], i + 1)
            else:
                runs.append((i, i + 1))
        runs.sort(key=lambda r: (not r[0] <= latest < r[1], -r[0]))
        return tuple((self.base + a * self.mss, self.base + b * self.mss) for a, b in runs[:3])

    def round(self, number: int) -> int:
        """Take what the stack sent, advance one RTT, ACK each segment; returns how many
        data segments the stack had sent."""
        p = self.p
        frames = [decode_tcp(f) for f in p.scene.harness.drain()]
        data = [f for f in frames if f is not None and f.payload]
        p.advance(RTT)
        for segment in data:
            index = (segment.seq - self.base) // self.mss
            self.log.append((number, index))
            self.sent_count[index] = self.sent_count.get(index, 0) + 1
            if self.sent_count[index] <= self.lose.get(index, 0):
                continue
            self.received.add(index)
            p.tsval += 1
            p.send(ACK, ack=self.base + self.cumulative() * self.mss,
                   sack=self.blocks(index), tsecr=p.echo)
        return len(data)


def sending_scene(segments: int, lose: set[int] | dict[int, int],
                  config: TcpConfig | None = None):
    p, _ = open_connection(config=config)
    p.scene.harness.advance(RTT)
    conn = p.conn
    conn.options.nodelay = True
    mss = conn.sender.mss
    conn.write_app(b"".join(bytes([65 + i % 26]) * mss for i in range(segments)))
    losses = lose if isinstance(lose, dict) else dict.fromkeys(lose, 1)
    peer = SackingPeer(p, p.ack, mss, losses)
    return p, conn, peer


def test_three_losses_in_one_window_are_repaired_in_one_round_trip_without_a_timeout():
    p, conn, peer = sending_scene(30, {2, 5, 7})
    sender = conn.sender
    checks: list[tuple[int, int, int]] = []  # (pipe before, length, cwnd) while recovering
    emit = conn.emit

    def watching_emit(flags, seq, now, offset=0, length=0, options=()):
        if sender.sack.in_recovery and length and seq != sender.snd_una:
            checks.append((sender.sack.pipe(), length, sender.cc.cwnd))
        emit(flags, seq, now, offset, length, options)

    conn.emit = watching_emit
    conn.app_did_write(p.scene.now)
    recovery_point = None
    for number in range(12):
        if not peer.round(number):
            break
        if sender.sack.in_recovery and recovery_point is None:
            recovery_point = sender.recover
    retransmitted = {i: n for i, n in peer.sent_count.items() if n > 1}
    assert retransmitted == {2: 2, 5: 2, 7: 2}  # exactly the holes, once each
    first_sent = {i: r for r, i in reversed(peer.log)}
    resent_in = {i: r for r, i in peer.log if i in retransmitted and r > first_sent[i]}
    # Every hole went out again within one round trip of the first one.
    assert max(resent_in.values()) - min(resent_in.values()) <= 1
    assert all(pipe + length <= cwnd for pipe, length, cwnd in checks), checks
    assert checks  # recovery did send more than the fast retransmit
    counters = p.scene.harness.stack.counters
    assert counters["tcp.tx.timeout"] == 0
    assert counters["tcp.tx.sack_recovery"] == counters["tcp.tx.fast_retransmit"] == 1
    assert counters["tcp.tx.sack_retransmits"] == 3
    assert recovery_point is not None and sender.snd_una >= recovery_point
    assert not sender.cc.in_recovery  # recovery ended at RecoveryPoint
    assert sender.snd_una == sender.snd_max and len(sender.buffer) == 0


def test_without_sack_the_same_losses_go_through_newreno_one_hole_per_round_trip():
    p, conn, peer = sending_scene(30, {2, 5, 7}, TcpConfig(sack=False))
    assert not conn.sender.sack.enabled
    conn.app_did_write(p.scene.now)
    for number in range(20):
        if not peer.round(number):
            break
    resent = [r for r, i in peer.log if i in (2, 5, 7) and peer.sent_count[i] > 1]
    assert len(set(resent)) >= 2  # NewReno learns of one hole per partial ACK
    assert p.scene.harness.stack.counters["tcp.tx.sack_retransmits"] == 0
    assert conn.sender.snd_una == conn.sender.snd_max


def test_hostile_sack_blocks_are_ignored_and_counted():
    p, conn, peer = sending_scene(5, set())
    conn.app_did_write(p.scene.now)
    p.scene.harness.drain()
    sender = conn.sender
    una, top = sender.snd_una.value, sender.snd_max.value
    hostile = [
        ((una - 3000, una - 1000),),  # below SND.UNA (stale, or a D-SACK)
        ((top - 100, top + 1000),),  # beyond SND.MAX
        ((una + 2000, una + 1000),),  # inverted
        ((una + 500, (una + 2**31 + 7) & 0xFFFFFFFF),),  # huge
        ((una + 500, una + 500),),  # empty
        ((una, una + 1000),),  # at SND.UNA: the peer would have acknowledged it
        ((0, 0xFFFFFFFF), (1, 2), (top, top)),
    ]
    for sack in hostile:
        p.send(ACK, ack=una, sack=tuple((a & 0xFFFFFFFF, b & 0xFFFFFFFF) for a, b in sack))
    counters = p.scene.harness.stack.counters
    assert sender.sack.scoreboard.ranges == []
    assert counters["tcp.rx.sack_blocks"] == 0
    assert counters["tcp.rx.sack_blocks_old"] + counters["tcp.drop.sack_block_invalid"] == 9
    assert counters["tcp.tx.fast_retransmit"] == 0 and not sender.cc.in_recovery
    assert [decode_tcp(f).payload for f in p.scene.harness.drain()] == []  # nothing resent


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
                max_size=6),
       st.integers(0, 2**32 - 1), st.integers(0, 100_000))
def test_any_blocks_leave_a_sorted_disjoint_scoreboard_inside_the_window(blocks, una, flight):
    board = Scoreboard()
    snd_una, snd_max = Seq(una), Seq(una) + flight
    board.update(tuple(blocks), snd_una, snd_max)
    previous = snd_una
    for left, right in board.ranges:
        assert previous < left < right <= snd_max or (previous == snd_una < left < right)
        previous = right
    assert 0 <= board.pipe(snd_una, snd_max, snd_una, 1000) <= flight


def test_scoreboard_is_lost_and_pipe_follow_rfc_6675():
    board = Scoreboard()
    una, mss = Seq(1000), 100
    top = una + 10 * mss
    board.update(((1300, 1400), (1500, 1600)), una, top)  # holes 0-2, 4, 6-9
    assert board.ranges == [(Seq(1300), Seq(1400)), (Seq(1500), Seq(1600))]
    assert not board.is_lost(una, mss)  # two SACKed segments above: not yet
    board.update(((1700, 1800),), una, top)
    assert board.is_lost(una, mss)  # three discontiguous SACKed ranges above
    assert not board.is_lost(Seq(1400), mss)  # two ranges (200 bytes) above
    # pipe: hole 1000-1300 lost (0), 1400-1500 not (100), 1600-1700 not (100),
    # 1800-2000 not (200); plus 1000-1100 retransmitted (100).
    assert board.pipe(una, top, Seq(1100), mss) == 500
    assert board.next_hole(una, top, Seq(1100), mss, mss, lost_only=True) == (
        Seq(1100), Seq(1200))
    assert board.next_hole(una, top, Seq(1300), mss, mss, lost_only=True) is None
    assert board.next_hole(una, top, Seq(1300), mss, mss, lost_only=False) == (
        Seq(1400), Seq(1500))
    board.update(((1350, 1550),), una, top)  # overlapping blocks merge
    assert board.ranges == [(Seq(1300), Seq(1600)), (Seq(1700), Seq(1800))]


def test_a_timeout_keeps_the_sack_information_and_go_back_n_skips_what_the_peer_has():
    p, conn, peer = sending_scene(8, set())
    conn.app_did_write(p.scene.now)
    p.scene.harness.drain()  # all 8 sent; say the peer got only 2, 3 and 6
    base, mss = peer.base, peer.mss
    p.send(ACK, ack=base, sack=((base + 6 * mss, base + 7 * mss),
                                (base + 2 * mss, base + 4 * mss)))
    sender = conn.sender
    p.scene.harness.drain()
    p.advance(sender.rto.rto)  # nothing more comes back: the retransmission timer fires
    assert p.scene.harness.stack.counters["tcp.tx.timeout"] == 1
    resent = []
    for _ in range(8):
        frames = [decode_tcp(f) for f in p.scene.harness.drain()]
        resent += [(f.seq - base) // mss for f in frames if f.payload]
        if sender.snd_una == sender.snd_max:
            break
        highest = max(resent)
        cum = highest + 1 if highest + 1 not in (2, 3, 6) else (
            4 if highest + 1 in (2, 3) else 7)
        p.send(ACK, ack=base + cum * mss, sack=((base + 6 * mss, base + 7 * mss),)
               if cum < 6 else ())
    assert resent[0] == 0  # SND.UNA first, always (the peer may have reneged)
    assert sorted(resent) == [0, 1, 4, 5, 7]  # SACKed segments 2, 3 and 6 are not resent


def test_a_peer_that_reneges_gets_its_scoreboard_dropped():
    p, conn, peer = sending_scene(6, set())
    conn.app_did_write(p.scene.now)
    p.scene.harness.drain()
    base, mss = peer.base, peer.mss
    p.send(ACK, ack=base, sack=((base + 2 * mss, base + 5 * mss),))
    assert conn.sender.sack.scoreboard.ranges
    # It acknowledges up to the middle of what it SACKed: it threw the rest away.
    p.send(ACK, ack=base + 3 * mss)
    assert conn.sender.sack.scoreboard.ranges == []
    assert p.scene.harness.stack.counters["tcp.rx.sack_reneging"] == 1


def test_a_lost_retransmission_is_sent_again_once_later_data_is_sacked():
    # Segment 2 is lost, and so is its first retransmission. The segments sent after the
    # retransmission are SACKed: the retransmission must have been lost (lost retransmission
    # detection), so it goes out a third time without waiting for the RTO.
    p, conn, peer = sending_scene(30, {2: 2, 5: 1})
    conn.app_did_write(p.scene.now)
    for number in range(12):
        if not peer.round(number):
            break
    counters = p.scene.harness.stack.counters
    assert peer.sent_count[2] == 3 and peer.sent_count[5] == 2
    assert counters["tcp.tx.lost_retransmit"] == 1
    assert counters["tcp.tx.timeout"] == 0
    assert conn.sender.snd_una == conn.sender.snd_max


def test_a_tail_loss_probe_works_with_sack_and_no_timeout_is_needed():
    # The last two segments are lost: no duplicate ACK comes. The probe (RFC 8985 §7)
    # resends the last segment; its SACK shows segment 8 missing, and recovery repairs it.
    p, conn, peer = sending_scene(10, {8, 9})
    conn.app_did_write(p.scene.now)
    rto_deadline = None
    for number in range(40):
        if not peer.round(number):
            if rto_deadline is None:
                rto_deadline = p.scene.now + conn.sender.rto.rto
            p.advance(0.005)  # wait for the probe timer, well before the RTO
            assert p.scene.now < rto_deadline
        if conn.sender.snd_una == conn.sender.snd_max:
            break
    counters = p.scene.harness.stack.counters
    assert counters["tcp.tx.tail_loss_probe"] == 1
    assert counters["tcp.tx.timeout"] == 0
    assert peer.sent_count[8] == 2 and peer.sent_count[9] == 2
    assert conn.sender.snd_una == conn.sender.snd_max


near = st.integers(-3 * 1448, 14 * 1448)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10), st.lists(st.tuples(near, near), max_size=3),
                          st.integers(0, 2**32 - 1)), max_size=12))
def test_random_acks_and_sack_blocks_never_break_the_sender(acks):
    p, conn, peer = sending_scene(10, set())
    conn.app_did_write(p.scene.now)
    sender = conn.sender
    base, mss = peer.base, peer.mss
    for acked, blocks, tsecr in acks:
        ack = max(base + acked * mss, sender.snd_una.value)
        p.send(ACK, ack=ack, tsecr=tsecr,
               sack=tuple(((base + a) & 0xFFFFFFFF, (base + b) & 0xFFFFFFFF) for a, b in blocks))
        p.scene.harness.drain()
        for left, right in sender.sack.scoreboard.ranges:
            assert sender.snd_una < left < right <= sender.snd_max
        assert sender.sack.pipe() >= 0
    p.send(ACK, ack=base + 10 * mss)  # finally everything arrives
    assert sender.snd_una == sender.snd_max and len(sender.buffer) == 0
    assert not sender.cc.in_recovery


def transfer_log(lose: dict[int, int], scoreboard: object | None) -> tuple:
    """Run a 60-segment transfer losing `lose`; with `scoreboard`, the sender keeps its SACK
    information there. Returns what went out, round by round, the recovery counters and
    how far SND.UNA got."""
    p, conn, peer = sending_scene(60, lose)
    sender = conn.sender
    if scoreboard is not None:
        sender.sack.scoreboard = scoreboard
    conn.app_did_write(p.scene.now)
    for number in range(80):
        if not peer.round(number):
            if sender.snd_una == sender.snd_max:
                break
            p.advance(sender.rto.rto)  # let a probe or the RTO fire
    counters = p.scene.harness.stack.counters
    names = ("tcp.tx.retransmits", "tcp.tx.sack_retransmits", "tcp.tx.sack_rescue",
             "tcp.tx.lost_retransmit", "tcp.tx.timeout", "tcp.tx.tail_loss_probe")
    return peer.log, {name: counters[name] for name in names}, sender.snd_una - peer.base


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.integers(0, 59), st.integers(1, 2), max_size=25))
def test_the_sender_sends_the_same_segments_as_with_the_plain_rfc_6675_scoreboard(lose):
    # The incremental scoreboard (sack.py) against the one that rescans everything
    # (reference_scoreboard.py): the same segments, in the same order and rounds.
    assert transfer_log(lose, None) == transfer_log(lose, ReferenceScoreboard())
