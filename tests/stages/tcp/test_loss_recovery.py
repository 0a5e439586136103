"""Loss recovery without SACK: what happens after a timeout (go-back-N in slow start), and
the three things that let duplicate ACKs repair a loss where three of them would not come or
would not be believed: Limited Transmit (RFC 3042), Early Retransmit (RFC 5827) and
NewReno's ACK heuristic (RFC 6582 §4.1).

The stack sends full segments of MSS bytes; segment i starts at `s.peer_ack + i * MSS`. The
peer acknowledges with `ack_segments(s, n)` (everything before segment n) and repeats an ACK
to make a duplicate one."""

from netstack.stages.tcp import TcpConfig
from netstack.wire.tcp import FLAG_ACK

from .states import Scene, established

ACK = FLAG_ACK
MSS = 1460


NO_PROBE = TcpConfig(tail_loss_probe=False)


def start(segments_written: int, segments_expected: int, config: TcpConfig = NO_PROBE,
          srtt: float | None = None) -> Scene:
    """An established connection that wrote `segments_written` full segments (Nagle off)
    and sent the first `segments_expected` of them, as cwnd allowed. These transcripts are
    about what follows a timeout, so by default the tail loss probe that would come first
    is off (test_tail_loss_probe.py shows it). `srtt` replaces the handshake's estimate."""
    s = established(config)
    if srtt is not None:
        s.conn.sender.rto.srtt = srtt
    s.conn.options.nodelay = True
    s.conn.write_app(b"".join(bytes([65 + i % 26]) * MSS for i in range(segments_written)))
    s.conn.app_did_write(s.now)
    for i in range(segments_expected):
        s.peer.expect(ACK, seq=s.peer_ack + i * MSS)
    s.peer.expect_nothing()
    return s


def seg(s: Scene, i: int) -> int:
    return s.peer_ack + i * MSS


def ack_segments(s: Scene, n: int) -> None:
    """The peer acknowledges everything before segment n (again, if it did already)."""
    s.peer.send(ACK, seq=s.peer_seq, ack=seg(s, n))


# --- after a retransmission timeout (RFC 6298 §5.4, RFC 5681 §3.1) -----------------------------


def test_go_back_n_is_paced_by_slow_start_and_skips_what_the_peer_has():
    s = start(6, 6)
    s.harness.advance(0.2)
    s.peer.expect(ACK, seq=seg(s, 0))  # the timeout: cwnd is one segment
    s.peer.expect_nothing()
    ack_segments(s, 3)  # the peer had segments 1 and 2: they are not sent again
    s.peer.expect(ACK, seq=seg(s, 3))  # slow start: cwnd is two segments now
    s.peer.expect(ACK, seq=seg(s, 4))
    s.peer.expect_nothing()
    ack_segments(s, 5)
    s.peer.expect(ACK, seq=seg(s, 5))
    s.peer.expect_nothing()
    ack_segments(s, 6)
    s.harness.advance(1.0)
    s.peer.expect_nothing()  # all acknowledged: no timer, nothing more
    s.harness.expect_counter("tcp.tx.timeout", 1)


def test_backoff_lasts_until_a_segment_sent_once_is_acknowledged():
    # RFC 6298 §5.5 doubles the RTO; Karn's rule (§3) takes no sample from a segment that
    # was retransmitted, so only new data brings the RTO back to the estimate.
    s = start(12, 10)
    rto = s.conn.sender.rto
    s.harness.advance(0.2)
    s.peer.expect(ACK, seq=seg(s, 0))
    assert rto.rto == 0.4
    ack_segments(s, 10)  # the retransmission filled the only hole: no sample from it
    assert rto.rto == 0.4
    s.peer.expect(ACK, seq=seg(s, 10))  # new data, timed
    s.peer.expect(ACK, seq=seg(s, 11))
    s.harness.advance(0.01)
    ack_segments(s, 12)
    assert rto.rto == 0.2


# --- Limited Transmit (RFC 3042) -----------------------------------------------------------


def test_limited_transmit_sends_new_data_on_the_first_two_duplicate_acks():
    s = start(14, 10)  # the initial window: 10 segments
    cc = s.conn.sender.cc
    ack_segments(s, 0)  # segment 0 was lost; segment 1 arrived
    s.peer.expect(ACK, seq=seg(s, 10))  # one new segment beyond cwnd
    ack_segments(s, 0)
    s.peer.expect(ACK, seq=seg(s, 11))
    assert cc.cwnd == 10 * MSS and not cc.in_recovery  # cwnd itself did not change
    ack_segments(s, 0)
    s.peer.expect(ACK, seq=seg(s, 0))  # the third: fast retransmit
    # ssthresh is half of what was in flight, without what Limited Transmit sent
    # (RFC 5681 §3.2 step 2).
    assert cc.in_recovery and cc.ssthresh == 5 * MSS
    s.harness.expect_counter("tcp.tx.fast_retransmit", 1)


def test_limited_transmit_respects_the_peer_window():
    s = established()
    s.conn.options.nodelay = True
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, window=4 * MSS)
    s.conn.write_app(b"x" * 8 * MSS)
    s.conn.app_did_write(s.now)
    for i in range(4):
        s.peer.expect(ACK, seq=seg(s, i))
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, window=4 * MSS)
    s.peer.expect_nothing()  # no room in the window: no new data


# --- Early Retransmit (RFC 5827) -------------------------------------------------------------


def test_early_retransmit_when_three_duplicate_acks_cannot_come():
    s = start(3, 3)  # all the data there is: three segments
    cc = s.conn.sender.cc
    ack_segments(s, 0)  # segment 1 arrived, segment 0 did not
    s.peer.expect_nothing()
    ack_segments(s, 0)  # segment 2: ER_thresh = ceiling(3) - 1 = 2 duplicate ACKs
    s.peer.expect(ACK, seq=seg(s, 0))
    assert cc.in_recovery and cc.cwnd == cc.ssthresh + 2 * MSS
    s.harness.expect_counter("tcp.tx.fast_retransmit", 1)
    ack_segments(s, 3)
    assert not cc.in_recovery


def test_early_retransmit_waits_for_three_when_new_data_could_be_sent():
    s = start(3, 3)
    s.conn.sender.cc.cwnd = 3 * MSS  # as if cwnd were full: the next write waits
    s.conn.write_app(b"D" * MSS)
    s.conn.app_did_write(s.now)
    s.peer.expect_nothing()
    ack_segments(s, 0)
    s.peer.expect(ACK, seq=seg(s, 3))  # Limited Transmit, not an early retransmit
    ack_segments(s, 0)
    s.peer.expect_nothing()  # four segments out now: three duplicate ACKs are needed
    s.harness.expect_counter("tcp.tx.fast_retransmit", 0)
    ack_segments(s, 0)
    s.peer.expect(ACK, seq=seg(s, 0))


def test_one_segment_outstanding_never_retransmits_on_a_duplicate_ack():
    s = start(1, 1)
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack)
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack)
    s.peer.expect_nothing()


# --- fast retransmit after a timeout (RFC 6582 §3.2 step 2 and §4.1) --------------------------


def timeout_then_ack(s: Scene, acked: int) -> None:
    """The retransmission timer fires; the peer acknowledges up to segment `acked`."""
    s.harness.advance(0.2)
    s.peer.expect(ACK, seq=seg(s, 0))
    ack_segments(s, acked)


def test_after_a_timeout_a_small_ack_advance_lets_duplicate_acks_retransmit():
    s = start(10, 10)
    timeout_then_ack(s, 1)  # the cumulative ACK moved one segment: segment 1 is lost too
    s.peer.expect(ACK, seq=seg(s, 1))  # go-back-N, cwnd two segments
    s.peer.expect(ACK, seq=seg(s, 2))
    assert s.conn.sender.snd_una <= s.conn.sender.recover  # step 2 alone would refuse
    ack_segments(s, 1)  # the resent segment 1 was lost again; segment 2 arrived
    # Two segments are out and go-back-N has only old data next: Early Retransmit needs
    # one duplicate ACK, and the ACK heuristic believes it (the ACK advanced by 1 <= 4 MSS).
    s.peer.expect(ACK, seq=seg(s, 1))
    assert s.conn.sender.cc.in_recovery
    s.harness.expect_counter("tcp.tx.fast_retransmit", 1)


def test_after_a_timeout_a_large_ack_advance_keeps_duplicate_acks_from_retransmitting():
    s = start(10, 10)
    timeout_then_ack(s, 6)  # the peer held five segments past the hole
    s.peer.expect(ACK, seq=seg(s, 6))
    s.peer.expect(ACK, seq=seg(s, 7))
    # Duplicate ACKs now may be the peer's answers to segments it already had, sent again
    # by go-back-N: no fast retransmit on them (the retransmission timer still runs).
    for _ in range(3):
        ack_segments(s, 6)
    s.peer.expect_nothing()
    s.harness.expect_counter("tcp.tx.fast_retransmit", 0)
    s.harness.advance(0.4)
    s.peer.expect(ACK, seq=seg(s, 6))


def test_partial_ack_during_go_back_n_sends_the_hole_once():
    s = start(10, 10)
    timeout_then_ack(s, 1)
    s.peer.expect(ACK, seq=seg(s, 1))
    s.peer.expect(ACK, seq=seg(s, 2))
    ack_segments(s, 1)
    s.peer.expect(ACK, seq=seg(s, 1))  # the early retransmit of segment 1
    s.peer.expect(ACK, seq=seg(s, 3))  # the inflated cwnd lets go-back-N go on
    s.peer.expect_nothing()
    ack_segments(s, 4)  # a partial ACK exactly where go-back-N stands: segment 4 is next
    s.peer.expect(ACK, seq=seg(s, 4))  # NewReno's retransmission of the hole...
    s.peer.expect_nothing()  # ...which go-back-N counts as sent: not twice
    assert s.conn.sender.snd_nxt.value == seg(s, 5)
